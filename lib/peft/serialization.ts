/**
 * Adapters on disk in huggingface/peft's layout, so Python's `PeftModel.from_pretrained` loads what this kit
 * writes and this kit loads what peft writes:
 *
 *   <dir>/adapter_config.json        the config, snake_case keys, sorted, with "peft_type"
 *   <dir>/adapter_model.safetensors  metadata {"format": "pt"}; keys without the adapter name:
 *       base_model.model.<module>.lora_A.weight          (r, in)
 *       base_model.model.<module>.lora_B.weight          (out, r)
 *       base_model.model.<module>.lora_magnitude_vector  (out,)   DoRA, no ".weight"
 *       base_model.model.<head>.weight                   modulesToSave (e.g. the classifier)
 *
 * peft loads with strict=False and only warns about unknown keys; here a wrong name or shape is an error.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { readSafetensors, writeSafetensors, TensorInput } from "../io/safetensors";
import { configFromJson, configToJson, loraConfig } from "./config";
import { PeftConfig, PeftModel, WrappableModel } from "./peft-model";

const ADAPTER_PARTS = ["lora_A", "lora_B", "lora_magnitude_vector"];

/** Internal parameter name → the key peft saves (adapter name removed), or null if not this adapter's. */
export function savedKey(name: string, adapterName: string): string | null {
  for (const part of ADAPTER_PARTS) {
    const tag = `.${part}.${adapterName}.`;
    const i = name.indexOf(tag);
    if (i >= 0) {
      const key = `${name.slice(0, i)}.${part}.${name.slice(i + tag.length)}`;
      return part === "lora_magnitude_vector" ? key.replace(/\.weight$/, "") : key;
    }
  }
  return null;
}

/** The tensors `save` writes for one adapter: saved key → internal parameter. */
export function adapterStateDict(model: PeftModel, adapterName = model.activeAdapter): Map<string, tf.Variable> {
  const config = model.peftConfig[adapterName];
  if (!config) throw new Error(`no adapter "${adapterName}"`);
  const out = new Map<string, tf.Variable>();
  const heads = config.modulesToSave ?? [];
  for (const [name, p] of model.namedParameters()) {
    const key = savedKey(name, adapterName);
    if (key) out.set(key, p);
    else if (heads.length && !name.includes(".base_layer.") && heads.some((h) => name.startsWith(`base_model.model.${h}.`) || name.includes(`.${h}.`))) out.set(name, p);
  }
  return out;
}

/** Writes the adapter folder; refuses to overwrite existing adapter files unless `overwrite`. */
export function savePretrained(model: PeftModel, dir: string, opts: { adapterName?: string; overwrite?: boolean } = {}): { files: string[]; bytes: number } {
  const adapterName = opts.adapterName ?? model.activeAdapter;
  const config = model.peftConfig[adapterName];
  const files = [path.join(dir, "adapter_config.json"), path.join(dir, "adapter_model.safetensors")];
  const existing = files.filter((f) => fs.existsSync(f));
  if (existing.length && !opts.overwrite) throw new Error(`${dir} already holds ${existing.map((f) => path.basename(f)).join(" and ")}; pass overwrite: true (CLI: --overwrite) to replace them`);
  fs.mkdirSync(dir, { recursive: true });
  const tensors = new Map<string, TensorInput>();
  for (const [key, p] of adapterStateDict(model, adapterName)) tensors.set(key, { shape: p.shape, data: p.dataSync() as Float32Array });
  writeSafetensors(files[1], tensors, { format: "pt" });
  const json = configToJson({ ...config, targetModules: config.targetModules, inferenceMode: true });
  fs.writeFileSync(files[0], JSON.stringify(json, null, 2) + "\n");
  return { files, bytes: fs.statSync(files[1]).size };
}

/** Reads a peft adapter_config.json into this kit's config type. */
export function readAdapterConfig(dir: string): PeftConfig {
  const file = path.join(dir, "adapter_config.json");
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: an adapter folder needs adapter_config.json and adapter_model.safetensors`);
  const json = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
  switch (json.peft_type) {
    case "LORA":
      return loraConfig(configFromJson(json, loraConfig()));
    default:
      throw new Error(`${file}: peft_type ${JSON.stringify(json.peft_type)} is not supported here (supported: LORA)`);
  }
}

/**
 * Loads an adapter folder onto `model` (a fresh base model): injects the adapter, then fills every adapter
 * tensor from the file. A missing key, an unexpected key or a wrong shape is an error naming the key.
 */
export function fromPretrained<M extends WrappableModel>(model: M, dir: string, opts: { adapterName?: string } = {}): PeftModel<M> {
  const config = readAdapterConfig(dir);
  const peft = new PeftModel(model, { ...config, inferenceMode: false }, opts.adapterName ?? "default");
  loadAdapterWeights(peft, dir, opts.adapterName ?? "default");
  return peft;
}

export function loadAdapterWeights(model: PeftModel, dir: string, adapterName: string): void {
  const file = path.join(dir, "adapter_model.safetensors");
  if (!fs.existsSync(file)) throw new Error(`${file} is missing`);
  const stored = readSafetensors(file).tensors;
  const expected = adapterStateDict(model, adapterName);
  const normalise = (k: string) => k.replace(/\.modules_to_save\.(?:[^.]+\.)?/, "."); // older peft kept the wrapper's name
  const byKey = new Map([...stored].map(([k, v]) => [normalise(k), v]));
  const unexpected = [...byKey.keys()].filter((k) => !expected.has(k));
  if (unexpected.length) throw new Error(`${file}: unexpected tensor ${JSON.stringify(unexpected[0])}${unexpected.length > 1 ? ` (and ${unexpected.length - 1} more)` : ""}; this model expects keys like ${JSON.stringify([...expected.keys()][0])}`);
  for (const [key, p] of expected) {
    const entry = byKey.get(key);
    if (!entry) throw new Error(`${file}: tensor ${JSON.stringify(key)} is missing`);
    if (!tf.util.arraysEqual(entry.shape, p.shape)) throw new Error(`${file}: tensor ${JSON.stringify(key)} has shape [${entry.shape}] but the model expects [${p.shape}]`);
  }
  for (const [key, p] of expected) {
    const entry = byKey.get(key);
    tf.tidy(() => p.assign(tf.tensor(Float32Array.from(entry?.data as ArrayLike<number>), p.shape, "float32")));
  }
}
