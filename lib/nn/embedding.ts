/** A lookup table: row i of `weight` (num, dim) is the vector of token i. */
import * as tf from "@tensorflow/tfjs";
import { registerWasmKernels } from "../ops/wasm-kernels";
import { Module } from "./module";
import { Rng, normalArray } from "../util/random";

registerWasmKernels(); // gather's gradient on wasm needs UnsortedSegmentSum, whichever way wasm was chosen

export class Embedding extends Module {
  readonly weight: tf.Variable;

  constructor(
    readonly numEmbeddings: number,
    readonly embeddingDim: number,
    opts: { std?: number; rng?: Rng } = {},
  ) {
    super();
    const values = normalArray(opts.rng ?? new Rng(0), numEmbeddings * embeddingDim, opts.std ?? 0.02);
    this.weight = this.addParameter("weight", tf.tensor2d(values, [numEmbeddings, embeddingDim]));
  }

  /** ids: int32 tensor of any shape → (...shape, dim). The gradient reaches only the rows used. */
  forward(ids: tf.Tensor): tf.Tensor {
    const flat = ids.rank === 1 ? ids : tf.reshape(ids, [-1]);
    const rows = tf.gather(this.weight, flat);
    return ids.rank === 1 ? rows : tf.reshape(rows, [...ids.shape, this.embeddingDim]);
  }
}
