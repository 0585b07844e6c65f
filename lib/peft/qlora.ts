/**
 * QLoRA = a frozen base model stored in 4 bits (NF4 + double quantization, lib/quant) + LoRA adapters in
 * fp32 on top. `quantizeLinears` swaps the chosen Linear layers for Linear4bit ones (bitsandbytes'
 * `load_in_4bit`); getPeftModel then wraps those like any other linear layer. The forward pass
 * dequantizes each weight on the fly; gradients reach the adapters (and the activations), never the codes.
 */
import * as tf from "@tensorflow/tfjs";
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

/**
 * Replaces every Linear matched by `target` (peft's matching rules) with a quantized Linear4bit. On webgpu the
 * weights must still be on the CPU (a model just loaded); `quantizeLinearsAsync` works in every case.
 */
export function quantizeLinears(model: Module, target: string[] | string, opts: Linear4bitOptions = QLORA_QUANTIZATION): QuantizationReport {
  const names = linearTargets(model, target);
  return swapIn(
    model,
    names.map((name) => [name, Linear4bit.fromLinear(model.getSubmodule(name, Linear), opts)]),
  );
}

/** quantizeLinears, reading the weights asynchronously: works on every backend (a GPU included) at any time. */
export async function quantizeLinearsAsync(
  model: Module,
  target: string[] | string,
  opts: Linear4bitOptions = QLORA_QUANTIZATION,
): Promise<QuantizationReport> {
  const names = linearTargets(model, target);
  const layers: Array<[string, Linear4bit]> = [];
  for (const name of names) {
    const linear = model.getSubmodule(name, Linear);
    layers.push([name, await Linear4bit.fromWeightAsync(linear.weight as tf.Tensor2D, linear.bias as tf.Tensor1D | null, opts)]);
  }
  return swapIn(model, layers);
}

/** The names of the Linear layers `target` matches (peft's rules; a clear error for a name that matches none). */
function linearTargets(model: Module, target: string[] | string): string[] {
  return findTargets(model, target, (m) => m instanceof Linear, "4-bit quantization");
}

/** Puts the quantized layers in place of the Linear ones (which are disposed) and reports the storage. */
function swapIn(model: Module, layers: Array<[string, Linear4bit]>): QuantizationReport {
  let fp32 = 0;
  let stored = 0;
  let weights = 0;
  for (const [name, q] of layers) {
    const linear = model.getSubmodule(name, Linear);
    model.setSubmodule(name, q);
    linear.dispose();
    const bytes = q.storageBytes();
    stored += bytes.total - bytes.bias;
    fp32 += 4 * q.inFeatures * q.outFeatures;
    weights += q.inFeatures * q.outFeatures;
  }
  return { modules: layers.map(([name]) => name), fp32WeightBytes: fp32, quantizedWeightBytes: stored, bitsPerParameter: (8 * stored) / weights };
}
