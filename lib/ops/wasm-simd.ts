/**
 * The kit's SIMD kernels for the wasm backend (assembly/kernels.ts, compiled to simd-kernels.wasm by
 * `npm run build:wasm`): a transpose of the last two axes, GELU and layer normalisation with their gradients,
 * an AdamW update, and products of small or narrow matrices, each one kernel where TensorFlow.js's own take several or are slow (its Transpose
 * computes every element's address from strides; its GELU is Erf, Exp and ~8 element-wise kernels; a layer
 * norm ~9 forward, ~20 back; AdamW ~14 a parameter; XNNPACK repacks the whole right operand of every product,
 * which costs more than the product itself for attention's 64 × 64 heads and LoRA's rank-r side).
 *
 * The module is instantiated on the backend's own WebAssembly memory, so the kernels read their inputs and
 * write their outputs in place, at the tensors' offsets: no copies. (It has no data of its own to place in
 * that memory: test/unit/wasm-simd.test.ts checks.)
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type * as tf from "@tensorflow/tfjs";
import { memoryOffsetOf, type WasmBackend } from "./wasm-batch-matmul";

interface SimdExports {
  transpose(src: number, dst: number, batch: number, rows: number, cols: number): void;
  gelu(x: number, out: number, n: number): void;
  geluGrad(x: number, dy: number, dx: number, n: number): void;
  layerNorm(x: number, w: number, b: number, y: number, rows: number, d: number, eps: number): void;
  layerNormGrad(x: number, w: number, dy: number, dx: number, dw: number, db: number, rows: number, d: number, eps: number): void;
  matmulFewRows(a: number, b: number, c: number, m: number, k: number, n: number): void;
  matmulSmall(a: number, b: number, c: number, batch: number, m: number, k: number, n: number): void;
  matmulTransposedA(a: number, b: number, c: number, m: number, k: number, n: number): void;
  adamw(p: number, m: number, v: number, g: number, pOut: number, mOut: number, vOut: number, n: number, ...coefficients: number[]): void;
}

/** The parts of the WebAssembly API used here (the project's TypeScript settings have no DOM types). */
interface WebAssemblyApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { exports: unknown };
  Memory: abstract new (...args: never[]) => object;
}
const WA = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;

/** The backend's WebAssembly memory (emscripten's module keeps it as `asm.memory`). */
interface WithMemory {
  wasm: { asm?: { memory?: unknown } };
}

export const SIMD_KERNELS_FILE = path.join(__dirname, "simd-kernels.wasm");

let compiled: object | null = null;
const instances = new WeakMap<object, SimdExports>();

function kernelsFor(backend: WasmBackend): SimdExports {
  let k = instances.get(backend);
  if (!k) {
    const memory = (backend as unknown as WithMemory).wasm.asm?.memory;
    if (!(memory instanceof WA.Memory)) throw new Error("wasm SIMD kernels: the wasm backend's memory is not reachable (TensorFlow.js changed?)");
    compiled ??= new WA.Module(fs.readFileSync(SIMD_KERNELS_FILE));
    k = new WA.Instance(compiled, { env: { memory } }).exports as unknown as SimdExports;
    instances.set(backend, k);
  }
  return k;
}

const sizeOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * The permutation's batch and matrix shape when it swaps the last two axes and keeps the others
 * ([1, 0]; [0, 2, 1]; [0, 1, 3, 2] …), else null.
 */
export function lastTwoSwapped(shape: number[], perm: number[]): { batch: number; rows: number; cols: number } | null {
  const r = shape.length;
  if (r < 2 || perm.length !== r || perm[r - 2] !== r - 1 || perm[r - 1] !== r - 2) return null;
  for (let i = 0; i < r - 2; i++) if (perm[i] !== i) return null;
  return { batch: sizeOf(shape.slice(0, -2)), rows: shape[r - 2], cols: shape[r - 1] };
}

/** x with its last two axes swapped (float32 or int32: the kernel moves 4-byte words). */
export function transposeLastTwo(backend: WasmBackend, x: tf.TensorInfo, m: { batch: number; rows: number; cols: number }): tf.TensorInfo {
  const out = backend.makeOutput([...x.shape.slice(0, -2), m.cols, m.rows], x.dtype);
  kernelsFor(backend).transpose(memoryOffsetOf(backend, x), memoryOffsetOf(backend, out), m.batch, m.rows, m.cols);
  return out;
}

/** gelu(x) = x·Φ(x), float32. */
export function geluKernel(backend: WasmBackend, x: tf.TensorInfo): tf.TensorInfo {
  const out = backend.makeOutput(x.shape, "float32");
  kernelsFor(backend).gelu(memoryOffsetOf(backend, x), memoryOffsetOf(backend, out), sizeOf(x.shape));
  return out;
}

/** dy · gelu'(x), float32. */
export function geluGradKernel(backend: WasmBackend, x: tf.TensorInfo, dy: tf.TensorInfo): tf.TensorInfo {
  const out = backend.makeOutput(x.shape, "float32");
  kernelsFor(backend).geluGrad(memoryOffsetOf(backend, x), memoryOffsetOf(backend, dy), memoryOffsetOf(backend, out), sizeOf(x.shape));
  return out;
}

/** Layer norm over the last axis (its size a multiple of 4): y = (x − μ)/√(σ² + eps)·w + b, float32. */
export function layerNormKernel(backend: WasmBackend, x: tf.TensorInfo, w: tf.TensorInfo, b: tf.TensorInfo, eps: number): tf.TensorInfo {
  const d = x.shape[x.shape.length - 1];
  const y = backend.makeOutput(x.shape, "float32");
  const at = (t: tf.TensorInfo) => memoryOffsetOf(backend, t);
  kernelsFor(backend).layerNorm(at(x), at(w), at(b), at(y), sizeOf(x.shape) / d, d, eps);
  return y;
}

/** The layer norm's gradients [dx, dw, db] for the output gradient dy. */
export function layerNormGradKernel(backend: WasmBackend, x: tf.TensorInfo, w: tf.TensorInfo, dy: tf.TensorInfo, eps: number): tf.TensorInfo[] {
  const d = x.shape[x.shape.length - 1];
  const [dx, dw, db] = [backend.makeOutput(x.shape, "float32"), backend.makeOutput([d], "float32"), backend.makeOutput([d], "float32")];
  const at = (t: tf.TensorInfo) => memoryOffsetOf(backend, t);
  kernelsFor(backend).layerNormGrad(at(x), at(w), at(dy), at(dx), at(dw), at(db), sizeOf(x.shape) / d, d, eps);
  return [dx, dw, db];
}

/** AdamW's coefficients for one parameter (see lib/train/adamw.ts). */
export interface AdamWCoefficients {
  beta1: number;
  beta2: number;
  eps: number;
  /** 1 − lr·λ, or 1 without weight decay. */
  decay: number;
  /** √(1 − β₂ᵗ). */
  sqrtBc2: number;
  /** lr / (1 − β₁ᵗ). */
  stepSize: number;
}

/** One AdamW update of a float32 parameter: [p', m', v']. */
export function adamwKernel(
  backend: WasmBackend,
  p: tf.TensorInfo,
  m: tf.TensorInfo,
  v: tf.TensorInfo,
  g: tf.TensorInfo,
  c: AdamWCoefficients,
): tf.TensorInfo[] {
  const outs = [p, m, v].map((t) => backend.makeOutput(t.shape, "float32"));
  const at = (t: tf.TensorInfo) => memoryOffsetOf(backend, t);
  kernelsFor(backend).adamw(
    at(p),
    at(m),
    at(v),
    at(g),
    at(outs[0]),
    at(outs[1]),
    at(outs[2]),
    sizeOf(p.shape),
    c.beta1,
    1 - c.beta1,
    c.beta2,
    1 - c.beta2,
    c.eps,
    c.decay,
    c.sqrtBc2,
    c.stepSize,
  );
  return outs;
}

/** At most this many rows on the left: a product goes through matmulFewRows (LoRA's ranks are 1–16). */
export const FEW_ROWS = 16;

/**
 * Whether a · b (plain 2-D float32, no transposes) is a product with few rows and enough work that repacking
 * b would dominate it: m ≤ FEW_ROWS and b with at least 16,384 values.
 */
export function hasFewRows(a: tf.TensorInfo, b: tf.TensorInfo): boolean {
  return (
    a.shape.length === 2 && b.shape.length === 2 && a.dtype === "float32" && b.dtype === "float32" && a.shape[0] <= FEW_ROWS && b.shape[0] * b.shape[1] >= 16384
  );
}

/** c = a · b for a [m, k] with few rows, b [k, n]. */
export function matmulFewRowsKernel(backend: WasmBackend, a: tf.TensorInfo, b: tf.TensorInfo): tf.TensorInfo {
  const [m, k] = a.shape;
  const n = b.shape[1];
  const c = backend.makeOutput([m, n], "float32");
  kernelsFor(backend).matmulFewRows(memoryOffsetOf(backend, a), memoryOffsetOf(backend, b), memoryOffsetOf(backend, c), m, k, n);
  return c;
}

/** The product's batch and matrix sizes when it suits matmulSmall, else null. */
export interface ProductSizes {
  batch: number;
  m: number;
  k: number;
  n: number;
}

/**
 * A plain float32 product (2-D, or batches of the same size) that matmulSmall does faster than XNNPACK
 * (measured with the step's shapes): a batch of matrices of at most 128 × 128 (attention's heads), or an inner
 * or outer size of at most 16 (LoRA's rank side: [1024, 8]·[8, 512], [1024, 128]·[128, 8]).
 */
export function smallProduct(a: tf.TensorInfo, b: tf.TensorInfo): ProductSizes | null {
  const rank = a.shape.length;
  if (a.dtype !== "float32" || b.dtype !== "float32" || rank !== b.shape.length || (rank !== 2 && rank !== 3)) return null;
  const batch = rank === 3 ? a.shape[0] : 1;
  const [m, k] = a.shape.slice(-2);
  const n = b.shape[rank - 1];
  if ((rank === 3 && b.shape[0] !== batch) || b.shape[rank - 2] !== k || batch * m * n === 0) return null;
  const heads = batch > 1 && m <= 128 && k <= 128 && n <= 128;
  return heads || k <= FEW_ROWS || n <= FEW_ROWS ? { batch, m, k, n } : null;
}

/** c = a · b through matmulSmall. */
export function matmulSmallKernel(backend: WasmBackend, a: tf.TensorInfo, b: tf.TensorInfo, s: ProductSizes): tf.TensorInfo {
  const c = backend.makeOutput(a.shape.length === 3 ? [s.batch, s.m, s.n] : [s.m, s.n], "float32");
  kernelsFor(backend).matmulSmall(memoryOffsetOf(backend, a), memoryOffsetOf(backend, b), memoryOffsetOf(backend, c), s.batch, s.m, s.k, s.n);
  return c;
}

/** c = aᵀ · b for a [k, m] and b [k, n] (2-D float32, n ≤ FEW_ROWS), without transposing a. */
export function matmulTransposedAKernel(backend: WasmBackend, a: tf.TensorInfo, b: tf.TensorInfo): tf.TensorInfo {
  const [k, m] = a.shape;
  const n = b.shape[1];
  if (b.shape[0] !== k) throw new Error(`matmulTransposedA: [${a.shape}]ᵀ · [${b.shape}] do not fit`);
  const c = backend.makeOutput([m, n], "float32");
  kernelsFor(backend).matmulTransposedA(memoryOffsetOf(backend, a), memoryOffsetOf(backend, b), memoryOffsetOf(backend, c), m, k, n);
  return c;
}
