/**
 * Choosing the backend: webgpu comes first, on a hardware adapter only (a software one is slower than wasm and
 * is used only when COURSEKIT_BACKEND=webgpu forces it). The adapter decision is tested on a stand-in for
 * Dawn's module (no GPU here); the whole choice in a fresh process, as a student's kernel makes it.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { BACKEND_ORDER } from "../../lib/backend";
import { DawnAdapter, DawnModule, findAdapter } from "../../lib/backend-webgpu";

const ROOT = path.resolve(__dirname, "..", "..");

/** An adapter as Dawn describes it. */
const adapter = (description: string, isFallbackAdapter = false): DawnAdapter => ({
  info: { vendor: "", architecture: "", device: "", description, isFallbackAdapter },
  limits: {},
  requestDevice: () => Promise.resolve({}),
});

/** Dawn with one adapter (or none) behind its default backend and one behind OpenGL ES; records what was asked. */
function fakeDawn(first: DawnAdapter | null, gles: DawnAdapter | null): DawnModule & { created: string[][] } {
  const created: string[][] = [];
  return {
    created,
    globals: {},
    create: (flags: string[]) => {
      created.push(flags);
      return { requestAdapter: () => Promise.resolve(flags.includes("backend=opengles") ? gles : first) };
    },
  };
}

describe("choosing the backend: webgpu first, on a hardware adapter only", () => {
  it("tries webgpu first, then the native packages, wasm and cpu", () => {
    assert.deepEqual(BACKEND_ORDER, ["webgpu", "tensorflow-gpu", "tensorflow", "wasm", "cpu"]);
  });

  it("takes a hardware adapter, automatic or forced", async () => {
    const gpu = adapter("NVIDIA GeForce RTX 4070");
    for (const hardwareOnly of [true, false]) {
      const found = await findAdapter(fakeDawn(gpu, null), hardwareOnly, () => true);
      assert.equal(found.adapter, gpu);
    }
  });

  it("refuses a software adapter when choosing automatically, saying how to force it; forced, it takes one", async () => {
    for (const soft of [adapter("llvmpipe (LLVM 15.0.6, 256 bits)"), adapter("SwiftShader Device (Subzero)"), adapter("Some GPU", true)]) {
      const auto = await findAdapter(fakeDawn(soft, null), true, () => true);
      assert.equal(auto.adapter, null);
      assert.match(auto.why, /^only a software adapter \(.*\), slower than wasm; COURSEKIT_BACKEND=webgpu forces it$/);
      const forced = await findAdapter(fakeDawn(soft, null), false, () => true);
      assert.equal(forced.adapter, soft);
    }
  });

  it("without a default adapter: forced, it falls back to OpenGL ES (Mesa); automatic, it never asks for it", async () => {
    const mesa = adapter("llvmpipe");
    const forced = fakeDawn(null, mesa);
    assert.equal((await findAdapter(forced, false, () => true)).adapter, mesa);
    assert.deepEqual(forced.created, [[], ["backend=opengles"]]);
    const auto = fakeDawn(null, mesa);
    const found = await findAdapter(auto, true, () => true);
    assert.equal(found.adapter, null);
    assert.equal(found.why, "no GPU adapter; COURSEKIT_BACKEND=webgpu forces it");
    assert.deepEqual(auto.created, [[]]);
  });

  it("on Linux without a Vulkan loader it does not ask Dawn at all (no GPU is reachable)", async () => {
    const dawn = fakeDawn(adapter("NVIDIA"), null);
    const found = await findAdapter(dawn, true, () => false);
    assert.equal(found.adapter, null);
    assert.match(found.why, /libvulkan\.so\.1/);
    assert.deepEqual(dawn.created, []);
  });

  it("a fresh process without a GPU skips webgpu with the reason in its banner and runs on wasm", function () {
    this.timeout(60000);
    const env: NodeJS.ProcessEnv = { ...process.env, COURSEKIT_THREADS: "1" };
    delete env.COURSEKIT_BACKEND;
    const r = spawnSync(process.execPath, ["--import", "tsx", "-e", 'require("./lib/backend").initBackend().then(() => process.exit(0))'], {
      cwd: ROOT,
      env,
      encoding: "utf8",
      timeout: 50000,
    });
    assert.equal(r.status, 0, r.stderr);
    const banner = r.stdout.trim().split("\n").pop() ?? "";
    assert.match(banner, /^TensorFlow\.js backend: wasm, large products on 1 thread \(skipped webgpu: no GPU adapter/);
  });
});
