/**
 * TensorFlow.js on WebGPU in Node: Dawn's Node binding (the npm package `webgpu`, an optional dependency that
 * carries prebuilt binaries for Linux, macOS and Windows) with `@tensorflow/tfjs-backend-webgpu`.
 *
 *   1. Dawn's default backend (Vulkan, Metal or D3D12) is asked for a high-performance adapter: a real GPU.
 *   2. Without one, Dawn's OpenGL ES backend on EGL's surfaceless platform: with Debian's `libegl1
 *      libegl-mesa0 libgles2` it gives Mesa's llvmpipe, a software adapter (slower than wasm); CI tests the
 *      backend on it. A software adapter is used only when webgpu is forced (`hardwareOnly` otherwise).
 *   3. The device is requested with the adapter's own limits (TensorFlow.js uses workgroups of 256 invocations,
 *      more than WebGPU's default 128), and the "webgpu" backend is registered on it.
 *
 * Node has no synchronous GPU reads (TensorFlow.js's `dataSync()` on webgpu goes through an OffscreenCanvas,
 * which Node lacks): read with `await t.data()`. A tensor whose values are still on the CPU (made from an array
 * and not yet used by a kernel) reads as usual; any other synchronous read fails with SYNC_READ_ERROR, which
 * says what to do, instead of "OffscreenCanvas is not defined".
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { registerWebGpuKernels } from "./ops/webgpu-kernels";
import { SyncReadError } from "./ops/sync-read-error";

export { SYNC_READ_ERROR, SyncReadError } from "./ops/sync-read-error";

/** What was found: the adapter's description and whether it is a software rasteriser. */
export interface WebGpuAdapter {
  description: string;
  software: boolean;
}

/** The subset of Dawn's binding this file uses. */
export interface DawnGpu {
  requestAdapter(options?: Record<string, unknown>): Promise<DawnAdapter | null>;
}
export interface DawnModule {
  create(flags: string[]): DawnGpu;
  globals: Record<string, unknown>;
}
export interface DawnAdapter {
  info: { vendor: string; architecture: string; device: string; description: string; isFallbackAdapter?: boolean };
  limits: Record<string, number>;
  requestDevice(descriptor: { requiredLimits: Record<string, number> }): Promise<unknown>;
}

const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|softpipe|swiftshader|software/i;

function describe(adapter: DawnAdapter): WebGpuAdapter {
  const { vendor, architecture, device, description } = adapter.info;
  const text = [vendor, architecture, device, description].filter((s) => s).join(", ");
  return { description: text, software: adapter.info.isFallbackAdapter === true || SOFTWARE_ADAPTER.test(text) };
}

/**
 * Linux reaches a GPU through Vulkan: without its loader (libvulkan.so.1, in ld.so's cache or on
 * LD_LIBRARY_PATH) there is no hardware adapter, and asking Dawn would only print a warning.
 */
function vulkanLoaderFound(): boolean {
  if (process.platform !== "linux") return true;
  const name = "libvulkan.so.1";
  const dirs = (process.env.LD_LIBRARY_PATH ?? "").split(":").filter((d) => d);
  if (dirs.some((d) => fs.existsSync(path.join(d, name)))) return true;
  try {
    return fs.readFileSync("/etc/ld.so.cache").includes(name);
  } catch {
    return true; // no cache to read (an unusual system): let Dawn look
  }
}

/**
 * Finds an adapter: a hardware one first; then, unless `hardwareOnly`, Mesa's software one through OpenGL ES.
 * Null with the reason when there is none (or only a software one and `hardwareOnly`).
 */
export async function findAdapter(
  dawn: DawnModule,
  hardwareOnly: boolean,
  hasVulkanLoader: () => boolean = vulkanLoaderFound,
): Promise<{ adapter: DawnAdapter | null; gpu?: DawnGpu; why: string }> {
  if (hardwareOnly && !hasVulkanLoader()) return { adapter: null, why: "no GPU adapter (no Vulkan loader, libvulkan.so.1)" };
  const defaultGpu = dawn.create([]);
  const first = await defaultGpu.requestAdapter({ powerPreference: "high-performance" });
  const found = first && describe(first);
  if (first && found && !found.software) return { adapter: first, gpu: defaultGpu, why: "" };
  if (hardwareOnly) {
    const what = found ? `only a software adapter (${found.description}), slower than wasm` : "no GPU adapter";
    return { adapter: null, why: `${what}; COURSEKIT_BACKEND=webgpu forces it` };
  }
  if (first) return { adapter: first, gpu: defaultGpu, why: "" };
  process.env.EGL_PLATFORM ??= "surfaceless"; // read when Dawn opens its EGL display
  const glesGpu = dawn.create(["backend=opengles"]);
  const gles = await glesGpu.requestAdapter({ featureLevel: "compatibility" });
  return gles
    ? { adapter: gles, gpu: glesGpu, why: "" }
    : { adapter: null, why: "no adapter, not even OpenGL ES (Debian/Ubuntu: apt-get install libegl1 libegl-mesa0 libgles2)" };
}

/**
 * Registers and activates the "webgpu" backend; returns the adapter, or throws an Error saying why it cannot
 * (package not installed, no adapter; with `hardwareOnly`, only a software adapter).
 */
export async function setupWebGpuBackend(opts: { hardwareOnly?: boolean } = {}): Promise<WebGpuAdapter> {
  let dawn: DawnModule;
  try {
    dawn = (await import("webgpu")) as unknown as DawnModule;
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new Error(code === "MODULE_NOT_FOUND" || code === "ERR_MODULE_NOT_FOUND" ? "not installed (npm install webgpu)" : `failed to load: ${String(e)}`, {
      cause: e,
    });
  }
  const { adapter, gpu, why } = await findAdapter(dawn, opts.hardwareOnly ?? false);
  if (!adapter) throw new Error(why);
  Object.assign(globalThis, dawn.globals); // GPUBufferUsage, GPUMapMode, … which the tfjs backend reads as globals
  const requiredLimits: Record<string, number> = {};
  for (const key in adapter.limits) {
    const value = adapter.limits[key];
    if (typeof value === "number") requiredLimits[key] = value;
  }
  const device = await adapter.requestDevice({ requiredLimits });
  // The tfjs backend checks for navigator.gpu (Node 20 has no navigator at all).
  const nav = ((globalThis as { navigator?: Record<string, unknown> }).navigator ??= {});
  if (!nav.gpu) Object.defineProperty(nav, "gpu", { value: gpu, configurable: true });
  const { WebGPUBackend } = require("@tensorflow/tfjs-backend-webgpu") as typeof import("@tensorflow/tfjs-backend-webgpu");
  if (tf.findBackendFactory("webgpu")) tf.removeBackend("webgpu");
  tf.registerBackend("webgpu", () =>
    withClearSyncReadError(new WebGPUBackend(device as ConstructorParameters<typeof WebGPUBackend>[0], adapter.info as never)),
  );
  registerWebGpuKernels();
  if (!(await tf.setBackend("webgpu"))) throw new Error("tf.setBackend('webgpu') refused the device");
  await tf.ready();
  return describe(adapter);
}

/** The backend with its readSync failing clearly where Node cannot read synchronously (see SYNC_READ_ERROR). */
function withClearSyncReadError<B extends tf.KernelBackend>(backend: B): B {
  const readSync = backend.readSync.bind(backend);
  backend.readSync = (dataId: object) => {
    try {
      return readSync(dataId);
    } catch (e) {
      if (!("OffscreenCanvas" in globalThis)) throw new SyncReadError({ cause: e });
      throw e;
    }
  };
  return backend;
}
