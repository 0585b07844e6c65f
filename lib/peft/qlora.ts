/**
 * QLoRA = a frozen base model stored in 4 bits (NF4 + double quantization, lib/quant) + LoRA adapters in
 * fp32 on top. `quantizeLinears` swaps the chosen Linear layers for Linear4bit ones (bitsandbytes'
 * `load_in_4bit`); getPeftModel then wraps those like any other linear layer. The forward pass
 * dequantizes each weight on the fly; gradients reach the adapters (and the activations), never the codes.
 */
import { Module } from "../nn/module";
import { Linear } from "../nn/linear";
import { Linear4bit, Linear4bitOptions } from "../quant/linear4bit";
import { findTargets } from "./targets";

export interface QuantizationReport {
  modules: string[];
  /** Bytes the quantized layers' weights take in fp32, and as stored now (codes + scales, no bias). */
  fp32WeightBytes: number;
  quantizedWeightBytes: number;
  /** Stored bits per weight, e.g. ≈ 4.127 for NF4 with double quantization. */
  bitsPerParameter: number;
}

/** The QLoRA paper's quantization: NF4, blocks of 64, double-quantized scales. */
export const QLORA_QUANTIZATION: Required<Linear4bitOptions> = { quantType: "nf4", blocksize: 64, doubleQuant: true };

/** Replaces every Linear matched by `target` (peft's matching rules) with a quantized Linear4bit. */
export function quantizeLinears(model: Module, target: string[] | string, opts: Linear4bitOptions = QLORA_QUANTIZATION): QuantizationReport {
  const names = findTargets(model, target, (m) => m instanceof Linear, "4-bit quantization");
  let fp32 = 0;
  let stored = 0;
  let weights = 0;
  for (const name of names) {
    const linear = model.getSubmodule(name, Linear);
    const q = Linear4bit.fromLinear(linear, opts);
    model.setSubmodule(name, q);
    linear.dispose();
    const bytes = q.storageBytes();
    stored += bytes.total - bytes.bias;
    fp32 += 4 * q.inFeatures * q.outFeatures;
    weights += q.inFeatures * q.outFeatures;
  }
  return { modules: names, fp32WeightBytes: fp32, quantizedWeightBytes: stored, bitsPerParameter: (8 * stored) / weights };
}
