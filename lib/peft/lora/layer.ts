/**
 * LoRA and DoRA on a linear layer, as huggingface/peft computes them (tuners/lora/layer.py, dora.py).
 *
 * LoRA:  y = W x + b + s · B A dropout(x),   A (r, in), B (out, r), s = α / r   (α / √r with rsLoRA)
 *        A starts kaiming-uniform, B at zero, so a fresh adapter changes nothing.
 *
 * DoRA:  W' = m ⊙ (W + s·B A) / ‖W + s·B A‖      one magnitude per output row (m has shape (out,))
 *        y  = W x + b + (m/n − 1) ⊙ W x + (m/n) ⊙ s·B A x,   n = ‖W + s·B A‖ row-wise, *detached*
 *        m starts at ‖W‖ row-wise, so DoRA also starts as a no-op. The bias is not rescaled.
 *
 * The lecture writes DoRA's magnitude as one scalar (a Frobenius norm); the paper and peft keep one value
 * per output row ("column norm" when W is written d×k) — this file follows peft.
 */
import * as tf from "@tensorflow/tfjs";
import { Module, ModuleDict } from "../../nn/module";
import { Linear } from "../../nn/linear";
import { Dropout } from "../../nn/dropout";
import { linear } from "../../ops/matmul";
import { stopGradient } from "../../ops/stop-gradient";
import { Rng, normalArray } from "../../util/random";
import { AdapterLayer, BaseLinear } from "../adapter-layer";

/** DoRA's magnitude vector, one per adapter (peft: `lora_magnitude_vector[name].weight`). */
export class Magnitude extends Module {
  readonly weight: tf.Variable;
  constructor(values: tf.Tensor1D) {
    super();
    this.weight = this.addParameter("weight", values);
  }
}

export interface LoraAdapterOptions {
  r: number;
  alpha: number;
  dropout: number;
  useRslora: boolean;
  useDora: boolean;
  init: boolean | "gaussian";
  rng: Rng;
}

/** Row-wise L2 norm of a (out, in) matrix → (out,). */
function rowNorm(w: tf.Tensor): tf.Tensor1D {
  return tf.sqrt(tf.sum(tf.square(w), 1)) as tf.Tensor1D;
}

export class LoraLayer extends AdapterLayer {
  readonly adapterLayerNames = ["lora_A", "lora_B", "lora_magnitude_vector"] as const;
  private readonly scaling = new Map<string, number>();
  private readonly ranks = new Map<string, number>();
  /** DoRA: the row norms at merge time, needed to unmerge exactly. */
  private readonly mergeNorms = new Map<string, tf.Tensor1D>();

  constructor(base: BaseLinear) {
    super(base);
    this.addModule("lora_A", new ModuleDict());
    this.addModule("lora_B", new ModuleDict());
    this.addModule("lora_dropout", new ModuleDict());
    this.addModule("lora_magnitude_vector", new ModuleDict());
  }

  private dict(name: "lora_A" | "lora_B" | "lora_dropout" | "lora_magnitude_vector"): ModuleDict {
    return this.getSubmodule(name, ModuleDict);
  }

  adapterNames(): string[] {
    return this.dict("lora_A")
      .namedChildren()
      .map(([n]) => n);
  }

  /** Adds an adapter (peft's `update_layer`). */
  addAdapter(name: string, o: LoraAdapterOptions): void {
    if (this.hasAdapter(name)) throw new Error(`adapter "${name}" already exists in this layer`);
    const { inFeatures, outFeatures } = this;
    const A = new Linear(inFeatures, o.r, { bias: false, init: { kind: "kaiming-uniform" }, rng: o.rng });
    if (o.init === "gaussian") tf.tidy(() => A.weight.assign(tf.tensor2d(normalArray(o.rng, o.r * inFeatures, 1 / o.r), [o.r, inFeatures])));
    const B = new Linear(o.r, outFeatures, { bias: false, init: { kind: "kaiming-uniform" }, rng: o.rng });
    if (o.init !== false) tf.tidy(() => B.weight.assign(tf.zeros([outFeatures, o.r])));
    this.dict("lora_A").add(name, A);
    this.dict("lora_B").add(name, B);
    this.dict("lora_dropout").add(name, new Dropout(o.dropout, o.rng.fork()));
    this.scaling.set(name, o.useRslora ? o.alpha / Math.sqrt(o.r) : o.alpha / o.r);
    this.ranks.set(name, o.r);
    if (o.useDora) {
      // m = ‖W + s·B A‖ row-wise at initialisation (= ‖W‖ when B = 0)
      const m = tf.tidy(() => rowNorm(tf.add(this.base.weightValue(), this.loraWeight(name))));
      this.dict("lora_magnitude_vector").add(name, new Magnitude(m));
    }
  }

  deleteAdapter(name: string): void {
    if (this.merged.includes(name)) throw new Error(`unmerge adapter "${name}" before deleting it`);
    for (const d of ["lora_A", "lora_B", "lora_dropout", "lora_magnitude_vector"] as const) {
      const dict = this.dict(d);
      const child = dict.namedChildren().find(([n]) => n === name);
      if (child) {
        child[1].dispose();
        dict.remove(name);
      }
    }
    this.scaling.delete(name);
    this.ranks.delete(name);
  }

  isDora(name: string): boolean {
    return this.dict("lora_magnitude_vector")
      .namedChildren()
      .some(([n]) => n === name);
  }

  scalingOf(name: string): number {
    return this.scaling.get(name) as number;
  }

  rankOf(name: string): number {
    return this.ranks.get(name) as number;
  }

  private A(name: string): Linear {
    return this.dict("lora_A").getSubmodule(name, Linear);
  }

  private B(name: string): Linear {
    return this.dict("lora_B").getSubmodule(name, Linear);
  }

  private magnitude(name: string): tf.Variable {
    return this.dict("lora_magnitude_vector").getSubmodule(name, Magnitude).weight;
  }

  /** s · B A, the plain LoRA update (out, in). */
  private loraWeight(name: string): tf.Tensor2D {
    return tf.tidy(() => tf.mul(tf.matMul(this.B(name).weight, this.A(name).weight), this.scalingOf(name)) as tf.Tensor2D);
  }

  /** ΔW such that the merged weight is W + ΔW (for DoRA: the full change m⊙(W+sBA)/n − W). */
  deltaWeight(name: string): tf.Tensor2D {
    if (!this.isDora(name)) return this.loraWeight(name);
    return tf.tidy(() => {
      const w = this.base.weightValue();
      return tf.sub(this.doraWeight(w, name), w) as tf.Tensor2D;
    });
  }

  /** m ⊙ (W + s·B A) / ‖W + s·B A‖ (row-wise). */
  private doraWeight(w: tf.Tensor2D, name: string): tf.Tensor2D {
    return tf.tidy(() => {
      const combined = tf.add(w, this.loraWeight(name));
      const scale = tf.div(this.magnitude(name), rowNorm(combined));
      return tf.mul(combined, tf.reshape(scale, [-1, 1])) as tf.Tensor2D;
    });
  }

  protected adapterOutput(x: tf.Tensor, name: string, baseOutput: tf.Tensor): tf.Tensor {
    const dropout = this.dict("lora_dropout").getSubmodule(name, Dropout);
    const xd = dropout.forward(x);
    const s = this.scalingOf(name);
    const lora = tf.mul(this.B(name).forward(this.A(name).forward(xd)), s);
    if (!this.isDora(name)) return lora;
    // DoRA: n is computed from W + s·(B A) with the LoRA product detached, and n itself is detached.
    const w = this.base.weightValue();
    const n = stopGradient(rowNorm(tf.add(w, stopGradient(this.loraWeight(name)))));
    const scale = tf.div(this.magnitude(name), n);
    // W x without bias: reuse the base output when dropout is off (x_d = x), else recompute on x_d.
    const bias = this.base.bias;
    const wx = dropout.rate === 0 || !dropout.training ? (bias ? tf.sub(baseOutput, bias) : baseOutput) : linear(xd, w);
    return tf.add(tf.mul(tf.sub(scale, 1), wx), tf.mul(scale, lora));
  }

  protected override mergeWeight(w: tf.Tensor2D, name: string): tf.Tensor {
    if (!this.isDora(name)) return super.mergeWeight(w, name);
    const norm = tf.keep(rowNorm(tf.add(w, this.loraWeight(name))));
    this.mergeNorms.set(name, norm);
    return this.doraWeight(w, name);
  }

  protected override disposeExtras(): void {
    for (const norm of this.mergeNorms.values()) norm.dispose();
    this.mergeNorms.clear();
  }

  protected override unmergeWeight(w: tf.Tensor2D, name: string): tf.Tensor {
    if (!this.isDora(name)) return super.unmergeWeight(w, name);
    const norm = this.mergeNorms.get(name) as tf.Tensor1D;
    this.mergeNorms.delete(name);
    const restored = tf.sub(tf.mul(w, tf.reshape(tf.div(norm, this.magnitude(name)), [-1, 1])), this.loraWeight(name));
    norm.dispose();
    return restored;
  }

  /** Trainable parameters this method adds to one (in, out) layer. */
  static parameterCount(inFeatures: number, outFeatures: number, r: number, useDora: boolean): number {
    return r * (inFeatures + outFeatures) + (useDora ? outFeatures : 0);
  }
}
