/**
 * Matrix products on helper threads (lib/ops/wasm-threads.ts): the same floats as on one thread, bit for bit
 * (every thread runs XNNPACK on whole rows), for single products split by rows and batches split by pairs,
 * with odd sizes; small products stay on the main thread; nothing is left behind.
 */
import * as tf from "@tensorflow/tfjs";
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { matMul } from "../../lib/ops/matmul";
import { helperThreads, MIN_MULTIPLY_ADDS, productThreads, setProductThreads } from "../../lib/ops/wasm-threads";
import { setupBackend } from "../helpers";

const ROOT = path.resolve(__dirname, "..", "..");

describe("matrix products on helper threads (wasm)", function () {
  this.timeout(120000);
  before(setupBackend);
  after(() => setProductThreads(productThreads().wanted));

  const cases: Array<[string, number[], number[]]> = [
    ["one product, split by rows", [1024, 128], [128, 512]],
    ["one product with an odd number of rows", [1023, 160], [160, 130]],
    ["a batch, split by pairs", [4, 256, 256], [4, 256, 256]],
    ["a batch of odd size", [3, 200, 160], [3, 160, 190]],
  ];

  for (const [name, sa, sb] of cases) {
    it(`${name} [${sa}]·[${sb}]: the same floats on 1, 2 and 3 threads`, async () => {
      assert.ok(sa.reduce((x, y) => x * y, 1) * sb[sb.length - 1] >= MIN_MULTIPLY_ADDS, "large enough to be split");
      const [a, b] = [tf.randomNormal(sa, 0, 1, "float32", 1), tf.randomNormal(sb, 0, 1, "float32", 2)];
      const results: Float32Array[] = [];
      for (const threads of [1, 2, 3]) {
        await setProductThreads(threads);
        assert.equal(productThreads().ready, threads);
        const before = tf.memory().numTensors;
        const splitBefore = productThreads().split;
        const c = matMul(a, b);
        results.push((await c.data()) as Float32Array);
        c.dispose();
        assert.equal(tf.memory().numTensors, before, "no tensor left behind");
        assert.equal(productThreads().split - splitBefore, threads > 1 ? 1 : 0, "split on helpers exactly when there are some");
      }
      const outShape = [...sa.slice(0, -1), sb[sb.length - 1]];
      assert.equal(
        results[0].length,
        outShape.reduce((x, y) => x * y, 1),
      );
      assert.deepEqual(results[1], results[0], "2 threads = 1 thread");
      assert.deepEqual(results[2], results[0], "3 threads = 1 thread");
      tf.dispose([a, b]);
    });
  }

  it("the product's gradient on 2 threads equals 1 thread's", async () => {
    const [a, b] = [tf.randomNormal([512, 256], 0, 1, "float32", 3), tf.randomNormal([256, 192], 0, 1, "float32", 4)];
    const grads = async (threads: number) => {
      await setProductThreads(threads);
      const g = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.square(matMul(x, y))))([a, b]);
      const values = await Promise.all(g.map((t) => t.data()));
      tf.dispose(g);
      return values;
    };
    const one = await grads(1);
    const splitBefore = productThreads().split;
    const two = await grads(2);
    assert.equal(productThreads().split - splitBefore, 3, "the forward product and both gradient products were split");
    assert.deepEqual(two, one);
    tf.dispose([a, b]);
  });

  const notSplit: Array<[string, number[], number[]]> = [
    ["a small product", [64, 64], [64, 64]],
    ["a deep, narrow product (a weight gradient: more to copy than to compute)", [128, 1024], [1024, 128]],
    ["LoRA's rank-8 side", [1024, 8], [8, 512]],
    ["a batch of small matrices (attention's heads)", [32, 64, 64], [32, 64, 64]],
  ];
  for (const [name, sa, sb] of notSplit) {
    it(`${name} [${sa}]·[${sb}] stays on the main thread`, async () => {
      await setProductThreads(2);
      const [a, b] = [tf.ones(sa), tf.ones(sb)];
      const splitBefore = productThreads().split;
      const c = matMul(a, b);
      assert.equal((await c.data())[0], sa[sa.length - 1]);
      assert.equal(productThreads().split, splitBefore);
      tf.dispose([a, b, c]);
    });
  }

  it("a helper thread that exits: the helpers stop with a warning, and products (the same floats) run on the main thread", async () => {
    const [a, b] = [tf.randomNormal([1024, 128], 0, 1, "float32", 5), tf.randomNormal([128, 512], 0, 1, "float32", 6)];
    await setProductThreads(1);
    const one = matMul(a, b);
    const want = await one.data();
    one.dispose();
    await setProductThreads(3);
    const warnings: string[] = [];
    const warn = console.warn;
    console.warn = (...args: unknown[]) => warnings.push(args.join(" "));
    try {
      const [helper] = helperThreads();
      const exited = new Promise((resolve) => helper.once("exit", resolve));
      await helper.terminate();
      await exited;
    } finally {
      console.warn = warn;
    }
    assert.deepEqual(warnings, ["matrix products: back to one thread (a helper thread exited (code 1))"]);
    assert.equal(helperThreads().length, 0, "the other helper was shut down too");
    const state = productThreads();
    assert.equal(state.ready, 1);
    assert.match(state.stopped ?? "", /a helper thread exited/);
    const splitBefore = state.split;
    const c = matMul(a, b);
    assert.deepEqual(await c.data(), want);
    assert.equal(productThreads().split, splitBefore, "not split any more");
    tf.dispose([a, b, c]);
  });

  it("COURSEKIT_THREADS sets the thread count; a bad value gets an error that says what is allowed", () => {
    const run = (value: string) =>
      spawnSync(
        process.execPath,
        ["--import", "tsx", "-e", 'const t = require("./lib/ops/wasm-threads"); console.log(JSON.stringify(t.productThreads().wanted));'],
        { cwd: ROOT, env: { ...process.env, COURSEKIT_THREADS: value }, encoding: "utf8" },
      );
    assert.equal(run("3").stdout.trim(), "3");
    const bad = run("many");
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /COURSEKIT_THREADS must be a whole number ≥ 1 \(1: one thread\), got "many"/);
  });
});
