/** PyTorch's nn.Linear: weight (out, in), bias (out); y = x·Wᵀ + b. */
import * as tf from "@tensorflow/tfjs";
import { Module } from "./module";
import { BASE_LINEAR, BaseLinear } from "./base-linear";
import { linear } from "../ops/matmul";
import { Rng, normalArray, uniformArray } from "../util/random";

export interface LinearOptions {
  bias?: boolean;
  /** Initialisation: BERT's N(0, std) (default std 0.02) or PyTorch's default kaiming-uniform. */
  init?: { kind: "normal"; std: number } | { kind: "kaiming-uniform" };
  rng?: Rng;
}

export class Linear extends Module implements BaseLinear {
  readonly [BASE_LINEAR] = true as const;
  readonly weight: tf.Variable;
  readonly bias: tf.Variable | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    opts: LinearOptions = {},
  ) {
    super();
    const rng = opts.rng ?? new Rng(0);
    const init = opts.init ?? { kind: "normal", std: 0.02 };
    const size = inFeatures * outFeatures;
    const bound = 1 / Math.sqrt(inFeatures);
    const values = init.kind === "normal" ? normalArray(rng, size, init.std) : uniformArray(rng, size, -bound, bound);
    this.weight = this.addParameter("weight", tf.tensor2d(values, [outFeatures, inFeatures]));
    this.bias =
      opts.bias === false
        ? null
        : this.addParameter("bias", init.kind === "normal" ? tf.zeros([outFeatures]) : tf.tensor1d(uniformArray(rng, outFeatures, -bound, bound)));
  }

  /** The base-layer contract adapters rely on (lib/peft/adapter-layer.ts: BaseLinear). */
  readonly quantized = false;

  /** W (out, in) as a new tensor; the caller disposes it. */
  weightValue(): tf.Tensor2D {
    return this.weight.clone() as tf.Tensor2D;
  }

  /** W ← w (copied; the caller keeps w). */
  setWeightValue(w: tf.Tensor2D): void {
    this.weight.assign(w);
  }

  forward(x: tf.Tensor): tf.Tensor {
    return linear(x, this.weight, this.bias);
  }
}
