/**
 * VB-LoRA (huggingface/peft tuners/vblora): LoRA whose A and B are assembled from a small bank of vectors
 * shared by every adapted layer. Each length-b piece of A and B is a mixture of the bank's vectors, chosen
 * by trainable logits:
 *
 *   piece = Σ_{i ∈ top-k(logits)} softmax(top-k logits)_i · bank[i]
 *
 *   logits_A (r, in/b, h) → pieces (r, in/b, b) → A (r, in)
 *   logits_B (out/b, r, h) → pieces (out/b, r, b) → swap the last two axes → (out/b, b, r) → B (out, r)
 *   y = W x + b + B A dropout(x)          — no scaling factor
 *
 * The bank (h, b) starts U(−0.02, 0.02) and the logits N(0, 0.1²), so — unlike LoRA — a fresh VB-LoRA layer
 * is *not* a no-op. `in` and `out` must both be multiples of the vector length b.
 */
import * as tf from "@tensorflow/tfjs";
import { ModuleDict, ParameterDict } from "../../nn/module";
import { Dropout } from "../../nn/dropout";
import { linear, matMul } from "../../ops/matmul";
import { Rng, normalArray } from "../../util/random";
import { AdapterLayer, BaseLinear } from "../adapter-layer";

export interface VBLoraAdapterOptions {
  r: number;
  topk: number;
  dropout: number;
  initLogitsStd: number;
  /** The shared bank (h, b) of this adapter. */
  bank: tf.Variable;
  rng: Rng;
}

/**
 * The top-k mixture of bank vectors for each row of `logits` (..., h) → (..., b). Differentiable in the
 * logits (through the chosen values) and in the bank. A model loaded from a top-k-only file gets full logits
 * back first (topk-save.ts: log of the stored weights, −1e30 elsewhere), so the same function serves it.
 */
export function topkMixture(logits: tf.Tensor, bank: tf.Tensor, k: number): tf.Tensor {
  return tf.tidy(() => {
    const h = logits.shape[logits.rank - 1] as number;
    const { values, indices } = tf.topk(logits, k); // values are differentiable (gradient in ops/gradients.ts)
    const onehot = tf.reshape(tf.oneHot(tf.reshape(indices, [-1]) as tf.Tensor1D, h), [...indices.shape, h]); // (..., k, h)
    const weights = tf.softmax(values);
    const mixture = tf.sum(tf.mul(tf.expandDims(weights, -1), onehot), -2); // (..., h): sparse weights over the bank
    const flat = tf.reshape(mixture, [-1, h]);
    const pieces = matMul(flat, bank); // (N, b)
    return tf.reshape(pieces, [...logits.shape.slice(0, -1), bank.shape[1] as number]);
  });
}

export class VBLoraLayer extends AdapterLayer {
  /** The bank is shared by every layer: PeftModel holds it (base_model.vblora_vector_bank). */
  readonly adapterLayerNames = ["vblora_logits_A", "vblora_logits_B"] as const;
  private readonly banks = new Map<string, tf.Variable>();
  private readonly topks = new Map<string, number>();

  constructor(base: BaseLinear) {
    super(base);
    this.addModule("vblora_logits_A", new ParameterDict());
    this.addModule("vblora_logits_B", new ParameterDict());
    this.addModule("vblora_dropout", new ModuleDict());
  }

  private logits(which: "A" | "B"): ParameterDict {
    return this.getSubmodule(`vblora_logits_${which}`, ParameterDict);
  }

  adapterNames(): string[] {
    return [...this.banks.keys()];
  }

  addAdapter(name: string, moduleName: string, o: VBLoraAdapterOptions): void {
    if (this.hasAdapter(name)) throw new Error(`adapter "${name}" already exists in this layer`);
    const [h, b] = o.bank.shape;
    checkDivisible(moduleName, this.inFeatures, this.outFeatures, b);
    const { inFeatures, outFeatures } = this;
    this.logits("A").set(name, tf.tensor3d(normalArray(o.rng, o.r * (inFeatures / b) * h, o.initLogitsStd), [o.r, inFeatures / b, h]));
    this.logits("B").set(name, tf.tensor3d(normalArray(o.rng, (outFeatures / b) * o.r * h, o.initLogitsStd), [outFeatures / b, o.r, h]));
    this.getSubmodule("vblora_dropout", ModuleDict).add(name, new Dropout(o.dropout, o.rng.fork()));
    this.banks.set(name, o.bank);
    this.topks.set(name, o.topk);
  }

  deleteAdapter(name: string): void {
    this.logits("A").removeParameter(name);
    this.logits("B").removeParameter(name);
    this.getSubmodule("vblora_dropout", ModuleDict).remove(name);
    this.banks.delete(name);
    this.topks.delete(name);
  }

  /** A (r, in) and B (out, r) assembled from the bank. */
  loraMatrices(name: string): { A: tf.Tensor2D; B: tf.Tensor2D } {
    const bank = this.banks.get(name) as tf.Variable;
    const k = this.topks.get(name) as number;
    const logitsA = this.logits("A").param(name);
    const logitsB = this.logits("B").param(name);
    const r = logitsA.shape[0];
    const A = tf.reshape(topkMixture(logitsA, bank, k), [r, this.inFeatures]) as tf.Tensor2D;
    const piecesB = topkMixture(logitsB, bank, k); // (out/b, r, b)
    const B = tf.reshape(tf.transpose(piecesB, [0, 2, 1]), [this.outFeatures, r]) as tf.Tensor2D;
    return { A, B };
  }

  deltaWeight(name: string): tf.Tensor2D {
    return tf.tidy(() => {
      const { A, B } = this.loraMatrices(name);
      return tf.matMul(B, A) as tf.Tensor2D;
    });
  }

  protected adapterOutput(x: tf.Tensor, name: string): tf.Tensor {
    const { A, B } = this.loraMatrices(name);
    const xd = this.getSubmodule(`vblora_dropout.${name}`, Dropout).forward(x);
    return linear(linear(xd, A), B);
  }

  /** Logit parameters one (in, out) layer adds (the bank is counted once per model). */
  static parameterCount(inFeatures: number, outFeatures: number, r: number, numVectors: number, vectorLength: number): number {
    return r * (inFeatures / vectorLength) * numVectors + (outFeatures / vectorLength) * r * numVectors;
  }
}

/** VB-LoRA needs in and out to be multiples of the vector length; say which lengths would work. */
export function checkDivisible(moduleName: string, inFeatures: number, outFeatures: number, vectorLength: number): void {
  if (inFeatures % vectorLength === 0 && outFeatures % vectorLength === 0) return;
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  const g = gcd(inFeatures, outFeatures);
  const divisors = Array.from({ length: g }, (_, i) => i + 1).filter((d) => g % d === 0 && d >= 4);
  throw new Error(
    `VB-LoRA: module "${moduleName}" is ${inFeatures} → ${outFeatures}, which vectorLength ${vectorLength} does not divide ` +
      `(both widths must be multiples of it). Vector lengths that fit: ${divisors.slice(-6).join(", ")}.`,
  );
}
