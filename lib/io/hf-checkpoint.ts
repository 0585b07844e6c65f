/**
 * Hugging Face BERT checkpoint folders: `config.json`, `model.safetensors` (or sharded
 * `model.safetensors.index.json`), and `vocab.txt` / `tokenizer.json`.
 *
 * Loading follows `transformers`' `from_pretrained`: old names (`LayerNorm.gamma/beta`) are renamed, a bare
 * `BertModel` checkpoint gets the `bert.` prefix, the tied decoder (`cls.predictions.decoder.*`) is not a
 * separate weight, heads the file lacks (a new classifier) keep their fresh initialisation and are reported,
 * and any key the model does not have is listed — nothing is dropped silently.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { readSafetensors, readSafetensorsHeader, writeSafetensors, TensorInput, TensorEntry } from "./safetensors";
import { BertConfig, configFromHF, configToHF } from "../models/bert-config";
import { BertForMaskedLM, BertForSequenceClassification } from "../models/bert";
import { Module } from "../nn/module";
import { BertTokenizer } from "../tokenizer/bert-tokenizer";
import { Rng } from "../util/random";

export interface LoadReport {
  /** Parameters filled from the file. */
  loaded: string[];
  /** Parameters the file did not have (new heads): they keep their random initialisation. */
  newlyInitialised: string[];
  /** Keys in the file this model has no use for (e.g. `cls.seq_relationship.*` of BertForPreTraining). */
  unused: string[];
}

export interface Loaded<M> {
  model: M;
  config: BertConfig;
  tokenizer: BertTokenizer;
  report: LoadReport;
}

/** Keys that `transformers` ties to other weights and leaves out of saved files. */
const TIED_KEYS = ["cls.predictions.decoder.weight", "cls.predictions.decoder.bias"];

function requireDir(dir: string): void {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    throw new Error(`checkpoint folder "${dir}" does not exist. Pass the folder that holds config.json and model.safetensors.`);
  }
}

export function readConfig(dir: string): BertConfig {
  requireDir(dir);
  const file = path.join(dir, "config.json");
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: a Hugging Face checkpoint folder needs config.json`);
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${file} is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  return configFromHF(json, file);
}

/** The safetensors files of a checkpoint (one, or the shards listed in the index). */
function weightFiles(dir: string): string[] {
  const single = path.join(dir, "model.safetensors");
  if (fs.existsSync(single)) return [single];
  const index = path.join(dir, "model.safetensors.index.json");
  if (fs.existsSync(index)) {
    const map = (JSON.parse(fs.readFileSync(index, "utf8")) as { weight_map: Record<string, string> }).weight_map;
    return [...new Set(Object.values(map))].map((f) => path.join(dir, f));
  }
  if (fs.existsSync(path.join(dir, "pytorch_model.bin"))) {
    throw new Error(
      `${dir} has only pytorch_model.bin (a Python pickle, which cannot be read safely outside Python). Convert it once with:\n` +
        `  python -c "from transformers import AutoModel as M; m = M.from_pretrained('${dir}'); m.save_pretrained('${dir}', safe_serialization=True)"\n` +
        `or download the model.safetensors file of the same model.`,
    );
  }
  throw new Error(`${dir} has no model.safetensors (nor model.safetensors.index.json)`);
}

/** Renames a key of a Hugging Face file to this kit's (and current transformers') naming. */
function normaliseKey(key: string): string {
  return key.replace(/LayerNorm\.gamma$/, "LayerNorm.weight").replace(/LayerNorm\.beta$/, "LayerNorm.bias");
}

/** Every tensor of the checkpoint as float32 values, keyed by normalised name. */
export function readCheckpointTensors(dir: string): Map<string, TensorEntry> {
  const out = new Map<string, TensorEntry>();
  for (const file of weightFiles(dir)) {
    for (const [key, entry] of readSafetensors(file).tensors) out.set(normaliseKey(key), entry);
  }
  return out;
}

/** Names and shapes only (reads the headers, not the weights). */
export function listCheckpointTensors(dir: string): Array<{ name: string; shape: number[]; dtype: string }> {
  requireDir(dir);
  return weightFiles(dir).flatMap((f) => [...readSafetensorsHeader(f).tensors].map(([name, t]) => ({ name, shape: t.shape, dtype: t.dtype })));
}

/** Loads the file's tensors into `model` by name, with the renames and checks described above. */
export function loadWeightsInto(model: Module, dir: string): LoadReport {
  const file = readCheckpointTensors(dir);
  const own = new Map(model.namedParameters());
  const hasPrefix = [...file.keys()].some((k) => k.startsWith("bert."));
  const state = new Map<string, tf.Tensor>();
  const unused: string[] = [];
  for (const [key, entry] of file) {
    let name = !hasPrefix && own.has(`bert.${key}`) ? `bert.${key}` : key;
    if (name === "cls.predictions.decoder.bias" && !file.has("cls.predictions.bias")) name = "cls.predictions.bias";
    if (!own.has(name)) {
      if (!TIED_KEYS.includes(name)) unused.push(key);
      continue;
    }
    if (entry.data instanceof BigInt64Array) throw new Error(`${dir}: tensor "${key}" has integer dtype ${entry.dtype}; weights must be floating point`);
    const values = Float32Array.from(entry.data as ArrayLike<number>);
    const bad = values.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) {
      tf.dispose([...state.values()]);
      throw new Error(`${dir}: tensor "${key}" holds ${values[bad]} at index ${bad}: the checkpoint is damaged (weights must be finite numbers)`);
    }
    state.set(name, tf.tensor(values, entry.shape, "float32"));
  }
  try {
    model.loadStateDict(state, { strict: false });
  } finally {
    tf.dispose([...state.values()]);
  }
  const newlyInitialised = [...own.keys()].filter((k) => !state.has(k));
  if (state.size === 0) {
    throw new Error(
      `${dir}: none of the file's ${file.size} tensors match this model's parameter names (e.g. "${[...own.keys()][0]}"); is this a BERT checkpoint?`,
    );
  }
  return { loaded: [...state.keys()], newlyInitialised, unused };
}

/** Loads a masked-language model (every weight must be in the file). */
export function loadBertForMaskedLM(dir: string): Loaded<BertForMaskedLM> {
  const config = readConfig(dir);
  const model = new BertForMaskedLM(config);
  const report = loadWeightsInto(model, dir);
  if (report.newlyInitialised.length) {
    model.dispose();
    throw new Error(
      `${dir}: the checkpoint lacks ${report.newlyInitialised.length} weights a masked LM needs: ${report.newlyInitialised.slice(0, 8).join(", ")}`,
    );
  }
  return { model: model.eval(), config, tokenizer: BertTokenizer.fromFolder(dir), report };
}

/**
 * Loads an encoder and puts a classifier on top. From a pre-trained (masked-LM) checkpoint the pooler and
 * classifier are new (reported in `report.newlyInitialised`, as transformers warns); from a fine-tuned
 * classification checkpoint everything loads.
 */
export function loadBertForSequenceClassification(dir: string, opts: { labels?: string[]; seed?: number } = {}): Loaded<BertForSequenceClassification> {
  const base = readConfig(dir);
  const labels = opts.labels ?? base.labels;
  if (!labels || labels.length < 2) throw new Error(`${dir}: say which labels the classifier predicts (opts.labels), e.g. ["ham", "spam"]`);
  const config: BertConfig = { ...base, labels };
  const model = new BertForSequenceClassification(config, { numLabels: labels.length, rng: new Rng(opts.seed ?? 42) });
  const report = loadWeightsInto(model, dir);
  const unexpectedNew = report.newlyInitialised.filter((n) => !n.startsWith("classifier.") && !n.startsWith("bert.pooler."));
  if (unexpectedNew.length) {
    model.dispose();
    throw new Error(`${dir}: the checkpoint lacks encoder weights: ${unexpectedNew.slice(0, 8).join(", ")}`);
  }
  return { model: model.eval(), config, tokenizer: BertTokenizer.fromFolder(dir), report };
}

/**
 * Writes `model` as a Hugging Face checkpoint folder (config.json, model.safetensors and, when given, the
 * tokenizer files) that `transformers`' `from_pretrained` loads. Refuses to overwrite existing files unless
 * `overwrite` is set.
 */
export async function saveBertCheckpoint(
  model: BertForMaskedLM | BertForSequenceClassification,
  dir: string,
  opts: { tokenizer?: BertTokenizer; overwrite?: boolean; metadata?: Record<string, string> } = {},
): Promise<string[]> {
  const architecture = model instanceof BertForMaskedLM ? BertForMaskedLM.architecture : BertForSequenceClassification.architecture;
  const files = [path.join(dir, "config.json"), path.join(dir, "model.safetensors")];
  const existing = files.filter((f) => fs.existsSync(f));
  if (existing.length && !opts.overwrite) {
    throw new Error(`${dir} already holds ${existing.map((f) => path.basename(f)).join(" and ")}; pass overwrite: true (CLI: --overwrite) to replace them`);
  }
  fs.mkdirSync(dir, { recursive: true });
  const tensors = new Map<string, TensorInput>();
  for (const [name, p] of model.namedParameters()) tensors.set(name, { shape: p.shape, data: (await p.data()) as Float32Array }); // asynchronous: any backend
  writeSafetensors(files[1], tensors, { format: "pt", ...opts.metadata });
  fs.writeFileSync(files[0], JSON.stringify(configToHF(model.config, architecture), null, 2) + "\n");
  if (opts.tokenizer) opts.tokenizer.save(dir);
  return files;
}
