/**
 * The words the main thread and a product helper thread (wasm-product-worker.ts) share: one Int32Array over a
 * SharedArrayBuffer per helper.
 */
export const CONTROL = {
  /** IDLE (0), JOB or QUIT: the main thread sets it and wakes the helper. */
  state: 0,
  /** 1 once the helper has written the products (the main thread waits on it). */
  done: 1,
  /** 0: the products are right; 1: the helper failed (the main thread computes them itself). */
  status: 2,
  /** The job: n pairs A [m, k] · B [k, p]. */
  n: 3,
  m: 4,
  k: 5,
  p: 6,
} as const;
export const CONTROL_WORDS = 8;
export const JOB = 1;
export const QUIT = 2;

/** What a helper is started with (plus a MessagePort that brings larger data buffers). */
export interface WorkerInput {
  control: SharedArrayBuffer;
}
