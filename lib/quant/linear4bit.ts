/**
 * A frozen, quantized linear layer (bitsandbytes' `Linear4bit`, the base layer under QLoRA's adapters).
 *
 * PyTorch convention: weight W (out, in), y = x·Wᵀ + b. The layer keeps ONLY
 *   - the packed codes (two 4-bit codes per byte for nf4/fp4, one byte per weight for int8),
 *   - the per-block scales (fp32, or double-quantized: 8-bit codes + fp32 second-level scales + offset),
 *   - the bias in fp32 (if any),
 * all in plain JavaScript typed arrays — none of it lives in the tensor backend between calls.
 *
 * `forward(x)` dequantizes W to fp32 on the fly, inside `tf.tidy`, so the fp32 weight exists only for the
 * duration of the product and is freed with it (QLoRA: "storage data type NF4, computation data type
 * BF16"; here the computation type is fp32). The product uses `linear` from ops/matmul.ts, whose gradient
 * is fast on wasm. The dequantized weight is a constant, so gradients flow to x (needed by the LoRA
 * adapters that sit on top and by the layers below) but never to the quantized weight.
 *
 * The bias is registered as a NON-trainable parameter named "bias": it keeps the name it has in
 * `nn.Linear` (so state dicts and checkpoints line up), it is counted by `numParameters()` and loaded by
 * `loadStateDict`, and `trainableParameters()` stays empty. (Calling `setTrainable(true)` on a whole
 * model would unfreeze it like any other frozen parameter; PEFT code freezes the base model anyway.)
 *
 * `requantize(w)` replaces the weight by the quantization of `w`. Merging an adapter into a 4-bit base
 * layer therefore is lossy: W ← Q(deq(Q(W)) + ΔW), and unmerging does not restore the original codes.
 * The quantization runs in JavaScript, so it reads `w`: synchronously in `requantize` (fails for a tensor a
 * GPU computed, which Node cannot read synchronously), asynchronously in `setWeightValueAsync` (every backend;
 * PeftModel's `mergeAsync` uses it).
 */
import * as tf from "@tensorflow/tfjs";
import { Module } from "../nn/module";
import { BASE_LINEAR, BaseLinear } from "../nn/base-linear";
import { linear } from "../ops/matmul";
import { DEFAULT_BLOCKSIZE, QuantType } from "./blockwise";
import { QuantBytes, QuantState, dequantize, quantize, storageBytes } from "./double-quant";
import { SyncReadError } from "../ops/sync-read-error";

export interface Linear4bitOptions {
  /** "nf4" (default), "fp4", or "int8" (8-bit absmax, for comparison). */
  quantType?: QuantType;
  /** Values per first-level block (default 64). */
  blocksize?: number;
  /** Double-quantize the scales (default true, as bitsandbytes' `Linear4bit(compress_statistics=True)`). */
  doubleQuant?: boolean;
}

/** The layer's storage in bytes, by part. */
export interface Linear4bitBytes extends QuantBytes {
  /** fp32 bias (0 without bias). */
  bias: number;
}

export class Linear4bit extends Module implements BaseLinear {
  readonly [BASE_LINEAR] = true as const;
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly quantType: QuantType;
  readonly blocksize: number;
  readonly doubleQuant: boolean;
  /** fp32 bias as a non-trainable parameter, or null. */
  readonly bias: tf.Variable | null;
  private state: QuantState;

  private constructor(state: QuantState, bias: tf.Tensor | null, opts: Required<Linear4bitOptions>) {
    super();
    if (state.shape.length !== 2) throw new Error(`Linear4bit: expected a 2-D weight, got shape [${state.shape}]`);
    [this.outFeatures, this.inFeatures] = state.shape;
    this.quantType = opts.quantType;
    this.blocksize = opts.blocksize;
    this.doubleQuant = opts.doubleQuant;
    this.state = state;
    if (bias && (bias.rank !== 1 || bias.shape[0] !== this.outFeatures)) {
      throw new Error(`Linear4bit: bias of shape [${bias.shape}] does not fit ${this.outFeatures} outputs`);
    }
    // addParameter disposes the tensor it is given, so hand it a copy: the caller keeps its bias.
    this.bias = bias ? this.addParameter("bias", tf.cast(bias, "float32"), false) : null;
  }

  /** Quantizes a float weight (out, in); `bias` (out) is copied in fp32. The inputs are not disposed. */
  static fromWeight(weight: tf.Tensor2D, bias: tf.Tensor1D | null = null, opts: Linear4bitOptions = {}): Linear4bit {
    const o = withDefaults(opts);
    return new Linear4bit(Linear4bit.quantizeWeight(weight, o), bias, o);
  }

  /** fromWeight, reading the weight asynchronously: works on every backend (a weight a GPU computed or used too). */
  static async fromWeightAsync(weight: tf.Tensor2D, bias: tf.Tensor1D | null = null, opts: Linear4bitOptions = {}): Promise<Linear4bit> {
    const o = withDefaults(opts);
    check2d(weight);
    return new Linear4bit(quantize(await float32Values(weight), { ...o, shape: [...weight.shape] }), bias, o);
  }

  /** Quantizes an `nn.Linear` (or anything with a (out, in) weight and an optional bias). */
  static fromLinear(layer: { weight: tf.Tensor; bias: tf.Tensor | null }, opts: Linear4bitOptions = {}): Linear4bit {
    return Linear4bit.fromWeight(layer.weight as tf.Tensor2D, layer.bias as tf.Tensor1D | null, opts);
  }

  private static quantizeWeight(weight: tf.Tensor2D, o: Required<Linear4bitOptions>): QuantState {
    check2d(weight);
    let values: Float32Array;
    try {
      values = (weight.dtype === "float32" ? weight.dataSync() : tf.tidy(() => tf.cast(weight, "float32").dataSync())) as Float32Array;
    } catch (e) {
      if (!(e instanceof SyncReadError)) throw e;
      throw new Error(
        `Linear4bit: quantizing a weight that ${tf.getBackend()} computed or already used needs a synchronous read, which Node ` +
          "cannot do on a GPU: use the asynchronous path (`await quantizeLinearsAsync(…)`; to merge an adapter into a 4-bit base, " +
          "`await peft.mergeAsync()`, `await peft.unmergeAsync()`, `await peft.mergeAndUnloadAsync()`), or run with COURSEKIT_BACKEND=wasm.",
        { cause: e },
      );
    }
    return quantize(values, { ...o, shape: [...weight.shape] });
  }

  /** The stored quantization state (packed codes and scales). Treat as read-only. */
  get quantState(): QuantState {
    return this.state;
  }

  /** The weight as fp32 (out, in), dequantized from the stored codes. Caller disposes. */
  dequantizedWeight(): tf.Tensor2D {
    return tf.tensor2d(dequantize(this.state), [this.outFeatures, this.inFeatures]);
  }

  /** The base-layer contract adapters rely on (lib/peft/adapter-layer.ts: BaseLinear). */
  readonly quantized = true;

  /** W (out, in) dequantized to float32; the caller disposes it. */
  weightValue(): tf.Tensor2D {
    return this.dequantizedWeight();
  }

  /** W ← the 4-bit quantization of w (lossy). */
  setWeightValue(w: tf.Tensor2D): void {
    this.requantize(w);
  }

  /** y = x · deq(W)ᵀ + b; the fp32 weight is created and freed inside this call. */
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => linear(x, this.dequantizedWeight(), this.bias));
  }

  /** W ← the 4-bit quantization of w, reading w asynchronously (works on every backend, GPUs included). */
  async setWeightValueAsync(w: tf.Tensor2D): Promise<void> {
    this.checkShape(w);
    this.state = quantize(await float32Values(w), { ...this.options(), shape: [...w.shape] });
  }

  /** Replaces the stored weight by the quantization of `weight` (lossy; used to merge adapters). */
  requantize(weight: tf.Tensor2D): void {
    this.checkShape(weight);
    this.state = Linear4bit.quantizeWeight(weight, this.options());
  }

  private options(): Required<Linear4bitOptions> {
    return { quantType: this.quantType, blocksize: this.blocksize, doubleQuant: this.doubleQuant };
  }

  private checkShape(weight: tf.Tensor2D): void {
    if (weight.shape[0] !== this.outFeatures || weight.shape[1] !== this.inFeatures) {
      throw new Error(`Linear4bit: a weight of shape [${weight.shape}] does not fit this layer ([${this.outFeatures},${this.inFeatures}])`);
    }
  }

  /** Bytes stored by this layer (codes, scales, second-level scales, offset, bias), from the arrays. */
  storageBytes(): Linear4bitBytes {
    const q = storageBytes(this.state);
    const bias = this.bias ? this.bias.size * Float32Array.BYTES_PER_ELEMENT : 0;
    return { ...q, bias, total: q.total + bias };
  }

  /** Bytes the same layer takes in fp32 (weight + bias). */
  get fp32Bytes(): number {
    return (this.outFeatures * this.inFeatures + (this.bias ? this.outFeatures : 0)) * Float32Array.BYTES_PER_ELEMENT;
  }
}

function check2d(weight: tf.Tensor): void {
  if (weight.rank !== 2) throw new Error(`Linear4bit: expected a 2-D weight, got shape [${weight.shape}]`);
}

function withDefaults(opts: Linear4bitOptions): Required<Linear4bitOptions> {
  return { quantType: opts.quantType ?? "nf4", blocksize: opts.blocksize ?? DEFAULT_BLOCKSIZE, doubleQuant: opts.doubleQuant ?? true };
}

/** A tensor's values as float32, read asynchronously. */
async function float32Values(w: tf.Tensor): Promise<Float32Array> {
  const w32 = w.dtype === "float32" ? w : tf.cast(w, "float32");
  try {
    return (await w32.data()) as Float32Array;
  } finally {
    if (w32 !== w) w32.dispose();
  }
}
