import * as tf from "@tensorflow/tfjs";
import { strict as assert } from "node:assert";
import { maxAbsDiff, readArray, readScalar, readValues } from "../../lib/util/read";
import { setupBackend } from "../helpers";

describe("reading tensor values asynchronously (lib/util/read)", () => {
  before(setupBackend);

  it("reads a scalar, flat values and nested rows (hand-checked)", async () => {
    const m = tf.tensor2d([
      [1, -2],
      [3, 4.5],
    ]);
    assert.equal(await readScalar(() => tf.sum(m)), 6.5);
    assert.deepEqual(await readValues(m), [1, -2, 3, 4.5]);
    assert.deepEqual(await readArray(m), [
      [1, -2],
      [3, 4.5],
    ]);
    assert.equal(await readScalar(tf.tensor2d([[7]])), 7, "one value in a [1, 1] tensor is a scalar");
    m.dispose();
  });

  it("disposes what a function built (intermediates too) and leaves a given tensor alone", async () => {
    const x = tf.tensor1d([1, 2, 3]);
    const before = tf.memory().numTensors;
    await readScalar(() => tf.max(tf.mul(tf.add(x, 1), 2)));
    await readValues(() => tf.square(x));
    await readArray(() => tf.reshape(x, [3, 1]) as tf.Tensor2D);
    assert.equal(tf.memory().numTensors, before, "a built tensor and its intermediates are freed");
    await readValues(x);
    assert.equal(x.isDisposed, false, "a tensor passed in stays the caller's");
    x.dispose();
  });

  it("refuses a tensor with more than one value as a scalar, and frees it", async () => {
    const before = tf.memory().numTensors;
    await assert.rejects(
      readScalar(() => tf.ones([2, 3])),
      /shape \[2,3\] \(6 values\); it needs exactly one/,
    );
    assert.equal(tf.memory().numTensors, before);
  });

  it("maxAbsDiff: max |a − b|, and a clear error when the shapes differ", async () => {
    const a = tf.tensor2d([
      [1, 2],
      [3, 4],
    ]);
    const b = tf.tensor2d([
      [1, 2.5],
      [-1, 4],
    ]);
    const before = tf.memory().numTensors;
    assert.equal(await maxAbsDiff(a, b), 4);
    assert.equal(await maxAbsDiff(a, a), 0);
    assert.equal(tf.memory().numTensors, before);
    await assert.rejects(maxAbsDiff(a, tf.ones([4])), /shapes differ \(\[2,2\] vs \[4\]\)/);
    tf.dispose([a, b]);
  });
});
