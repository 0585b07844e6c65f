/**
 * A helper thread for the wasm backend's matrix products (started by lib/ops/wasm-threads.ts).
 *
 * The wasm backend has no threads in Node, and its memory is not shared, so this thread runs its own copy of
 * the backend. The main thread hands it part of a product through shared memory: `n` pairs of matrices
 * A [m, k] and B [k, p] (the rows of a large 2-D product, or some matrices of a batch), written into a
 * SharedArrayBuffer; this thread copies them into its wasm memory, multiplies each pair with the backend's
 * own single-matrix kernel (XNNPACK, the same code as on the main thread, so the same floats come out),
 * and writes the products back.
 *
 * Control words (Int32Array over `control`, see wasm-threads.ts): the main thread writes the sizes, sets
 * STATE to JOB and wakes this thread; it sets DONE when the products are written (STATUS 1 if it failed).
 */
import { parentPort, receiveMessageOnPort, workerData, type MessagePort } from "node:worker_threads";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-wasm";
import { CONTROL, JOB, QUIT, type WorkerInput } from "./wasm-thread-protocol";
import { multiplyPairs, type WasmBackend } from "./wasm-batch-matmul";

const { control, port } = workerData as WorkerInput & { port: MessagePort };
const ctrl = new Int32Array(control);
let data = new Float32Array(0);

/** Wasm memory this thread keeps for its operands and products (grown when a job needs more). */
let scratch: tf.Tensor | null = null;

function scratchOffset(backend: WasmBackend, floats: number): number {
  if (!scratch || scratch.size < floats) {
    scratch?.dispose();
    scratch = tf.zeros([Math.max(floats, 2 * (scratch?.size ?? 0))]);
  }
  const info = backend.dataIdMap.get(scratch.dataId);
  if (!info) throw new Error("the helper thread's scratch tensor is not in wasm memory");
  return info.memoryOffset;
}

/** Multiplies the job's n pairs of matrices (operands and products laid out one after another in `data`). */
function multiply(backend: WasmBackend): void {
  const n = ctrl[CONTROL.n];
  const m = ctrl[CONTROL.m];
  const k = ctrl[CONTROL.k];
  const p = ctrl[CONTROL.p];
  const aSize = n * m * k;
  const bSize = n * k * p;
  const outSize = n * m * p;
  const base = scratchOffset(backend, aSize + bSize + outSize);
  const heap = backend.wasm.HEAPF32;
  heap.set(data.subarray(0, aSize + bSize), base / 4);
  multiplyPairs(backend, n, m, k, p, base, base + 4 * aSize, base + 4 * (aSize + bSize));
  const outStart = base / 4 + aSize + bSize;
  data.set(backend.wasm.HEAPF32.subarray(outStart, outStart + outSize), aSize + bSize);
}

async function main(): Promise<void> {
  tf.env().set("PROD", true);
  if (!(await tf.setBackend("wasm"))) throw new Error("the wasm backend did not start in the helper thread");
  const backend = tf.backend() as unknown as WasmBackend;
  parentPort?.postMessage("ready");
  for (;;) {
    Atomics.wait(ctrl, CONTROL.state, 0);
    const state = Atomics.load(ctrl, CONTROL.state);
    if (state === QUIT) return;
    if (state !== JOB) continue;
    // A larger shared buffer arrives as a message before the job that needs it.
    for (let msg = receiveMessageOnPort(port); msg; msg = receiveMessageOnPort(port)) data = new Float32Array(msg.message as SharedArrayBuffer);
    let status = 0;
    try {
      multiply(backend);
    } catch (e) {
      status = 1;
      parentPort?.postMessage(`failed: ${e instanceof Error ? e.message : String(e)}`);
    }
    Atomics.store(ctrl, CONTROL.status, status);
    Atomics.store(ctrl, CONTROL.state, 0);
    Atomics.store(ctrl, CONTROL.done, 1);
    Atomics.notify(ctrl, CONTROL.done);
  }
}

main().catch((e: unknown) => parentPort?.postMessage(`failed: ${e instanceof Error ? e.message : String(e)}`));
