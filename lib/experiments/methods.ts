/**
 * The methods a comparison runs, by the names the CLI and the notebooks use, each with defaults that suit
 * the shipped model (hidden size 128, MLP 512): adapters go into every linear layer of the encoder, and the
 * new head (pooler + classifier) trains fully — so every method is "head-only + its adapters", and the
 * head-only baseline is the common floor.
 */
import { BertForSequenceClassification } from "../models/bert";
import { loraConfig, vbloraConfig, waveftConfig } from "../peft/builtin-methods";
import { quantizeLinears, QLORA_QUANTIZATION } from "../peft/qlora";
import { getPeftModel, PeftConfig, PeftModel } from "../peft/peft-model";
import type { Classifier } from "../train/finetune";

export const METHODS = ["full", "head", "lora", "dora", "vblora", "waveft", "qlora"] as const;
export type MethodName = (typeof METHODS)[number];

/** Each method's default learning rate (AdamW, linear decay after a 10 % warm-up). */
export const DEFAULT_LR: Record<MethodName, number> = { full: 2e-4, head: 3e-3, lora: 2e-3, dora: 2e-3, vblora: 1e-2, waveft: 1e-3, qlora: 2e-3 };

/**
 * Named variants: a method with other options, for comparisons at a matched budget. A variant is used
 * wherever a method name is (`prepareMethod("waveft-matched", …)`, `--methods lora,waveft-matched`).
 */
export const VARIANTS: Record<string, { method: MethodName; options: MethodOptions; why: string }> = {
  "waveft-matched": {
    method: "waveft",
    options: { nFrequency: 3072 },
    why: "n = 3,072 per layer: 12 × 3,072 = 36,864 trainable coefficients, exactly LoRA r = 8's adapter parameters",
  },
};

/** Options a user may set from the CLI; anything unset takes the method's default. */
export interface MethodOptions {
  r?: number;
  alpha?: number;
  dropout?: number;
  lr?: number;
  targetModules?: string[] | string;
  /** WaveFT: coefficients per layer, scaling, wavelet */
  nFrequency?: number;
  scaling?: number;
  wavelet?: string;
  /** VB-LoRA */
  numVectors?: number;
  vectorLength?: number;
  topk?: number;
}

/** Every linear layer of the encoder (not the pooler, which belongs to the head). */
export const ENCODER_LINEARS =
  "bert\\.encoder\\.layer\\.\\d+\\.(attention\\.self\\.(query|key|value)|attention\\.output\\.dense|intermediate\\.dense|output\\.dense)";
/**
 * The head, saved whole beside the adapter (peft's `modules_to_save`). The pooler is named by its Linear,
 * "bert.pooler.dense" (its only weights; the tanh has none): peft's `merge_and_unload()` can only put back a
 * modules_to_save copy that has a `weight`, and fails with "'BertPooler' object has no attribute 'weight'" on
 * "bert.pooler". The saved keys (`base_model.model.bert.pooler.dense.weight`, …) are the same either way.
 */
export const HEAD_MODULES = ["classifier", "bert.pooler.dense"];

export interface PreparedMethod {
  model: Classifier;
  /** The adapter config (null for full and head-only). */
  config: PeftConfig | null;
  peft: PeftModel<BertForSequenceClassification> | null;
  lr: number;
  lrScale?: (name: string) => number;
  describe: string;
}

/** Freezes everything but the new head (pooler + classifier): the head-only baseline. */
export function freezeAllButHead(model: BertForSequenceClassification): void {
  model.setTrainable(false);
  for (const [n, p] of model.namedParameters()) if (HEAD_MODULES.some((h) => n.startsWith(`${h}.`))) p.trainable = true;
}

function isMethod(name: string): name is MethodName {
  return (METHODS as readonly string[]).includes(name);
}

/**
 * Sized variants by name, for sweeps: `lora-r4`, `dora-r16`, `qlora-r2` (rank r, α = 2r, so α/r stays 2) and
 * `waveft-n256` (n coefficients per layer). Null when `name` is not of that form.
 */
export function sizedVariant(name: string): { method: MethodName; options: MethodOptions } | null {
  const rank = /^(lora|dora|qlora)-r([1-9]\d*)$/.exec(name);
  if (rank) return { method: rank[1] as MethodName, options: { r: Number(rank[2]) } };
  const n = /^waveft-n([1-9]\d*)$/.exec(name);
  if (n) return { method: "waveft", options: { nFrequency: Number(n[1]) } };
  return null;
}

/** The method a name (a method, a named variant or a sized variant) trains with, and its default learning rate. */
export function resolveMethod(name: string): { method: MethodName; options: MethodOptions; lr: number } {
  const variant = VARIANTS[name] ?? sizedVariant(name);
  if (variant) return { method: variant.method, options: variant.options, lr: variant.options.lr ?? DEFAULT_LR[variant.method] };
  if (!isMethod(name))
    throw new Error(
      `unknown method "${name}"; choose one of: ${[...METHODS, ...Object.keys(VARIANTS)].join(", ")}, or a sized variant (lora-r4, dora-r16, qlora-r2, waveft-n256)`,
    );
  return { method: name, options: {}, lr: DEFAULT_LR[name] };
}

/** Makes `model` ready to train with `method` (freezing, injecting adapters) and returns what to train. */
export function prepareMethod(name: string, model: BertForSequenceClassification, options: MethodOptions = {}, seed = 0): PreparedMethod {
  const { method, options: variantOptions } = resolveMethod(name);
  const o: MethodOptions = { ...options, ...variantOptions, ...(options.lr !== undefined ? { lr: options.lr } : {}) };
  const targetModules = o.targetModules ?? ENCODER_LINEARS;
  const common = { targetModules, modulesToSave: HEAD_MODULES, taskType: "SEQ_CLS" as const };
  const where = o.targetModules === undefined ? "every encoder linear" : `targets ${JSON.stringify(o.targetModules)}`;
  /** The adapters of `config` injected into the model, trained at `lr` (each parameter's lr times lrScale(name)). */
  const adapted = (config: PeftConfig, lr: number, describe: string, lrScale?: (name: string) => number): PreparedMethod => {
    const peft = getPeftModel(model, config, { seed });
    return { model: peft, config, peft, lr, describe, ...(lrScale ? { lrScale } : {}) };
  };
  switch (method) {
    case "full":
      model.setTrainable(true);
      return { model, config: null, peft: null, lr: o.lr ?? DEFAULT_LR.full, describe: "full fine-tuning: every weight trains" };
    case "head":
      freezeAllButHead(model);
      return { model, config: null, peft: null, lr: o.lr ?? DEFAULT_LR.head, describe: "head only: pooler + classifier train, the encoder is frozen" };
    case "lora":
    case "dora": {
      const r = o.r ?? 8;
      const config = loraConfig({ ...common, r, loraAlpha: o.alpha ?? 2 * r, loraDropout: o.dropout ?? 0, useDora: method === "dora" });
      return adapted(config, o.lr ?? DEFAULT_LR[method], `${method === "dora" ? "DoRA" : "LoRA"} r=${r} α=${config.loraAlpha} on ${where}`);
    }
    case "vblora": {
      const config = vbloraConfig({
        ...common,
        r: o.r ?? 4,
        numVectors: o.numVectors ?? 64,
        vectorLength: o.vectorLength ?? 64,
        topk: o.topk ?? 2,
        vbloraDropout: o.dropout ?? 0,
      });
      // peft's recommendation: the bank learns ~10x slower than the logits
      const lrScale = (n: string) => (n.includes("vblora_vector_bank") ? 0.1 : n.includes("vblora_logits") ? 1 : 0.2);
      return adapted(config, o.lr ?? DEFAULT_LR.vblora, `VB-LoRA r=${config.r}, bank ${config.numVectors}×${config.vectorLength}, top-${config.topk}`, lrScale);
    }
    case "waveft": {
      const config = waveftConfig({ ...common, nFrequency: o.nFrequency ?? 2048, scaling: o.scaling ?? 25, waveletFamily: o.wavelet ?? "db1" });
      return adapted(config, o.lr ?? DEFAULT_LR.waveft, `WaveFT n=${config.nFrequency} per layer, ${config.waveletFamily}, scaling ${config.scaling}`);
    }
    case "qlora": {
      const report = quantizeLinears(model, targetModules, QLORA_QUANTIZATION);
      const r = o.r ?? 8;
      const config = loraConfig({ ...common, r, loraAlpha: o.alpha ?? 2 * r, loraDropout: o.dropout ?? 0.1 });
      const bits = `${report.bitsPerParameter.toFixed(3)} bits/weight, ${(report.quantizedWeightBytes / 1e3).toFixed(0)} kB vs ${(report.fp32WeightBytes / 1e3).toFixed(0)} kB fp32`;
      return adapted(config, o.lr ?? DEFAULT_LR.qlora, `QLoRA: NF4 + double quantization (${bits}), LoRA r=${r}`);
    }
  }
}
