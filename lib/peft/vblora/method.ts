/** VB-LoRA as a registered PEFT method (see ../registry.ts): a bank shared by all layers, top-k saving. */
import * as tf from "@tensorflow/tfjs";
import type { TensorEntry, TensorInput } from "../../io/safetensors";
import { uniformArray } from "../../util/random";
import { configFromJson } from "../config";
import { vbloraConfig, VBLoRAConfig } from "./config";
import type { PeftMethod } from "../registry";

declare module "../registry" {
  interface PeftConfigs {
    VBLORA: VBLoRAConfig;
  }
}
import { checkDivisible, VBLoraLayer } from "./layer";
import { fromTopk, indexDType, toTopk } from "./topk-save";

/** Turns VB-LoRA top-k entries (…_topk_indices, …_topk_weights) back into full logits. */
function expandTopk(config: VBLoRAConfig, stored: Map<string, TensorEntry>): Map<string, TensorEntry> {
  if (![...stored.keys()].some((k) => k.endsWith("_topk_indices"))) return stored;
  const out = new Map<string, TensorEntry>();
  for (const [key, entry] of stored) {
    if (key.endsWith("_topk_weights")) continue;
    if (!key.endsWith("_topk_indices")) {
      out.set(key, entry);
      continue;
    }
    const base = key.slice(0, -"_topk_indices".length);
    const weights = stored.get(`${base}_topk_weights`);
    if (!weights) throw new Error(`top-k VB-LoRA file: "${key}" has no matching "${base}_topk_weights"`);
    const k = entry.shape[entry.shape.length - 1];
    const data = fromTopk(entry.data as ArrayLike<number>, weights.data as ArrayLike<number>, config.numVectors, k);
    out.set(base, { dtype: "F32", shape: [...entry.shape.slice(0, -1), config.numVectors], data });
  }
  return out;
}

export const vbloraMethod: PeftMethod<VBLoRAConfig, VBLoraLayer> = {
  peftType: "VBLORA",
  fromJson: (json) => vbloraConfig(configFromJson(json, vbloraConfig())),
  conformance: {
    examples: [
      { r: 2, num_vectors: 6, vector_length: 4, topk: 2 },
      { r: 2, num_vectors: 6, vector_length: 4, topk: 2, save_only_topk_weights: true },
    ],
    identityAtInit: false,
  },
  shared: {
    name: "vblora_vector_bank",
    init: (config, rng) =>
      tf.tensor2d(uniformArray(rng, config.numVectors * config.vectorLength, -config.initVectorBankBound, config.initVectorBankBound), [
        config.numVectors,
        config.vectorLength,
      ]),
    size: (config) => config.numVectors * config.vectorLength,
  },
  createLayer: (base) => new VBLoraLayer(base),
  isLayer: (layer): layer is VBLoraLayer => layer instanceof VBLoraLayer,
  addAdapter(l, config, ctx) {
    const { moduleName, adapterName, rng, shared } = ctx;
    if (!shared) throw new Error("VB-LoRA: the vector bank is missing");
    l.addAdapter(adapterName, moduleName, {
      r: config.r,
      topk: config.topk,
      dropout: config.vbloraDropout,
      initLogitsStd: config.initLogitsStd,
      bank: shared,
      rng,
    });
  },
  countParameters(config, t) {
    checkDivisible(t.name, t.inFeatures, t.outFeatures, config.vectorLength);
    return VBLoraLayer.parameterCount(t.inFeatures, t.outFeatures, config.r, config.numVectors, config.vectorLength);
  },
  saveEntries(config, key, shape, data) {
    if (!config.saveOnlyTopkWeights || !/\.vblora_logits_[AB]$/.test(key)) return null;
    const { indices, weights } = toTopk(data, config.numVectors, config.topk);
    const lead = shape.slice(0, -1);
    return new Map<string, TensorInput>([
      [`${key}_topk_indices`, { dtype: indexDType(config.numVectors), shape: [...lead, config.topk], data: indices }],
      [`${key}_topk_weights`, { shape: [...lead, config.topk - 1], data: weights }],
    ]);
  },
  loadEntries: expandTopk,
};
