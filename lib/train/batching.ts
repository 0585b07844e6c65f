/**
 * Turning token-id sequences into padded tensors. Each batch is padded only to its own longest sequence
 * (dynamic padding), which matters on a CPU: short WordNet glosses then cost a fraction of long e-mails.
 */
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../util/random";

/** One tokenised example: ids start with [CLS] and end with [SEP]; label is a class id. */
export interface EncodedExample {
  ids: ArrayLike<number>;
  label: number;
}

export interface Batch {
  /** (B, T) int32 */
  inputIds: tf.Tensor2D;
  /** (B, T) int32: 1 for tokens, 0 for padding */
  attentionMask: tf.Tensor2D;
  /** (B,) int32 class ids */
  labels: tf.Tensor1D;
  size: number;
}

/** Builds a padded batch from the examples at `indices`. The caller disposes it (see disposeBatch). */
export function makeBatch(examples: EncodedExample[], indices: number[], padId: number): Batch {
  const t = Math.max(1, ...indices.map((i) => examples[i].ids.length));
  const b = indices.length;
  const ids = new Int32Array(b * t).fill(padId);
  const mask = new Int32Array(b * t);
  const labels = new Int32Array(b);
  indices.forEach((ex, row) => {
    const seq = examples[ex].ids;
    for (let j = 0; j < seq.length; j++) {
      ids[row * t + j] = seq[j];
      mask[row * t + j] = 1;
    }
    labels[row] = examples[ex].label;
  });
  return {
    inputIds: tf.tensor2d(ids, [b, t], "int32"),
    attentionMask: tf.tensor2d(mask, [b, t], "int32"),
    labels: tf.tensor1d(labels, "int32"),
    size: b,
  };
}

export function disposeBatch(batch: Batch): void {
  tf.dispose([batch.inputIds, batch.attentionMask, batch.labels]);
}

/** Index lists of at most `batchSize`, shuffled with `rng` when given, in order otherwise. */
export function batchIndices(n: number, batchSize: number, rng?: Rng): number[][] {
  const order = Array.from({ length: n }, (_, i) => i);
  if (rng) rng.shuffle(order);
  const out: number[][] = [];
  for (let i = 0; i < n; i += batchSize) out.push(order.slice(i, i + batchSize));
  return out;
}

/** Mean cross-entropy of integer `labels` (N,) under `logits` (N, C). */
export function crossEntropy(logits: tf.Tensor, labels: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const logProbs = tf.logSoftmax(logits);
    const picked = tf.sum(tf.mul(logProbs, tf.oneHot(tf.cast(labels, "int32") as tf.Tensor1D, logits.shape[1] as number)), 1);
    return tf.neg(tf.mean(picked)) as tf.Scalar;
  });
}
