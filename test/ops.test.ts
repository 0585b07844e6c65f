/**
 * The wasm fixes: our matMul's gradient (explicit transposes + plain products) and the registered
 * UnsortedSegmentSum kernel (gather's gradient) must equal TensorFlow.js's own results to 1e-5.
 */
import * as tf from "@tensorflow/tfjs";
import { strict as assert } from "node:assert";
import { matMul, matMulBT, linear } from "../lib/ops/matmul";
import { unsortedSegmentSum } from "../lib/ops/wasm-kernels";
import { assertClose, setupBackend } from "./helpers";

describe("ops: fast matMul gradients and the wasm UnsortedSegmentSum kernel", () => {
  before(setupBackend);

  it("runs on the wasm backend (the backend these fixes are for)", () => {
    assert.equal(tf.getBackend(), process.env.COURSEKIT_BACKEND ?? "wasm");
  });

  it("2-D matMul: value and gradients equal tf.matMul's", () => {
    const a = tf.randomNormal([7, 5], 0, 1, "float32", 1);
    const b = tf.randomNormal([5, 3], 0, 1, "float32", 2);
    const w = tf.randomNormal([7, 3], 0, 1, "float32", 3);
    const ours = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(matMul(x, y), w)));
    const ref = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, y), w)));
    const [ga, gb] = ours([a, b]);
    const [ra, rb] = ref([a, b]);
    assertClose(matMul(a, b), tf.matMul(a, b), 1e-5, "value");
    assertClose(ga, ra, 1e-5, "dA");
    assertClose(gb, rb, 1e-5, "dB");
  });

  it("rank-3 batched matMul (attention): gradients equal tf.matMul's", () => {
    const a = tf.randomNormal([4, 6, 5], 0, 1, "float32", 4);
    const b = tf.randomNormal([4, 5, 6], 0, 1, "float32", 5);
    const w = tf.randomNormal([4, 6, 6], 0, 1, "float32", 6);
    const [ga, gb] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(matMul(x, y), w)))([a, b]);
    const [ra, rb] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, y), w)))([a, b]);
    assertClose(ga, ra, 1e-5, "dA");
    assertClose(gb, rb, 1e-5, "dB");
  });

  it("A·Bᵀ and linear(x, W, b) match tf.matMul with transposeB, including gradients", () => {
    const x = tf.randomNormal([2, 3, 5], 0, 1, "float32", 7);
    const W = tf.randomNormal([4, 5], 0, 1, "float32", 8);
    const bias = tf.randomNormal([4], 0, 1, "float32", 9);
    const ref = (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => tf.add(tf.reshape(tf.matMul(tf.reshape(xx, [6, 5]), ww, false, true), [2, 3, 4]), bb);
    assertClose(linear(x, W, bias), ref(x, W, bias), 1e-5, "linear value");
    assertClose(matMulBT(tf.reshape(x, [6, 5]), W), tf.matMul(tf.reshape(x, [6, 5]), W, false, true), 1e-5, "A·Bᵀ");
    const g = tf.grads((xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.square(linear(xx, ww, bb))))([x, W, bias]);
    const r = tf.grads((xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.square(ref(xx, ww, bb))))([x, W, bias]);
    g.forEach((gi, i) => assertClose(gi, r[i], 1e-4, `gradient ${i}`));
  });

  it("linear() rejects a weight whose input width does not match, naming both shapes", () => {
    assert.throws(() => linear(tf.zeros([2, 3]), tf.zeros([4, 5])), /3 features but the weight expects 5/);
  });

  it("unsortedSegmentSum sums rows into buckets (hand calculation)", () => {
    const out = [0, 0, 0, 0, 0, 0];
    unsortedSegmentSum([1, 2, 3, 4, 5, 6, 7, 8], [4, 2], [2, 0, 2, 5], 3, out);
    assert.deepEqual(out, [3, 4, 0, 0, 1 + 5, 2 + 6]); // id 5 is out of range and dropped
  });

  it("gather's gradient on this backend equals the cpu backend's (embedding rows used twice)", async () => {
    const table = [
      [1, 2],
      [3, 4],
      [5, 6],
      [7, 8],
    ];
    const ids = [3, 1, 3, 0, 1, 1];
    const upstream = [
      [1, -1],
      [2, 0.5],
      [0.25, 3],
      [4, 4],
      [-2, 1],
      [0, 1],
    ];
    const gradOf = () =>
      tf.tidy(() =>
        tf
          .grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, tf.tensor1d(ids, "int32")), tf.tensor2d(upstream))))(tf.tensor2d(table))
          .arraySync(),
      );
    const here = gradOf();
    const backend = tf.getBackend();
    await tf.setBackend("cpu");
    const cpu = gradOf();
    await tf.setBackend(backend);
    assertClose((here as number[][]).flat(), (cpu as number[][]).flat(), 1e-5, "gather gradient");
    // and by hand: row 1 receives upstream rows 1, 4, 5
    assert.deepEqual((here as number[][])[1], [2 - 2 + 0, 0.5 + 1 + 1]);
  });
});
