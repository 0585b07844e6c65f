/** Shared test helpers: backend start-up and tensor comparisons. */
import * as tf from "@tensorflow/tfjs";
import { strict as assert } from "node:assert";
import { initBackend } from "../lib/backend";

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
