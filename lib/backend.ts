/**
 * Choosing a TensorFlow.js backend at run time.
 *
 * The fastest backend that can load wins: WebGPU on a GPU, then `@tensorflow/tfjs-node-gpu` (CUDA), then
 * `@tensorflow/tfjs-node` (native libtensorflow), then WebAssembly, then the plain-JavaScript `cpu` backend.
 * The two native packages download libtensorflow when they are installed, so the kit never depends on them:
 * they are picked up only if a user installed them (see README, "GPU and native backends").
 *
 * WebGPU (Dawn's `webgpu` package, any GPU; backend-webgpu.ts) comes first when Dawn finds a hardware adapter:
 * a software one (Mesa's llvmpipe, lavapipe, SwiftShader) is slower than wasm, so it is skipped unless forced.
 * Node cannot read a GPU tensor synchronously, so the library and the notebooks read with `await`
 * (util/read.ts); merging into a 4-bit base needs `mergeAsync()` there. Forced, webgpu takes a hardware
 * adapter, else Mesa's software one.
 *
 * On wasm, large matrix products also use helper threads (ops/wasm-threads.ts; COURSEKIT_THREADS, default
 * the cores up to 4), which the banner states.
 *
 * Set `COURSEKIT_BACKEND` to one of `webgpu`, `tensorflow-gpu`, `tensorflow`, `wasm`, `cpu` to force a choice.
 */
import * as tf from "@tensorflow/tfjs";
import { registerWasmKernels } from "./ops/wasm-kernels";
import { registerGradients } from "./ops/gradients";
import { setupWebGpuBackend } from "./backend-webgpu";
import { productThreads } from "./ops/wasm-threads";

export type BackendChoice = "webgpu" | "tensorflow-gpu" | "tensorflow" | "wasm" | "cpu";
/** Tried in this order unless COURSEKIT_BACKEND forces one (webgpu on a hardware adapter only, see above). */
export const BACKEND_ORDER: readonly BackendChoice[] = ["webgpu", "tensorflow-gpu", "tensorflow", "wasm", "cpu"];

export interface BackendInfo {
  /** What we asked for (the forced value or the first that loaded). */
  choice: BackendChoice;
  /** tf.getBackend() after initialisation ("tensorflow" for both native packages). */
  backend: string;
  /** Why the backends before it were skipped. */
  skipped: string[];
  /** Whether COURSEKIT_BACKEND forced the choice. */
  forced: boolean;
  /** webgpu: the adapter in use ("…, llvmpipe (software)"). */
  adapter?: string;
}

let current: BackendInfo | null = null;
let pending: Promise<BackendInfo> | null = null;

let webgpuAdapter: string | undefined;

async function tryWebGpu(forced: boolean): Promise<string | null> {
  try {
    const adapter = await setupWebGpuBackend({ hardwareOnly: !forced });
    webgpuAdapter = `${adapter.description}${adapter.software ? " (software)" : ""}`;
    return null;
  } catch (e) {
    return (e as Error).message.split("\n")[0];
  }
}

/** Tries to make `choice` the active backend; returns null on success or the reason it could not. */
async function tryBackend(choice: BackendChoice, forced: boolean): Promise<string | null> {
  if (choice === "webgpu") return tryWebGpu(forced);
  try {
    if (choice === "tensorflow-gpu") require("@tensorflow/tfjs-node-gpu");
    else if (choice === "tensorflow") require("@tensorflow/tfjs-node");
    else if (choice === "wasm") {
      require("@tensorflow/tfjs-backend-wasm");
      registerWasmKernels(); // the faster replacements need the package loaded
    }
  } catch (e) {
    const code = (e as { code?: string }).code;
    return code === "MODULE_NOT_FOUND" ? "not installed" : `failed to load: ${(e as Error).message.split("\n")[0]}`;
  }
  const name = choice === "tensorflow-gpu" ? "tensorflow" : choice;
  try {
    const ok = await tf.setBackend(name);
    if (!ok) return "setBackend refused it";
    await tf.ready();
    return null;
  } catch (e) {
    return `failed to initialise: ${(e as Error).message.split("\n")[0]}`;
  }
}

function parseForced(value: string | undefined): BackendChoice | null {
  if (value === undefined || value === "") return null;
  const v = value.trim().toLowerCase();
  const aliases: Record<string, BackendChoice> = {
    webgpu: "webgpu",
    "tensorflow-gpu": "tensorflow-gpu",
    "node-gpu": "tensorflow-gpu",
    gpu: "tensorflow-gpu",
    tensorflow: "tensorflow",
    node: "tensorflow",
    wasm: "wasm",
    cpu: "cpu",
  };
  const choice = aliases[v];
  if (!choice) {
    throw new Error(`COURSEKIT_BACKEND="${value}" is not a backend this kit knows. Use one of: ${BACKEND_ORDER.join(", ")}.`);
  }
  return choice;
}

/**
 * Initialises the best available backend once (later calls return the same answer).
 * Registers the kit's wasm kernel fixes and prints one line saying what it chose unless `quiet`.
 */
export function initBackend(opts: { quiet?: boolean } = {}): Promise<BackendInfo> {
  if (current) return Promise.resolve(current);
  if (!pending) pending = chooseBackend(opts.quiet ?? false);
  return pending;
}

async function chooseBackend(quiet: boolean): Promise<BackendInfo> {
  tf.env().set("PROD", true); // silences tfjs's "install tfjs-node" banner
  const forced = parseForced(process.env.COURSEKIT_BACKEND);
  const candidates = forced ? [forced] : BACKEND_ORDER;
  const skipped: string[] = [];
  for (const choice of candidates) {
    const reason = await tryBackend(choice, forced !== null);
    if (reason === null) {
      if (choice === "wasm") registerWasmKernels();
      registerGradients();
      current = { choice, backend: tf.getBackend(), skipped, forced: forced !== null, ...(choice === "webgpu" ? { adapter: webgpuAdapter } : {}) };
      if (!quiet) console.log(describeBackend(current));
      return current;
    }
    skipped.push(`${choice}: ${reason}`);
  }
  pending = null;
  throw new Error(
    forced
      ? `COURSEKIT_BACKEND=${forced} was requested but it cannot be used (${skipped.join("; ")}). Unset it to let the kit choose.`
      : `No TensorFlow.js backend could be initialised (${skipped.join("; ")}). Run \`npm run setup\`.`,
  );
}

/** One readable line: which backend runs and why the faster ones did not. */
export function describeBackend(info: BackendInfo): string {
  const why = info.forced ? " (forced by COURSEKIT_BACKEND)" : info.skipped.length ? ` (skipped ${info.skipped.join(", ")})` : "";
  const adapter = info.adapter ? ` on ${info.adapter}` : "";
  const { wanted } = productThreads();
  const threads = info.choice === "wasm" ? `, large products on ${wanted} thread${wanted > 1 ? "s" : ""}` : "";
  return `TensorFlow.js backend: ${info.choice}${adapter}${threads}${why}`;
}

/** The backend chosen so far, or null before initBackend() resolved. */
export function backendInfo(): BackendInfo | null {
  return current;
}
