/** Inverted dropout: in training, zero each element with probability `rate` and scale the rest by 1/(1−rate). */
import * as tf from "@tensorflow/tfjs";
import { Module } from "./module";
import { Rng } from "../util/random";

export class Dropout extends Module {
  private rng: Rng;

  constructor(
    readonly rate: number,
    seed = 0,
  ) {
    super();
    if (rate < 0 || rate >= 1) throw new Error(`dropout rate must be in [0, 1), got ${rate}`);
    this.rng = new Rng(seed);
  }

  /** Reseeds the mask sequence (the trainer does this so runs are reproducible). */
  reseed(seed: number): void {
    this.rng = new Rng(seed);
  }

  forward(x: tf.Tensor): tf.Tensor {
    if (!this.training || this.rate === 0) return x;
    return tf.dropout(x, this.rate, undefined, this.rng.fork());
  }
}
