/**
 * The kit's SIMD kernels for wasm (assembly/kernels.ts → lib/ops/simd-kernels.wasm, lib/ops/wasm-simd.ts):
 * the committed module is what `npm run build:wasm` makes and writes nothing of its own into the backend's
 * memory; Transpose equals the cpu backend's exactly; GELU and layer norm, with their gradients, equal values
 * known by hand and TensorFlow.js's own ops, and leave no tensor behind.
 */
import * as tf from "@tensorflow/tfjs";
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { gelu, geluByOps } from "../../lib/nn/activations";
import { LayerNorm } from "../../lib/nn/layernorm";
import { AdamW } from "../../lib/train/adamw";
import { hasFewRows, lastTwoSwapped, SIMD_KERNELS_FILE, smallProduct } from "../../lib/ops/wasm-simd";
import { setupBackend } from "../helpers";

const ROOT = path.resolve(__dirname, "..", "..");

/** The ids of a wasm binary's sections (1 type, 2 import, 3 function, 7 export, 10 code, 11 data, …). */
function sectionIds(bytes: Uint8Array): number[] {
  const ids: number[] = [];
  let at = 8; // magic and version
  while (at < bytes.length) {
    ids.push(bytes[at++]);
    let size = 0;
    for (let shift = 0; ; shift += 7) {
      const b = bytes[at++];
      size |= (b & 0x7f) << shift;
      if (b < 0x80) break;
    }
    at += size;
  }
  return ids;
}

/** Runs `fn` on the cpu backend and comes back to wasm. */
async function onCpu<T>(fn: () => T): Promise<T> {
  await tf.setBackend("cpu");
  try {
    return fn();
  } finally {
    await tf.setBackend("wasm");
  }
}

describe("SIMD kernels for wasm (transpose, GELU, layer norm)", function () {
  this.timeout(120000);
  before(setupBackend);

  it("the committed module is what `npm run build:wasm` compiles, imports only the backend's memory and has no data of its own", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "simd-"));
    const fresh = path.join(dir, "kernels.wasm");
    execFileSync(
      process.execPath,
      [require.resolve("assemblyscript/bin/asc"), "assembly/kernels.ts", "-O3", "--runtime", "stub", "--importMemory", "--enable", "simd", "-o", fresh],
      { cwd: ROOT },
    );
    const committed = fs.readFileSync(SIMD_KERNELS_FILE);
    assert.ok(committed.equals(fs.readFileSync(fresh)), "lib/ops/simd-kernels.wasm is out of date: run npm run build:wasm");
    fs.rmSync(dir, { recursive: true });
    const WA = (globalThis as unknown as { WebAssembly: { Module: { new (b: Uint8Array): object; imports(m: object): object[] } } }).WebAssembly;
    assert.deepEqual(WA.Module.imports(new WA.Module(committed)), [{ module: "env", name: "memory", kind: "memory" }]);
    assert.ok(!sectionIds(committed).includes(11), "a data section would be written into TensorFlow.js's memory");
    assert.ok(sectionIds(committed).includes(10), "the module has code (the section parser works)");
  });

  it("recognises a swap of the last two axes, and only that", () => {
    assert.deepEqual(lastTwoSwapped([4, 5], [1, 0]), { batch: 1, rows: 4, cols: 5 });
    assert.deepEqual(lastTwoSwapped([2, 3, 4, 5], [0, 1, 3, 2]), { batch: 6, rows: 4, cols: 5 });
    assert.equal(lastTwoSwapped([2, 3, 4], [1, 0, 2]), null);
    assert.equal(lastTwoSwapped([2, 3, 4, 5], [0, 2, 1, 3]), null);
    assert.equal(lastTwoSwapped([5], [0]), null);
  });

  const shapes: Array<[number[], number[], tf.DataType]> = [
    [[1024, 512], [1, 0], "float32"],
    [[1023, 130], [1, 0], "float32"],
    [[32, 64, 64], [0, 2, 1], "float32"],
    [[3, 7, 5], [0, 2, 1], "int32"],
    [[2, 3, 5, 6], [0, 1, 3, 2], "float32"],
    [[1, 3], [1, 0], "float32"],
    [[4, 6, 2], [1, 0, 2], "float32"], // not a last-two swap: the backend's own kernel
  ];
  for (const [shape, perm, dtype] of shapes) {
    it(`Transpose [${shape}] by [${perm}] (${dtype}) equals the cpu backend's exactly, gradient included`, async () => {
      const size = shape.reduce((a, b) => a * b, 1);
      const values = Array.from({ length: size }, (_, i) => (dtype === "int32" ? i - 7 : Math.sin(i) * 100));
      const before = tf.memory().numTensors;
      const x = tf.tensor(values, shape, dtype);
      const got = tf.transpose(x, perm);
      const grad = dtype === "float32" ? tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.transpose(v, perm), tf.range(0, size).reshape(got.shape))))(x) : null;
      const [gotValues, gotGrad] = [await got.data(), grad ? await grad.data() : null];
      assert.deepEqual(
        got.shape,
        perm.map((p) => shape[p]),
      );
      tf.dispose([x, got, grad as tf.Tensor]);
      assert.equal(tf.memory().numTensors, before);
      const want = await onCpu(() => {
        const cx = tf.tensor(values, shape, dtype);
        const t = tf.transpose(cx, perm);
        const g = dtype === "float32" ? tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.transpose(v, perm), tf.range(0, size).reshape(t.shape))))(cx) : null;
        const out = { values: t.dataSync(), grad: g ? g.dataSync() : null };
        tf.dispose([cx, t, g as tf.Tensor]);
        return out;
      });
      assert.deepEqual(gotValues, want.values);
      assert.deepEqual(gotGrad, want.grad);
    });
  }

  it("GELU and its gradient equal values known by hand: Φ(1) = 0.8413447, gelu'(x) = Φ(x) + x·φ(x)", async () => {
    const x = tf.tensor1d([0, 1, -1, 2, -3]);
    const y = await gelu(x).data();
    const want = [0, 0.8413447460685429, -0.15865525393145707, 1.9544997361036416, -0.0040496940948903];
    want.forEach((w, i) => assert.ok(Math.abs(y[i] - w) <= 1e-6, `gelu(${[0, 1, -1, 2, -3][i]}) = ${y[i]}, expected ${w}`));
    const g = await tf
      .grad((v: tf.Tensor) => tf.sum(gelu(v)))(x)
      .data();
    const wantGrad = [0.5, 1.0833154705876864, -0.0833154705876863, 1.0852318010781969, -0.011945647204184];
    wantGrad.forEach((w, i) => assert.ok(Math.abs(g[i] - w) <= 1e-6, `gelu'(${[0, 1, -1, 2, -3][i]}) = ${g[i]}, expected ${w}`));
  });

  it("GELU on wasm equals TensorFlow.js's ops within 1e-6, gradient too, for every length (the SIMD tail) and large |x|; nothing left behind", () => {
    for (const n of [1, 2, 3, 4, 5, 7, 1000, 16 * 64 * 512 + 3]) {
      const x = tf.tidy(() => tf.concat([tf.mul(tf.randomNormal([n], 0, 1, "float32", n), 3), tf.tensor1d([-100, -9, 9, 100])]));
      const dy = tf.randomNormal(x.shape, 0, 1, "float32", 7);
      const before = tf.memory().numTensors;
      const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(gelu(x), geluByOps(x)))).dataSync()[0]);
      const gradDiff = tf.tidy(() => {
        const mine = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(gelu(v), dy)))(x);
        const ops = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(geluByOps(v), dy)))(x);
        return tf.max(tf.abs(tf.sub(mine, ops))).dataSync()[0];
      });
      assert.equal(tf.memory().numTensors, before);
      assert.ok(diff <= 1e-6 * 100, `n = ${n}: values differ by ${diff}`); // |x| up to 100: 1e-6 relative
      assert.ok(gradDiff <= 2e-6 * 4, `n = ${n}: gradients differ by ${gradDiff}`);
      tf.dispose([x, dy]);
    }
  });

  it("LayerNorm on wasm equals TensorFlow.js's ops: values and the gradients of x, weight and bias", () => {
    const ln = new LayerNorm(128);
    tf.tidy(() => {
      ln.weight.assign(tf.randomNormal([128], 1, 0.3, "float32", 1));
      ln.bias.assign(tf.randomNormal([128], 0, 0.3, "float32", 2));
    });
    const x = tf.tidy(() => tf.add(tf.mul(tf.randomNormal([4, 5, 128], 0, 1, "float32", 3), 2), 0.5));
    const dy = tf.randomNormal([4, 5, 128], 0, 1, "float32", 4);
    const before = tf.memory().numTensors;
    const diff = (a: tf.Tensor, b: tf.Tensor) => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0];
    tf.tidy(() => {
      assert.ok(diff(ln.forward(x), ln.forwardByOps(x)) <= 2e-5, "values");
      const loss = (f: (v: tf.Tensor) => tf.Tensor) => () => tf.sum(tf.mul(f(x), dy)) as tf.Scalar;
      const mine = tf.variableGrads(
        loss((v) => ln.forward(v)),
        [ln.weight, ln.bias],
      );
      const ops = tf.variableGrads(
        loss((v) => ln.forwardByOps(v)),
        [ln.weight, ln.bias],
      );
      assert.ok(Math.abs(mine.value.dataSync()[0] - ops.value.dataSync()[0]) <= 1e-3);
      for (const name of [ln.weight.name, ln.bias.name]) assert.ok(diff(mine.grads[name], ops.grads[name]) <= 1e-4, `gradient of ${name}`);
      const dx = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(ln.forward(v), dy)))(x);
      const dxOps = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(ln.forwardByOps(v), dy)))(x);
      assert.ok(diff(dx, dxOps) <= 1e-4, `gradient of x differs by ${diff(dx, dxOps)}`);
    });
    assert.equal(tf.memory().numTensors, before, "nothing left behind (the gradients not asked for included)");
    tf.dispose([x, dy]);
    ln.dispose();
  });

  it("LayerNorm: a hand-checked row; a size that is not a multiple of 4 goes through the ops; a wrong width is refused", async () => {
    const ln = new LayerNorm(4, 0);
    // x = [1, 2, 3, 6]: μ = 3, σ² = (4 + 1 + 0 + 9)/4 = 3.5 → (x − 3)/√3.5
    const y = await ln.forward(tf.tensor2d([[1, 2, 3, 6]])).data();
    [-2, -1, 0, 3].forEach((c, i) => assert.ok(Math.abs(y[i] - c / Math.sqrt(3.5)) <= 1e-6));
    const odd = new LayerNorm(6);
    const x6 = tf.randomNormal([3, 6], 0, 1, "float32", 5);
    assert.ok((await tf.max(tf.abs(tf.sub(odd.forward(x6), odd.forwardByOps(x6)))).data())[0] === 0);
    assert.throws(() => ln.forward(tf.ones([2, 8])), /LayerNorm\(4\): the input's last axis is 8/);
  });

  it("AdamW on wasm (one kernel a parameter) gives the parameters the cpu backend's TensorFlow.js ops give, over 3 steps (so the moments agree too)", async () => {
    const shapes: Array<[string, number[]]> = [
      ["layer.weight", [37, 5]], // weight decay, an odd size (the SIMD tail)
      ["layer.bias", [8]], // no weight decay
    ];
    const run = async (): Promise<number[][]> => {
      /** Values fixed in JavaScript (the same on both backends). */
      const seq = (shape: number[], seed: number) =>
        tf.tensor(
          Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(seed * 7.1 + i * 1.3)),
          shape,
        );
      const params = shapes.map(([name, shape], i): [string, tf.Variable] => [name, tf.variable(seq(shape, i + 1))]);
      const opt = new AdamW(params, { lr: 0.05, weightDecay: 0.1 });
      const before = tf.memory().numTensors;
      for (let step = 0; step < 3; step++) {
        const grads = Object.fromEntries(params.map(([, p], i) => [p.name, seq(p.shape, 10 * step + i + 5)]));
        await opt.apply(grads);
        tf.dispose(Object.values(grads));
      }
      assert.equal(tf.memory().numTensors, before, "an update leaves nothing behind");
      const out = await Promise.all(params.map(([, p]) => p.data()));
      opt.dispose();
      params.forEach(([, p]) => p.dispose());
      return out.map((a) => Array.from(a));
    };
    const wasm = await run();
    await tf.setBackend("cpu");
    const cpu = await run().finally(() => tf.setBackend("wasm"));
    wasm.forEach((values, k) =>
      values.forEach((v, i) => assert.ok(Math.abs(v - cpu[k][i]) <= 1e-6 * Math.max(1, Math.abs(v)), `${shapes[k][0]}[${i}]: ${v} vs ${cpu[k][i]}`)),
    );
    assert.notDeepEqual(wasm[0].slice(0, 3), [0, 0, 0]);
  });

  it("decides which products are small enough for matmulSmall (attention's heads, LoRA's rank side) and which are not", () => {
    const info = (shape: number[]) => ({ dataId: {}, shape, dtype: "float32" as const });
    assert.deepEqual(smallProduct(info([32, 64, 64]), info([32, 64, 64])), { batch: 32, m: 64, k: 64, n: 64 });
    assert.deepEqual(smallProduct(info([1024, 8]), info([8, 512])), { batch: 1, m: 1024, k: 8, n: 512 });
    assert.deepEqual(smallProduct(info([1024, 128]), info([128, 8])), { batch: 1, m: 1024, k: 128, n: 8 });
    assert.equal(smallProduct(info([1024, 128]), info([128, 512])), null, "a large product stays with XNNPACK (and the helper threads)");
    assert.equal(smallProduct(info([4, 256, 256]), info([4, 256, 256])), null, "a batch of large matrices too");
    assert.equal(smallProduct(info([2, 8, 8]), info([3, 8, 8])), null, "batches of different sizes (broadcasting) are not taken");
  });

  const small: Array<[number[], number[]]> = [
    [
      [32, 64, 64],
      [32, 64, 64],
    ], // attention's per-head products
    [
      [3, 7, 5],
      [3, 5, 9],
    ], // rows not a multiple of 4, columns not of 8
    [
      [1024, 8],
      [8, 512],
    ], // LoRA: (x·Aᵀ)·Bᵀ
    [
      [1024, 128],
      [128, 8],
    ], // LoRA: x·Aᵀ
    [
      [5, 130],
      [130, 3],
    ],
  ];
  for (const [sa, sb] of small) {
    it(`a small product [${sa}]·[${sb}] goes through matmulSmall and equals the cpu backend's`, async () => {
      const size = (s: number[]) => s.reduce((x, y) => x * y, 1);
      const [av, bv] = [Array.from({ length: size(sa) }, (_, i) => Math.sin(3 + i * 0.7)), Array.from({ length: size(sb) }, (_, i) => Math.cos(i * 0.3))];
      const [a, b] = [tf.tensor(av, sa), tf.tensor(bv, sb)];
      assert.ok(smallProduct(a, b));
      const before = tf.memory().numTensors;
      const c = tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D);
      const got = await c.data();
      assert.deepEqual(c.shape, [...sa.slice(0, -1), sb[sb.length - 1]]);
      c.dispose();
      assert.equal(tf.memory().numTensors, before, "nothing left behind");
      const want = await onCpu(() =>
        tf.tidy(() => {
          const [x, y]: tf.Tensor[] = [tf.tensor(av, sa), tf.tensor(bv, sb)];
          return tf.matMul(x as tf.Tensor2D, y as tf.Tensor2D).dataSync();
        }),
      );
      got.forEach((v, i) => assert.ok(Math.abs(v - want[i]) <= 1e-5 * Math.max(1, Math.abs(want[i])), `entry ${i}: ${v} vs ${want[i]}`));
      tf.dispose([a, b]);
    });
  }

  for (const [k, m, n] of [
    [1024, 128, 8], // LoRA's A gradient, xᵀ·dC
    [1024, 512, 8],
    [37, 13, 5], // edges: m not a multiple of 4, n not of 8
  ]) {
    it(`a narrow weight gradient aᵀ·g ([${k},${m}]ᵀ·[${k},${n}]) without transposing a equals the cpu backend's, and tf.grad uses it`, async () => {
      const [av, gv] = [Array.from({ length: k * m }, (_, i) => Math.sin(i * 0.37)), Array.from({ length: k * n }, (_, i) => Math.cos(1 + i * 0.11))];
      const a = tf.tensor2d(av, [k, m]);
      const g = tf.tensor2d(gv, [k, n]);
      // d/dB of Σ (A·B) ⊙ G is Aᵀ·G: the gradient the tape forms for B
      const b = tf.zeros([m, n]);
      const grad = tf.grad((bb: tf.Tensor) => tf.sum(tf.mul(tf.matMul(a, bb as tf.Tensor2D), g)))(b);
      const got = await grad.data();
      const want = await onCpu(() => tf.tidy(() => tf.matMul(tf.tensor2d(av, [k, m]), tf.tensor2d(gv, [k, n]), true, false).dataSync()));
      // float32 sums of k terms of size ~1 (the cpu backend sums in float64): an error of ~√k·1e-7 is expected
      got.forEach((v, i) => assert.ok(Math.abs(v - want[i]) <= 1e-5 * Math.max(1, Math.abs(want[i])) + 1e-7 * k, `entry ${i}: ${v} vs ${want[i]}`));
      tf.dispose([a, g, b, grad]);
    });
  }

  const fewRows: Array<[number[], number[]]> = [
    [
      [8, 1024],
      [1024, 128],
    ], // the gradient of LoRA's A: dhᵀ·x
    [
      [3, 200],
      [200, 130],
    ], // a width that is not a multiple of 4
    [
      [16, 64],
      [64, 256],
    ],
    [
      [1, 4096],
      [4096, 5],
    ],
  ];
  for (const [sa, sb] of fewRows) {
    it(`a product with few rows [${sa}]·[${sb}] goes through the SIMD kernel and equals the cpu backend's`, async () => {
      const fill = (shape: number[], seed: number) => Array.from({ length: shape[0] * shape[1] }, (_, i) => Math.sin(seed + i * 0.7));
      const [av, bv] = [fill(sa, 1), fill(sb, 2)];
      const [a, b] = [tf.tensor2d(av, sa as [number, number]), tf.tensor2d(bv, sb as [number, number])];
      assert.ok(hasFewRows(a, b), "taken over by the kernel");
      const before = tf.memory().numTensors;
      const c = tf.matMul(a, b);
      const got = await c.data();
      c.dispose();
      assert.equal(tf.memory().numTensors, before, "nothing left behind");
      const want = await onCpu(() => tf.tidy(() => tf.matMul(tf.tensor2d(av, sa as [number, number]), tf.tensor2d(bv, sb as [number, number])).dataSync()));
      assert.equal(got.length, sa[0] * sb[1]);
      got.forEach((v, i) => assert.ok(Math.abs(v - want[i]) <= 1e-5 * Math.max(1, Math.abs(want[i])), `entry ${i}: ${v} vs ${want[i]}`));
      tf.dispose([a, b]);
    });
  }
});
