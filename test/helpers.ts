/** Shared test helpers: backend start-up, tensor comparisons, a tiny BERT and its inputs. */
import * as tf from "@tensorflow/tfjs";
import { strict as assert } from "node:assert";
import { initBackend } from "../lib/backend";
import { BertConfig, bertConfig } from "../lib/models/bert-config";

export async function setupBackend(): Promise<void> {
  await initBackend({ quiet: true });
}

/** Largest absolute difference between two tensors (or arrays) of the same shape. */
export function maxAbsDiff(a: tf.Tensor | ArrayLike<number>, b: tf.Tensor | ArrayLike<number>): number {
  const x = a instanceof tf.Tensor ? a.dataSync() : a;
  const y = b instanceof tf.Tensor ? b.dataSync() : b;
  assert.equal(x.length, y.length, "size mismatch");
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  return m;
}

export function assertClose(a: tf.Tensor | ArrayLike<number>, b: tf.Tensor | ArrayLike<number>, tol: number, what = "values"): void {
  const d = maxAbsDiff(a, b);
  assert.ok(d <= tol, `${what}: max |difference| ${d} > ${tol}`);
}

/** A two-layer BERT small enough for unit tests (hidden 8, MLP 16, vocabulary 40, no dropout); `overrides` changes any field. */
export function tinyBertConfig(overrides: Partial<BertConfig> = {}): BertConfig {
  return bertConfig({
    vocabSize: 40,
    hiddenSize: 8,
    numHiddenLayers: 2,
    numAttentionHeads: 2,
    intermediateSize: 16,
    maxPositionEmbeddings: 16,
    hiddenDropoutProb: 0,
    attentionProbsDropoutProb: 0,
    ...overrides,
  });
}

/** Two sequences of five token ids for a tiny BERT, the second one padded. */
export function tinyInputs(): { inputIds: tf.Tensor2D; attentionMask: tf.Tensor2D } {
  return {
    inputIds: tf.tensor2d(
      [
        [2, 11, 12, 13, 3],
        [2, 20, 21, 3, 0],
      ],
      [2, 5],
      "int32",
    ),
    attentionMask: tf.tensor2d(
      [
        [1, 1, 1, 1, 1],
        [1, 1, 1, 1, 0],
      ],
      [2, 5],
      "int32",
    ),
  };
}
