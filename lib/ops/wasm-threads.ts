/**
 * Matrix products on more than one core for the wasm backend.
 *
 * TensorFlow.js's wasm backend runs on one thread in Node (its threaded build is switched off there), so a
 * training step used one core however many the machine has. Here large products are split: the main thread
 * multiplies its share in place, and helper threads (lib/ops/wasm-product-worker.ts, each with its own copy of
 * the backend) multiply theirs on copies passed through shared memory:
 *
 *   - a 2-D product A [m, k] · B [k, p]: each thread takes a band of A's rows (and all of B);
 *   - a batch A [n, m, k] · B [n, k, p]: each thread takes some of the n pairs.
 *
 * Every thread runs the same XNNPACK kernel on whole rows, so the products are the same floats as on one
 * thread (tested). Small products (under MIN_MULTIPLY_ADDS) and products with little work per float a helper
 * would copy (worthSplitting: LoRA's rank-8 side, weight gradients, attention's 64 × 64 heads) stay on the main
 * thread: copying and waking a helper costs more than it saves there.
 *
 * How many threads: COURSEKIT_THREADS, else the number of cores up to 4; 1 turns the helpers off.
 * `setProductThreads(n)` changes it at run time. Helpers start on the first large product and take work
 * once they are ready (until then the main thread does it all); they never keep the process alive.
 * A helper that fails, exits or stops answering shuts the helpers down with a warning; its share, and every
 * product after it, is computed on the main thread.
 */
import * as os from "node:os";
import * as path from "node:path";
import { MessageChannel, Worker, type MessagePort } from "node:worker_threads";
import type * as tf from "@tensorflow/tfjs";
import { CONTROL, CONTROL_WORDS, JOB, QUIT, type WorkerInput } from "./wasm-thread-protocol";
import { memoryOffsetOf, multiplyPairs, type WasmBackend } from "./wasm-batch-matmul";

/** Products with fewer multiply-adds than this stay on one thread (~0.1 ms of work at XNNPACK's speed here). */
export const MIN_MULTIPLY_ADDS = 1 << 21;
/** See worthSplitting (timed per product inside a LoRA training step: 57 for [1024, 128]·[128, 128] pays, 21 does not). */
export const MIN_MULTIPLY_ADDS_PER_FLOAT = 48;
/** How long the main thread waits for a helper's share before doing it itself and shutting helpers down. */
const HELPER_TIMEOUT_MS = 20000;

interface Helper {
  worker: Worker;
  control: Int32Array;
  port: MessagePort;
  data: Float32Array;
  ready: boolean;
}

let wanted = threadsFromEnv();
let helpers: Helper[] = [];
let stoppedBecause = "";
/** Products split so far (counted for tests and the bench). */
let splitCount = 0;

function threadsFromEnv(): number {
  const raw = process.env.COURSEKIT_THREADS;
  if (raw === undefined || raw === "") return Math.max(1, Math.min(4, os.availableParallelism()));
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`COURSEKIT_THREADS must be a whole number ≥ 1 (1: one thread), got "${raw}"`);
  return n;
}

/**
 * The threads products may use (the main thread included), how many are ready now, how many products have
 * been split so far, and why the helpers were shut down if they were.
 */
export function productThreads(): { wanted: number; ready: number; split: number; stopped?: string } {
  return { wanted, ready: 1 + helpers.filter((h) => h.ready).length, split: splitCount, ...(stoppedBecause ? { stopped: stoppedBecause } : {}) };
}

/** Uses up to `n` threads for large products from now on (1: the main thread only). Returns once the helpers are ready. */
export async function setProductThreads(n: number): Promise<void> {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`setProductThreads: expected a whole number ≥ 1, got ${n}`);
  stopHelpers();
  stoppedBecause = "";
  wanted = n;
  startHelpers();
  await Promise.all(
    helpers.map(
      (h) =>
        new Promise<void>((resolve, reject) => {
          if (h.ready) return resolve();
          h.worker.once("message", () => resolve());
          h.worker.once("error", reject);
          h.worker.once("exit", () => resolve());
        }),
    ),
  );
}

function startHelpers(): void {
  if (helpers.length > 0 || stoppedBecause || wanted <= 1) return;
  // The helper is TypeScript: tsx (a dependency of the kit) compiles it, whatever runs the main thread.
  const execArgv = ["--require", require.resolve("tsx/cjs")];
  for (let i = 1; i < wanted; i++) {
    const controlBuffer = new SharedArrayBuffer(CONTROL_WORDS * Int32Array.BYTES_PER_ELEMENT);
    const { port1, port2 } = new MessageChannel();
    const workerData: WorkerInput & { port: MessagePort } = { control: controlBuffer, port: port2 };
    const worker = new Worker(path.join(__dirname, "wasm-product-worker.ts"), { workerData, transferList: [port2], execArgv });
    const helper: Helper = { worker, control: new Int32Array(controlBuffer), port: port1, data: new Float32Array(0), ready: false };
    worker.on("message", (m: unknown) => {
      if (m === "ready") {
        helper.ready = true;
        worker.unref(); // from now on it never keeps the process alive
      } else stopHelpers(`a helper thread reported: ${String(m)}`);
    });
    worker.on("error", (e) => stopHelpers(`a helper thread failed: ${e.message}`));
    worker.on("exit", (code) => {
      if (helpers.includes(helper)) stopHelpers(`a helper thread exited (code ${code})`);
    });
    port1.unref();
    helpers.push(helper);
  }
}

/** The helper threads running now (for diagnostics and tests). */
export function helperThreads(): readonly Worker[] {
  return helpers.map((h) => h.worker);
}

function stopHelpers(why = ""): void {
  if (why && !stoppedBecause) {
    stoppedBecause = why;
    console.warn(`matrix products: back to one thread (${why})`);
  }
  const stopping = helpers;
  helpers = [];
  for (const h of stopping) {
    Atomics.store(h.control, CONTROL.state, QUIT);
    Atomics.notify(h.control, CONTROL.state);
    void h.worker.terminate();
    h.port.close();
  }
}

/**
 * Whether a helper's half of the product has enough multiply-adds per float it copies (its operands in, its
 * products out): a deep, narrow product (LoRA's r = 8 side) or a batch of small matrices costs more to copy
 * than it saves.
 */
function worthSplitting(n: number, m: number, k: number, p: number): boolean {
  const half = n > 1 ? { n: n / 2, m } : { n: 1, m: m / 2 };
  const copied = half.n * (half.m * k + k * p + half.m * p);
  return (half.n * half.m * k * p) / copied >= MIN_MULTIPLY_ADDS_PER_FLOAT;
}

/** One thread's share: pairs [from, to) of a batch, or rows [from, to) of a single product. */
interface Share {
  helper?: Helper;
  from: number;
  to: number;
}

function shares(count: number, threads: Helper[]): Share[] {
  const parts = threads.length + 1;
  const bounds = Array.from({ length: parts + 1 }, (_, i) => Math.round((i * count) / parts));
  return bounds.slice(0, -1).map((from, i) => ({ helper: i === 0 ? undefined : threads[i - 1], from, to: bounds[i + 1] }));
}

/**
 * out = a · b on several threads, for a plain product (no transposes, float32) of two matrices or of two
 * batches of the same size. Returns null when the product is small, or no helper is ready: the caller
 * computes it as before.
 */
export function multiplyOnThreads(backend: WasmBackend, a: tf.TensorInfo, b: tf.TensorInfo): tf.TensorInfo | null {
  if (wanted <= 1 || a.dtype !== "float32" || b.dtype !== "float32") return null;
  const rank = a.shape.length;
  if (rank !== b.shape.length || (rank !== 2 && rank !== 3)) return null;
  const n = rank === 3 ? a.shape[0] : 1;
  const [m, k] = a.shape.slice(-2);
  const p = b.shape[rank - 1];
  if ((rank === 3 && b.shape[0] !== n) || b.shape[rank - 2] !== k || n * m * k * p < MIN_MULTIPLY_ADDS) return null;
  if (!worthSplitting(n, m, k, p)) return null;
  startHelpers();
  const ready = helpers.filter((h) => h.ready);
  // A batch is split by pairs, one product by bands of rows.
  const byPairs = n > 1;
  if (ready.length === 0 || (byPairs ? n : m) < 2) return null;
  const work = shares(byPairs ? n : m, ready.slice(0, (byPairs ? n : m) - 1));
  const out = backend.makeOutput(rank === 3 ? [n, m, p] : [m, p], "float32");
  splitCount++;
  const offsets = { a: memoryOffsetOf(backend, a), b: memoryOffsetOf(backend, b), out: memoryOffsetOf(backend, out) };
  const jobOf = (s: Share) =>
    byPairs
      ? { n: s.to - s.from, m, a: offsets.a + 4 * s.from * m * k, b: offsets.b + 4 * s.from * k * p, out: offsets.out + 4 * s.from * m * p }
      : { n: 1, m: s.to - s.from, a: offsets.a + 4 * s.from * k, b: offsets.b, out: offsets.out + 4 * s.from * p };
  // 1. Hand each helper its operands and wake it.
  for (const s of work) if (s.helper) post(backend, s.helper, jobOf(s), k, p);
  // 2. The main thread's share, in place (the whole B keeps its id, so XNNPACK reuses its packed copy).
  const own = jobOf(work[0]);
  multiplyPairs(backend, own.n, own.m, k, p, own.a, byPairs ? own.b : { id: b.dataId }, own.out);
  // 3. Collect the helpers' products (or compute a share here if its helper failed).
  for (const s of work) {
    if (!s.helper) continue;
    const job = jobOf(s);
    if (!collect(backend, s.helper, job, k, p)) multiplyPairs(backend, job.n, job.m, k, p, job.a, byPairs ? job.b : { id: b.dataId }, job.out);
  }
  return out;
}

interface Job {
  n: number;
  m: number;
  /** Byte offsets in the main thread's wasm memory. */
  a: number;
  b: number;
  out: number;
}

function post(backend: WasmBackend, h: Helper, job: Job, k: number, p: number): void {
  const aSize = job.n * job.m * k;
  const bSize = job.n * k * p;
  const need = aSize + bSize + job.n * job.m * p;
  if (h.data.length < need) {
    const buffer = new SharedArrayBuffer(4 * Math.ceil(need * 1.25));
    h.data = new Float32Array(buffer);
    h.port.postMessage(buffer);
  }
  const heap = backend.wasm.HEAPF32;
  h.data.set(heap.subarray(job.a / 4, job.a / 4 + aSize), 0);
  h.data.set(heap.subarray(job.b / 4, job.b / 4 + bSize), aSize);
  const c = h.control;
  c[CONTROL.n] = job.n;
  c[CONTROL.m] = job.m;
  c[CONTROL.k] = k;
  c[CONTROL.p] = p;
  Atomics.store(c, CONTROL.done, 0);
  Atomics.store(c, CONTROL.state, JOB);
  Atomics.notify(c, CONTROL.state);
}

/** Copies a helper's products into place; false when it failed or did not answer in time. */
function collect(backend: WasmBackend, h: Helper, job: Job, k: number, p: number): boolean {
  if (!helpers.includes(h)) return false; // shut down while this product was being computed
  const c = h.control;
  if (Atomics.wait(c, CONTROL.done, 0, HELPER_TIMEOUT_MS) === "timed-out") {
    stopHelpers(`a helper thread did not answer within ${HELPER_TIMEOUT_MS / 1000} s`);
    return false;
  }
  if (c[CONTROL.status] !== 0) {
    stopHelpers("a helper thread could not multiply");
    return false;
  }
  const outSize = job.n * job.m * p;
  const start = job.n * job.m * k + job.n * k * p;
  backend.wasm.HEAPF32.set(h.data.subarray(start, start + outSize), job.out / 4);
  return true;
}
