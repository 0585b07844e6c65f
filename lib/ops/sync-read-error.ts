/**
 * The error of a synchronous read (`dataSync()`, `arraySync()`) that Node cannot do on a GPU tensor: the
 * WebGPU backend (backend-webgpu.ts) throws it, and code that has an asynchronous path (Linear4bit's
 * quantization) catches it to say which call to use instead.
 */
export const SYNC_READ_ERROR =
  "dataSync() / arraySync() cannot read a GPU tensor in Node: use `await t.data()` / `await t.array()`, or run on the CPU (COURSEKIT_BACKEND=wasm)";

/** A synchronous read that Node cannot do on a GPU tensor (its message is SYNC_READ_ERROR). */
export class SyncReadError extends Error {
  constructor(options?: { cause?: unknown }) {
    super(SYNC_READ_ERROR, options);
    this.name = "SyncReadError";
  }
}
