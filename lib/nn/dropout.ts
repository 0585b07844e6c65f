/**
 * Inverted dropout: in training, zero each element with probability `rate` and scale the rest by 1/(1−rate).
 *
 * The mask comes from the kit's own generator (mulberry32, lib/util/random.ts), not tf.dropout's: that one
 * draws its uniforms through seedrandom one JavaScript call at a time (~3 ms for a [16, 64, 128] mask, a
 * tenth of a training step over BERT's seven dropouts); Rng.dropoutMask takes under a millisecond.
 */
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
    return tf.tidy(() => tf.mul(x, dropoutMask(x.shape, this.rate, this.rng.fork())));
  }
}

/** A tensor of 1/(1−rate) (kept, probability 1−rate) and 0 (dropped), drawn from `seed`. */
export function dropoutMask(shape: number[], rate: number, seed: number): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(new Rng(seed).dropoutMask(size, rate, 1 / (1 - rate)), shape, "float32");
}
