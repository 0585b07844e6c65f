/**
 * The contract of a linear layer an adapter can sit on (peft's base layer): a Linear, or a quantized 4-bit
 * Linear4bit (QLoRA). Both declare `implements BaseLinear`, so the compiler checks every member; a layer is
 * recognised at run time by the brand below, which only an implementation carries (a renamed method is a
 * compile error, never a layer that silently stops being adaptable).
 */
import type * as tf from "@tensorflow/tfjs";
import type { Module } from "./module";

/** The brand of a BaseLinear implementation (a symbol: no other object has it by accident). */
export const BASE_LINEAR: unique symbol = Symbol("BaseLinear");

export interface BaseLinear extends Module {
  readonly [BASE_LINEAR]: true;
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** True when W is stored in 4 bits: merging into it re-quantizes (lossy). */
  readonly quantized: boolean;
  readonly bias: tf.Variable | null;
  forward(x: tf.Tensor): tf.Tensor;
  /** W (out, in) as float32 (dequantized for a 4-bit layer); the caller disposes it. */
  weightValue(): tf.Tensor2D;
  /** Replaces W (a 4-bit layer re-quantizes). */
  setWeightValue(w: tf.Tensor2D): void;
  /**
   * The same, reading `w` asynchronously: what a 4-bit layer needs on a GPU backend, which Node cannot read
   * synchronously (its quantization runs in JavaScript). Layers without it are set synchronously.
   */
  setWeightValueAsync?(w: tf.Tensor2D): Promise<void>;
}

/** True for a module that can carry an adapter (it implements BaseLinear). */
export function isBaseLinear(m: Module): m is BaseLinear {
  return BASE_LINEAR in m && (m as { [BASE_LINEAR]?: unknown })[BASE_LINEAR] === true;
}
