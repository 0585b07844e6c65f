/**
 * A faster BatchMatMul for the wasm backend: each matrix of the batch through XNNPACK.
 *
 * TensorFlow.js's wasm backend hands a product to XNNPACK (~20 GFLOP/s here) only when both operands are
 * single matrices; a batch (attention's per-head products, [B·H, T, d]) falls back to a naive triple loop
 * (~1.5 GFLOP/s), which made attention half of a training step. This kernel keeps the backend's own
 * implementation and calls it once per matrix of the batch on *views* into the operands' memory: a
 * view is a tensor id registered at an offset inside the existing buffer (no copy), used for one call
 * and released at once (which also frees the XNNPACK operator cached on it).
 *
 * Only the plain, non-broadcast case is taken over (A [n, m, k] · B [n, k, p], no transposes); every
 * other call goes to the backend's kernel unchanged. The kit's own matMul never asks for transposes
 * (lib/ops/matmul.ts), so attention takes this path both ways.
 */
import * as tf from "@tensorflow/tfjs";

/** What this kernel reads of the wasm backend (its public fields, typed here). */
interface WasmModule {
  HEAPF32: Float32Array;
  cwrap(name: string, ret: null, args: string[]): (...args: unknown[]) => void;
  tfjs: { registerTensor(id: number, size: number, offset: number): void; disposeData(id: number): void };
}
export interface WasmBackend {
  wasm: WasmModule;
  dataIdMap: { get(dataId: object): { id: number; memoryOffset: number } | undefined };
  dataIdNextNumber: number;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): tf.TypedArray;
  readSync(dataId: object): tf.TypedArray;
  incRef(dataId: object): void;
  disposeData(dataId: object): boolean;
}

type WasmBatchMatMul = (
  aId: number,
  aShape: Uint8Array,
  aRank: number,
  bId: number,
  bShape: Uint8Array,
  bRank: number,
  transposeA: number,
  transposeB: number,
  outId: number,
) => void;

const cwrapped = new WeakMap<object, WasmBatchMatMul>();

function nativeBatchMatMul(backend: WasmBackend): WasmBatchMatMul {
  let fn = cwrapped.get(backend);
  if (!fn) {
    fn = backend.wasm.cwrap("BatchMatMul", null, ["number", "array", "number", "number", "array", "number", "number", "number", "number"]) as WasmBatchMatMul;
    cwrapped.set(backend, fn);
  }
  return fn;
}

const shapeBytes = (shape: number[]) => new Uint8Array(new Int32Array(shape).buffer);

/** True when this call is the plain batched product the kernel takes over. */
export function takesOver(a: tf.TensorInfo, b: tf.TensorInfo, transposeA: boolean, transposeB: boolean): boolean {
  return (
    !transposeA &&
    !transposeB &&
    a.dtype === "float32" &&
    b.dtype === "float32" &&
    a.shape.length === 3 &&
    b.shape.length === 3 &&
    a.shape[0] === b.shape[0] &&
    a.shape[0] > 1 &&
    a.shape[2] === b.shape[1]
  );
}

/**
 * n products A_i [m, k] · B_i [k, p] → out_i [m, p] through the backend's single-matrix (XNNPACK) path, on
 * matrices stored one after another from the given byte offsets of wasm memory. Each matrix is passed as a
 * *view*: a tensor id registered at its offset (no copy), used for one call and released at once (which also
 * frees the XNNPACK operator cached on it). `b` may instead be an existing tensor (n = 1), whose id keeps
 * XNNPACK's packed copy of it from call to call.
 */
export function multiplyPairs(backend: WasmBackend, n: number, m: number, k: number, p: number, a: number, b: number | { id: object }, out: number): void {
  const native = nativeBatchMatMul(backend);
  const { registerTensor, disposeData } = backend.wasm.tfjs;
  const aShape = shapeBytes([1, m, k]);
  const bShape = shapeBytes([1, k, p]);
  const existingB = typeof b === "number" ? undefined : backend.dataIdMap.get(b.id)?.id;
  if (typeof b !== "number" && (existingB === undefined || n !== 1)) throw new Error("multiplyPairs: B must be in wasm memory, and alone");
  for (let i = 0; i < n; i++) {
    const aId = backend.dataIdNextNumber++;
    const bId = existingB ?? backend.dataIdNextNumber++;
    const outId = backend.dataIdNextNumber++;
    registerTensor(aId, m * k, a + 4 * i * m * k);
    if (typeof b === "number") registerTensor(bId, k * p, b + 4 * i * k * p);
    registerTensor(outId, m * p, out + 4 * i * m * p);
    try {
      native(aId, aShape, 3, bId, bShape, 3, 0, 0, outId);
    } finally {
      // Releases the views' ids (and XNNPACK's operator cached on a view of B); the memory is the operands'.
      disposeData(aId);
      if (bId !== existingB) disposeData(bId);
      disposeData(outId);
    }
  }
}

/** Where a tensor's values start in wasm memory (bytes). */
export function memoryOffsetOf(backend: WasmBackend, t: tf.TensorInfo): number {
  const info = backend.dataIdMap.get(t.dataId);
  if (!info) throw new Error("BatchMatMul (wasm): an operand is not in the backend's memory");
  return info.memoryOffset;
}

/** out[i] = a[i] · b[i] for every i, each through the backend's single-matrix (XNNPACK) path. */
export function batchMatMulBySlices(backend: WasmBackend, a: tf.TensorInfo, b: tf.TensorInfo): tf.TensorInfo {
  const [n, m, k] = a.shape;
  const p = b.shape[2];
  const out = backend.makeOutput([n, m, p], "float32");
  multiplyPairs(backend, n, m, k, p, memoryOffsetOf(backend, a), memoryOffsetOf(backend, b), memoryOffsetOf(backend, out));
  return out;
}
