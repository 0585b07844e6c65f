/**
 * AdamW exactly as PyTorch's `torch.optim.AdamW` computes it (decoupled weight decay):
 *
 *   p ← p·(1 − lr·λ)
 *   m ← β₁m + (1 − β₁)g,   v ← β₂v + (1 − β₂)g²
 *   p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
 *
 * The moment estimates m and v live as tf.Variables beside each parameter — or, with `state: "8bit"`, as
 * 8-bit blockwise codes in JavaScript memory outside the tensor backend (lib/quant/optimizer-state.ts: the
 * analogue of bitsandbytes' 8-bit / paged optimizers; `stateBytes()` measures the saving). Parameters named
 * like a bias or a LayerNorm weight get no weight decay (the Hugging Face Trainer's convention).
 */
import * as tf from "@tensorflow/tfjs";
import { QuantizedAdamState } from "../quant/optimizer-state";
import { ADAMW_KERNEL, wasmKernelActive } from "../ops/wasm-kernels";
import type { AdamWCoefficients } from "../ops/wasm-simd";

/** Whether this update can run as the wasm backend's one-kernel AdamW (float32 gradients on wasm). */
function fusedAdamW(g: tf.Tensor): boolean {
  return g.dtype === "float32" && wasmKernelActive(ADAMW_KERNEL);
}

export interface AdamWOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** Which parameter names skip weight decay; default: biases and LayerNorm weights. */
  noDecay?: (name: string) => boolean;
  /**
   * A per-parameter multiplier of the learning rate (parameter groups), e.g. VB-LoRA's bank learning
   * faster or slower than its logits. Default 1 for every parameter.
   */
  lrScale?: (name: string) => number;
  /** Where m and v live: fp32 tensors (default), or 8-bit codes outside the tensor backend. */
  state?: "fp32" | "8bit";
}

export const defaultNoDecay = (name: string): boolean => name.endsWith(".bias") || name.includes("LayerNorm") || name === "bias";

interface Slot {
  name: string;
  lrScale: number;
  param: tf.Variable;
  m: tf.Variable | null;
  v: tf.Variable | null;
  decay: boolean;
}

/** A zero state variable shaped like `param` (tidy disposes the temporary zeros; the variable keeps its data). */
function zeroSlot(param: tf.Variable): tf.Variable {
  return tf.tidy(() => tf.variable(tf.zerosLike(param), false));
}

export class AdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  lr: number;
  /** Number of steps taken (t in the bias corrections). */
  step = 0;
  private readonly slots: Slot[];
  private readonly quantized: QuantizedAdamState | null;

  /** `params`: the (name, variable) pairs to optimise; only trainable ones are kept. */
  constructor(params: Array<[string, tf.Variable]>, opts: AdamWOptions) {
    this.lr = opts.lr;
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0.01;
    const noDecay = opts.noDecay ?? defaultNoDecay;
    this.slots = params
      .filter(([, p]) => p.trainable)
      .map(([name, param]) => ({
        name,
        param,
        decay: !noDecay(name),
        lrScale: opts.lrScale ? opts.lrScale(name) : 1,
        m: opts.state === "8bit" ? null : zeroSlot(param),
        v: opts.state === "8bit" ? null : zeroSlot(param),
      }));
    this.quantized = opts.state === "8bit" ? new QuantizedAdamState() : null;
  }

  /** The variables being optimised, in order. */
  get variables(): tf.Variable[] {
    return this.slots.map((s) => s.param);
  }

  /** Bytes held by the optimizer state (m and v), as stored, and what fp32 state would take. */
  stateBytes(): { stored: number; fp32: number } {
    const fp32 = this.slots.reduce((n, s) => n + 8 * s.param.size, 0);
    return { stored: this.quantized ? this.quantized.bytes().quantized : fp32, fp32 };
  }

  /**
   * Applies one update. `grads` maps each variable's tf name (as tf.variableGrads returns them) to its
   * gradient; a variable without a gradient is left alone. Does not dispose `grads`. Asynchronous because
   * the 8-bit state lives in JavaScript memory: its gradients are read with `await data()` (any backend).
   */
  async apply(grads: tf.NamedTensorMap, baseLr = this.lr): Promise<void> {
    this.step += 1;
    const t = this.step;
    const bc1 = 1 - this.beta1 ** t;
    const bc2 = 1 - this.beta2 ** t;
    const hostGrads = new Map<string, Float32Array>();
    if (this.quantized)
      for (const s of this.slots) {
        const g = grads[s.param.name];
        if (g) hostGrads.set(s.name, (await g.data()) as Float32Array);
      }
    tf.tidy(() => {
      for (const s of this.slots) {
        const g = grads[s.param.name];
        if (!g) continue;
        const lr = baseLr * s.lrScale;
        const decayFactor = s.decay && this.weightDecay > 0 ? 1 - lr * this.weightDecay : 1;
        if (!this.quantized && fusedAdamW(g)) {
          // the same float32 operations as below, in one kernel (lib/ops/wasm-kernels.ts)
          const c: AdamWCoefficients = { beta1: this.beta1, beta2: this.beta2, eps: this.eps, decay: decayFactor, sqrtBc2: Math.sqrt(bc2), stepSize: lr / bc1 };
          const [p, m, v] = tf
            .engine()
            .runKernel(ADAMW_KERNEL, { param: s.param, m: s.m as tf.Variable, v: s.v as tf.Variable, g }, c as unknown as tf.NamedAttrMap) as tf.Tensor[];
          s.param.assign(p);
          (s.m as tf.Variable).assign(m);
          (s.v as tf.Variable).assign(v);
          continue;
        }
        let m: tf.Tensor;
        let v: tf.Tensor;
        if (this.quantized) {
          // dequantize → update in fp32 → re-quantize for storage; this step uses the fresh fp32 moments
          const fresh = this.quantized.update(s.name, hostGrads.get(s.name) as Float32Array, this.beta1, this.beta2);
          m = tf.tensor(fresh.m, g.shape);
          v = tf.tensor(fresh.v, g.shape);
        } else {
          m = tf.add(tf.mul(s.m as tf.Variable, this.beta1), tf.mul(g, 1 - this.beta1));
          v = tf.add(tf.mul(s.v as tf.Variable, this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
          (s.m as tf.Variable).assign(m);
          (s.v as tf.Variable).assign(v);
        }
        const decayed = decayFactor !== 1 ? tf.mul(s.param, decayFactor) : s.param;
        const denom = tf.add(tf.div(tf.sqrt(v), Math.sqrt(bc2)), this.eps);
        s.param.assign(tf.sub(decayed, tf.mul(tf.div(m, denom), lr / bc1)));
      }
    });
  }

  dispose(): void {
    for (const s of this.slots) {
      s.m?.dispose();
      s.v?.dispose();
    }
  }
}

/**
 * Scales gradients so their global L2 norm is at most `maxNorm` (torch.nn.utils.clip_grad_norm_:
 * coefficient min(1, maxNorm / (norm + 1e-6))). Returns the new map and the norm before clipping.
 * The caller owns (and disposes) everything returned; the input map is left as it is.
 */
export function clipGradNorm(grads: tf.NamedTensorMap, maxNorm: number): { grads: tf.NamedTensorMap; norm: tf.Scalar } {
  return tf.tidy(() => {
    const names = Object.keys(grads);
    const squares = names.map((n) => tf.sum(tf.square(grads[n])));
    const norm = tf.sqrt(squares.length ? tf.addN(squares) : tf.scalar(0)) as tf.Scalar;
    const coef = tf.minimum(1, tf.div(maxNorm, tf.add(norm, 1e-6)));
    const clipped: tf.NamedTensorMap = {};
    for (const n of names) clipped[n] = tf.mul(grads[n], coef);
    return { grads: clipped, norm };
  });
}
