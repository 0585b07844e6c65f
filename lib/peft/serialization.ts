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
import { configToJson } from "./config";
import { PeftConfig, PeftModel, WrappableModel } from "./peft-model";
import { peftMethod, registeredPeftTypes } from "./registry";
import { registerBuiltinMethods } from "./builtin-methods";

registerBuiltinMethods();

/**
 * The tensors `save` writes for one adapter: saved key → parameter. Each adapter layer lists its own tensors
 * (`adapterParameters`), so an adapter named like a module ("dense") cannot pull a base weight in:
 * "lora_A.default.weight" in the layer at "bert.…query" → "base_model.model.bert.…query.lora_A.weight",
 * renamed where the method's peft does (`savedKey`: DoRA's magnitude has no ".weight"); a shared tensor
 * (VB-LoRA's bank) as "base_model.<name>"; the modulesToSave (the head) whole.
 */
export function adapterStateDict(model: PeftModel, adapterName = model.activeAdapter): Map<string, tf.Variable> {
  const config = model.peftConfig[adapterName];
  if (!config) throw new Error(`no adapter "${adapterName}"`);
  const method = peftMethod(config.peftType);
  const out = new Map<string, tf.Variable>();
  for (const [moduleName, layer] of model.adapterLayers()) {
    for (const [name, p] of layer.adapterParameters(adapterName)) {
      const member = name.slice(0, name.indexOf("."));
      const key = `base_model.model.${moduleName}.${member}${name.slice(member.length + 1 + adapterName.length)}`;
      out.set(method.savedKey?.(key, member) ?? key, p);
    }
  }
  for (const [key, p] of model.sharedParameters(adapterName)) out.set(key, p);
  for (const [name, p] of model.headParameters(config)) {
    if (!name.includes(".base_layer.")) out.set(`base_model.model.${name}`, p);
  }
  return out;
}

/**
 * Writes the adapter folder; refuses to overwrite existing adapter files unless `overwrite`. Asynchronous:
 * the tensors are read with `await data()`, which every backend supports (a GPU backend in Node has no
 * synchronous reads).
 */
export async function savePretrained(
  model: PeftModel,
  dir: string,
  opts: { adapterName?: string; overwrite?: boolean } = {},
): Promise<{ files: string[]; bytes: number }> {
  const adapterName = opts.adapterName ?? model.activeAdapter;
  const config = model.peftConfig[adapterName];
  const files = [path.join(dir, "adapter_config.json"), path.join(dir, "adapter_model.safetensors")];
  const existing = files.filter((f) => fs.existsSync(f));
  if (existing.length && !opts.overwrite)
    throw new Error(`${dir} already holds ${existing.map((f) => path.basename(f)).join(" and ")}; pass overwrite: true (CLI: --overwrite) to replace them`);
  fs.mkdirSync(dir, { recursive: true });
  const tensors = new Map<string, TensorInput>();
  const method = peftMethod(config.peftType);
  for (const [key, p] of adapterStateDict(model, adapterName)) {
    const data = (await p.data()) as Float32Array;
    const special = method.saveEntries?.(config, key, p.shape, data);
    if (special) for (const [k, v] of special) tensors.set(k, v);
    else tensors.set(key, { shape: p.shape, data });
  }
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
  if (typeof json.peft_type !== "string" || !registeredPeftTypes().includes(json.peft_type)) {
    throw new Error(`${file}: peft_type ${JSON.stringify(json.peft_type)} is not supported here (supported: ${registeredPeftTypes().join(", ")})`);
  }
  return peftMethod(json.peft_type).fromJson(json) as PeftConfig;
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
  const config = model.peftConfig[adapterName];
  const raw = readSafetensors(file).tensors;
  const stored = peftMethod(config.peftType).loadEntries?.(config, raw) ?? raw;
  const expected = adapterStateDict(model, adapterName);
  const normalise = (k: string) => k.replace(/\.modules_to_save\.(?:[^.]+\.)?/, "."); // older peft kept the wrapper's name
  const byKey = new Map([...stored].map(([k, v]) => [normalise(k), v]));
  const unexpected = [...byKey.keys()].filter((k) => !expected.has(k));
  if (unexpected.length)
    throw new Error(
      `${file}: unexpected tensor ${JSON.stringify(unexpected[0])}${unexpected.length > 1 ? ` (and ${unexpected.length - 1} more)` : ""}; this model expects keys like ${JSON.stringify([...expected.keys()][0])}`,
    );
  for (const [key, p] of expected) {
    const entry = byKey.get(key);
    if (!entry) throw new Error(`${file}: tensor ${JSON.stringify(key)} is missing`);
    const bad = entry.data instanceof BigInt64Array ? -1 : Array.prototype.findIndex.call(entry.data, (v: number) => !Number.isFinite(v));
    if (bad >= 0) throw new Error(`${file}: tensor ${JSON.stringify(key)} holds a non-finite value at index ${bad}: the adapter is damaged`);
    if (!tf.util.arraysEqual(entry.shape, p.shape))
      throw new Error(`${file}: tensor ${JSON.stringify(key)} has shape [${entry.shape}] but the model expects [${p.shape}]`);
  }
  for (const [key, p] of expected) {
    const entry = byKey.get(key);
    tf.tidy(() => p.assign(tf.tensor(Float32Array.from(entry?.data as ArrayLike<number>), p.shape, "float32")));
  }
}
