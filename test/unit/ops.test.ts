/**
 * The wasm fixes: the registered matMul gradient (explicit transposes + plain products, each formed only
 * when needed), the registered UnsortedSegmentSum kernel (gather's gradient), and the faster replacements
 * of BatchMatMul (a batch through XNNPACK a matrix at a time), Identity (shared memory) and GatherV2 (rows
 * copied). References are computed independently: plain JavaScript loops, or the cpu backend's kernels.
 */
import * as tf from "@tensorflow/tfjs";
import { strict as assert } from "node:assert";
import { matMul, matMulBT, linear } from "../../lib/ops/matmul";
import { gatherRows, MATMUL_TRANSPOSED_A_KERNEL, unsortedSegmentSum } from "../../lib/ops/wasm-kernels";
import { assertClose, setupBackend } from "../helpers";

/** C[b] = A[b]·B[b] (or a single product for rank 2) by the textbook triple loop, in float64. */
function refMatMul(a: tf.Tensor, b: tf.Tensor, transposeA = false, transposeB = false): Float64Array {
  const batch = a.rank === 3 ? a.shape[0] : 1;
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const m = transposeA ? ac : ar;
  const k = transposeA ? ar : ac;
  const n = transposeB ? br : bc;
  const A = a.dataSync();
  const B = b.dataSync();
  const out = new Float64Array(batch * m * n);
  for (let t = 0; t < batch; t++) {
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let sum = 0;
        for (let l = 0; l < k; l++) {
          const av = transposeA ? A[t * ar * ac + l * ac + i] : A[t * ar * ac + i * ac + l];
          const bv = transposeB ? B[t * br * bc + j * bc + l] : B[t * br * bc + l * bc + j];
          sum += av * bv;
        }
        out[t * m * n + i * n + j] = sum;
      }
    }
  }
  return out;
}

/** The rank-2/3 transpose of the last two axes, as a new tensor (the cpu backend's kernel). */
function swapped(x: tf.Tensor): tf.Tensor {
  return tf.transpose(x, x.rank === 2 ? [1, 0] : [0, 2, 1]);
}

/** How many times each kernel ran inside `f` (tf.profile). */
async function kernelCounts(f: () => tf.TensorContainer): Promise<Map<string, number>> {
  const profile = await tf.profile(() => f());
  const counts = new Map<string, number>();
  for (const k of profile.kernels) counts.set(k.name, (counts.get(k.name) ?? 0) + 1);
  return counts;
}

describe("ops: fast matMul gradients and the wasm UnsortedSegmentSum kernel", () => {
  before(setupBackend);

  it("runs on the wasm backend (the backend these fixes are for)", () => {
    assert.equal(tf.getBackend(), process.env.COURSEKIT_BACKEND ?? "wasm");
  });

  it("2-D matMul: value and gradients equal a hand calculation (dA = G·Bᵀ, dB = Aᵀ·G for loss Σ C⊙G)", () => {
    const a = tf.randomNormal([7, 5], 0, 1, "float32", 1);
    const b = tf.randomNormal([5, 3], 0, 1, "float32", 2);
    const w = tf.randomNormal([7, 3], 0, 1, "float32", 3);
    const [ga, gb] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(matMul(x, y), w)))([a, b]);
    assertClose(matMul(a, b), refMatMul(a, b), 1e-5, "value");
    assertClose(ga, refMatMul(w, b, false, true), 1e-5, "dA");
    assertClose(gb, refMatMul(a, w, true, false), 1e-5, "dB");
  });

  it("rank-3 batched matMul (attention): value and gradients equal a hand calculation", () => {
    const a = tf.randomNormal([4, 6, 5], 0, 1, "float32", 4);
    const b = tf.randomNormal([4, 5, 6], 0, 1, "float32", 5);
    const w = tf.randomNormal([4, 6, 6], 0, 1, "float32", 6);
    const [ga, gb] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(matMul(x, y), w)))([a, b]);
    assertClose(matMul(a, b), refMatMul(a, b), 1e-5, "value");
    assertClose(ga, refMatMul(w, b, false, true), 1e-5, "dA");
    assertClose(gb, refMatMul(a, w, true, false), 1e-5, "dB");
  });

  it("attention's shapes ([32, 64, 64] batches) and odd ones go through the batched kernel exactly", () => {
    for (const [n, m, k, p] of [
      [32, 64, 64, 64],
      [3, 5, 7, 2],
      [2, 1, 1, 1],
    ]) {
      const a = tf.randomNormal([n, m, k], 0, 1, "float32", 10 + m);
      const b = tf.randomNormal([n, k, p], 0, 1, "float32", 20 + p);
      assertClose(tf.matMul(a, b), refMatMul(a, b), 1e-4, `[${n}, ${m}, ${k}]·[${n}, ${k}, ${p}]`);
    }
  });

  it("products the batched kernel does not take over (transposed, broadcast) keep TensorFlow.js's results and gradients", () => {
    const a = tf.randomNormal([3, 4, 5], 0, 1, "float32", 30);
    const b = tf.randomNormal([3, 6, 5], 0, 1, "float32", 31);
    assertClose(tf.matMul(a, b, false, true), refMatMul(a, b, false, true), 1e-5, "A·Bᵀ batched");
    assertClose(tf.matMul(swapped(a), swapped(b), true, false), refMatMul(swapped(a), swapped(b), true, false), 1e-5, "Aᵀ·B batched");
    const w = tf.randomNormal([3, 4, 6], 0, 1, "float32", 32);
    const [ga, gb] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, y, false, true), w)))([a, b]);
    assertClose(ga, refMatMul(w, b), 1e-5, "dA of A·Bᵀ"); // G·B
    assertClose(gb, refMatMul(w, a, true, false), 1e-5, "dB of A·Bᵀ"); // Gᵀ·A
    const single = tf.randomNormal([5, 2], 0, 1, "float32", 33);
    const broadcast = tf.matMul(a, single); // [3, 4, 5] · [5, 2]: b broadcast over the batch
    assertClose(broadcast, refMatMul(a, tf.stack([single, single, single])), 1e-5, "broadcast");
  });

  it("a frozen operand's gradient is never formed: linear's backward for x alone runs one product, not two", async () => {
    const x = tf.randomNormal([16, 8], 0, 1, "float32", 40);
    const W = tf.randomNormal([4, 8], 0, 1, "float32", 41);
    const forwardOnly = await kernelCounts(() => linear(x, W));
    const xOnly = await kernelCounts(() => tf.grad((xx: tf.Tensor) => tf.sum(linear(xx, W)))(x));
    const both = await kernelCounts(() => tf.grads((xx: tf.Tensor, ww: tf.Tensor) => tf.sum(linear(xx, ww)))([x, W]));
    // (a narrow weight gradient runs as the kit's transposed-A product on wasm: a product all the same)
    const products = (c: Map<string, number>) => (c.get("BatchMatMul") ?? 0) + (c.get(MATMUL_TRANSPOSED_A_KERNEL) ?? 0);
    assert.equal(products(forwardOnly), 1);
    assert.equal(products(xOnly), 2, "forward + dx");
    assert.equal(products(both), 3, "forward + dx + dW");
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

  it("Identity (tf.clone, and every tensor the tape saves) shares memory: the copy survives its source and keeps its values", () => {
    const before = tf.memory().numDataBuffers;
    const x = tf.tensor2d([
      [1, 2],
      [3, 4],
    ]);
    const copy = tf.clone(x);
    assert.equal(tf.memory().numDataBuffers - before, 1, "one buffer for the two tensors");
    x.dispose();
    assert.deepEqual(copy.arraySync(), [
      [1, 2],
      [3, 4],
    ]);
    copy.dispose();
    assert.equal(tf.memory().numDataBuffers, before);
  });

  it("gatherRows: rows, columns and middle axes by hand; an index out of range is refused", () => {
    const x = Float32Array.from({ length: 24 }, (_, i) => i); // shape [2, 3, 4]
    const out = new Float32Array(2 * 2 * 4);
    gatherRows(x, [2, 3, 4], 1, [2, 0], out);
    assert.deepEqual([...out], [8, 9, 10, 11, 0, 1, 2, 3, 20, 21, 22, 23, 12, 13, 14, 15]);
    const cols = new Float32Array(2 * 3);
    gatherRows(Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3], 1, [2, 2, 0], cols);
    assert.deepEqual([...cols], [3, 3, 1, 6, 6, 4]);
    assert.throws(() => gatherRows(x, [2, 3, 4], 1, [3], out), /index value 3 is not in \[0, 2\]/);
  });

  it("tf.gather on this backend equals the cpu backend's: embedding rows (float32), int32 values, a last axis, 2-D indices", async () => {
    const cases = () => {
      const table = tf.randomNormal([50, 24], 0, 1, "float32", 50);
      const ids = tf.tensor1d([49, 0, 7, 7, 13], "int32");
      return [
        tf.gather(table, ids),
        tf.gather(tf.tensor2d([10, 20, 30, 40, 50, 60], [2, 3], "int32"), tf.tensor1d([2, 0], "int32"), 1),
        tf.gather(tf.reshape(table, [2, 25, 24]), tf.tensor2d([1, 2, 3, 24], [2, 2], "int32"), 1),
      ].map((t) => ({ shape: t.shape, values: [...t.dataSync()] }));
    };
    const here = tf.tidy(() => cases());
    const backend = tf.getBackend();
    await tf.setBackend("cpu");
    const cpu = tf.tidy(() => cases());
    await tf.setBackend(backend);
    assert.deepEqual(here, cpu);
    assert.throws(() => tf.gather(tf.zeros([3, 2]), tf.tensor1d([3], "int32")), /index value 3 is not in \[0, 2\]/);
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
