/**
 * The webgpu backend (Dawn's `webgpu` package; lib/backend-webgpu.ts) against wasm, for every PEFT method:
 * forward logits, the gradient of every trainable tensor, and the logits after merging must agree within
 * float32 tolerance. Here there is no GPU: COURSEKIT_BACKEND=webgpu forces Mesa's software adapter (OpenGL ES,
 * llvmpipe), which `npm run setup` installs. The webgpu side runs in a child process
 * (test/webgpu/method-results.ts), so that this process keeps its wasm backend. In CI a missing adapter fails.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { setupBackend } from "../helpers";
import { METHOD_CONFIGS, methodResult, MethodResult, quantizeAfterUse, trainingRun } from "../webgpu/method-results";
import * as tf from "@tensorflow/tfjs";
import { SYNC_READ_ERROR } from "../../lib/backend-webgpu";

const ROOT = path.resolve(__dirname, "..", "..");
const IN_CI = !!process.env.CI && process.env.CI !== "false";

interface ChildOutput {
  backend: string;
  adapter: string | null;
  addN29Error: number;
  training: Awaited<ReturnType<typeof trainingRun>>;
  results: Record<string, MethodResult>;
  syncReads: { fromArray: number[]; computed: string; quantizeComputed: string };
  asyncReads: { scalar: number; rows: number[][]; diff: number; leaked: number };
  quantizeAfterUse: Awaited<ReturnType<typeof quantizeAfterUse>>;
}

const maxAbs = (xs: number[]) => xs.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
const maxDiff = (a: number[], b: number[]) => {
  assert.equal(a.length, b.length, "same length");
  return a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);
};

describe("webgpu backend (Dawn, software adapter) equals wasm", function () {
  this.timeout(600000);
  let gpu: ChildOutput | undefined;
  let why = "";

  before(async function () {
    await setupBackend();
    const r = spawnSync(process.execPath, ["--import", "tsx", path.join(__dirname, "..", "webgpu", "method-results.ts")], {
      cwd: ROOT,
      env: { ...process.env, COURSEKIT_BACKEND: "webgpu" },
      encoding: "utf8",
      timeout: 480000,
      maxBuffer: 64 << 20,
    });
    const line = r.stdout.trim().split("\n").pop() ?? "";
    if (r.status === 0 && line.startsWith("{")) gpu = JSON.parse(line) as ChildOutput;
    else
      why = `exit ${r.status}: ${(r.stderr || r.stdout)
        .split("\n")
        .filter((l) => l && !l.startsWith("Warning"))
        .slice(-6)
        .join("\n")}`;
  });

  const needGpu = (ctx: Mocha.Context): ChildOutput => {
    if (gpu) return gpu;
    if (IN_CI) assert.fail(`the webgpu backend could not run (npm run setup installs libegl1 libegl-mesa0 libgles2): ${why}`);
    ctx.skip();
  };

  it("COURSEKIT_BACKEND=webgpu runs on an adapter it names; AddN over 29 inputs is right (chunked under the 16-buffer limit)", function () {
    const g = needGpu(this);
    assert.equal(g.backend, "webgpu");
    assert.ok(g.adapter && g.adapter.length > 0, "the adapter is named");
    assert.ok(g.addN29Error <= 1e-3, `addN error ${g.addN29Error}`);
  });

  it("a synchronous read of a GPU tensor fails with a message that says what to do (values still on the CPU read as usual)", function () {
    const g = needGpu(this);
    assert.deepEqual(g.syncReads.fromArray, [1, 2, 3, 4]);
    assert.equal(g.syncReads.computed, SYNC_READ_ERROR);
    assert.match(g.syncReads.computed, /await t\.data\(\)/);
  });

  it("readScalar / readArray / maxAbsDiff (what the notebooks read with) read GPU-computed tensors and free what they built", function () {
    const g = needGpu(this);
    // x = [[1, 2], [3, 4]]: x·x = [[7, 10], [15, 22]], its sum 54, and max |x·x − x| = 18
    assert.equal(g.asyncReads.scalar, 54);
    assert.deepEqual(g.asyncReads.rows, [
      [7, 10],
      [15, 22],
    ]);
    assert.equal(g.asyncReads.diff, 18);
    assert.equal(g.asyncReads.leaked, 0);
  });

  it("quantizing a weight the GPU computed synchronously (merge() into a QLoRA base) fails saying to use mergeAsync()", function () {
    const g = needGpu(this);
    assert.match(g.syncReads.quantizeComputed, /^Linear4bit: quantizing a weight that webgpu computed/);
    assert.match(g.syncReads.quantizeComputed, /await peft\.mergeAsync\(\)/);
  });

  it("quantizing a model that already ran (weights on the GPU only): quantizeLinears fails clearly, quantizeLinearsAsync gives wasm's 4-bit weights", async function () {
    const g = needGpu(this);
    assert.match(g.quantizeAfterUse.syncError, /^Linear4bit: quantizing a weight that webgpu computed/);
    const want = await quantizeAfterUse(tf.getBackend());
    assert.equal(want.syncError, "quantized", "on wasm the synchronous path works");
    assert.equal(g.quantizeAfterUse.dequantized.length, 64 * 64);
    assert.deepEqual(g.quantizeAfterUse.dequantized, want.dequantized);
  });

  it("the training loop and evaluation run on webgpu (asynchronous reads) and give wasm's losses and predictions", async function () {
    const g = needGpu(this);
    const want = await trainingRun(tf.getBackend());
    assert.equal(g.training.losses.length, 6, "6 steps");
    assert.ok(maxDiff(g.training.losses, want.losses) <= 1e-4, `losses ${g.training.losses} vs ${want.losses}`);
    assert.ok(want.losses[5] < want.losses[0], "the loss went down");
    assert.ok(Math.abs(g.training.validationLoss - want.validationLoss) <= 1e-4);
    assert.deepEqual(g.training.predictions, want.predictions);
    assert.equal(g.training.leaked, 0, "tensors left behind by training on webgpu");
  });

  for (const method of Object.keys(METHOD_CONFIGS)) {
    it(`${method}: forward, every gradient and merge equal wasm's${method === "qlora" ? " (mergeAsync on webgpu, merge on wasm)" : ""}; no tensor left behind on webgpu`, async function () {
      const g = needGpu(this);
      const want = await methodResult(method, tf.getBackend());
      const got = g.results[method];
      assert.ok(maxDiff(got.logits, want.logits) <= 1e-4, `logits differ by ${maxDiff(got.logits, want.logits)}`);
      assert.ok(maxDiff(got.merged, want.merged) <= 1e-4, `merged logits differ by ${maxDiff(got.merged, want.merged)}`);
      assert.deepEqual(Object.keys(got.grads).sort(), Object.keys(want.grads).sort(), "the same trainable tensors");
      assert.ok(Object.keys(want.grads).length > 0);
      for (const [name, w] of Object.entries(want.grads)) {
        const d = maxDiff(got.grads[name], w);
        assert.ok(d <= 1e-4 + 1e-3 * maxAbs(w), `${name}: gradients differ by ${d} (largest ${maxAbs(w)})`);
      }
      assert.ok(maxAbs(Object.values(want.grads).flat()) > 0, "the gradients are not all zero");
      if (method === "qlora") {
        assert.equal(want.syncMerge, "merged", "on wasm, merge() merges");
        assert.match(got.syncMerge ?? "", /to merge an adapter into a 4-bit base, `await peft\.mergeAsync\(\)`/, "on webgpu, merge() says to use mergeAsync()");
      }
      assert.equal(got.leaked, 0, "tensors left behind on webgpu");
      assert.equal(want.leaked, 0, "tensors left behind on wasm");
    });
  }
});
