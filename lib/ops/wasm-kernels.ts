/**
 * The wasm backend's missing kernel, and faster replacements for three of its kernels.
 *
 * Missing: tf.gather's gradient (and so every embedding layer's) needs `UnsortedSegmentSum`, which the wasm
 * backend of tfjs 4.22 does not implement. This JavaScript version sums rows of `x` into `numSegments`
 * buckets.
 *
 * Replaced, because a training step spent most of its time in them (`npm run bench`):
 * - `BatchMatMul`: large products on several threads (lib/ops/wasm-threads.ts); a batch of products through
 *   XNNPACK a matrix at a time (lib/ops/wasm-batch-matmul.ts); attention's small matrices and LoRA's narrow
 *   products through the kit's SIMD kernels (lib/ops/wasm-simd.ts), which do not repack the right operand.
 * - `Identity`: the backend copies the tensor; TensorFlow.js calls it for every tensor the tape saves for
 *   the backward pass (~400 copies a step). Tensors are immutable, so the copy can share the memory (a
 *   reference count, as the cpu and webgl backends do).
 * - `GatherV2` (embedding lookups): the backend's C++ loop computes every element's address from strides
 *   (~50 ns an element); here whole rows are copied.
 * - `Transpose` of the last two axes (a weight gradient's operands, attention's keys): the kit's SIMD kernel
 *   (lib/ops/wasm-simd.ts), ~7× faster on the step's shapes; other permutations keep the backend's.
 *
 * Added: `CoursekitGelu` and `CoursekitLayerNorm` with their gradients (lib/nn/activations.ts and
 * lib/nn/layernorm.ts use them on wasm): one SIMD kernel each way instead of ~10 (GELU) and ~30 (layer norm);
 * `CoursekitAdamW` (lib/train/adamw.ts): one kernel a parameter instead of ~14, the same floats;
 * `CoursekitMatMulTransposedA` (lib/ops/gradients.ts): a narrow weight gradient xᵀ·dC without transposing x.
 */
import * as tf from "@tensorflow/tfjs";
import { batchMatMulBySlices, takesOver, type WasmBackend } from "./wasm-batch-matmul";
import { multiplyOnThreads } from "./wasm-threads";
import {
  adamwKernel,
  AdamWCoefficients,
  geluGradKernel,
  geluKernel,
  hasFewRows,
  lastTwoSwapped,
  layerNormGradKernel,
  layerNormKernel,
  matmulFewRowsKernel,
  matmulSmallKernel,
  matmulTransposedAKernel,
  smallProduct,
  transposeLastTwo,
} from "./wasm-simd";

/** The kit's GELU kernel (wasm only) and its gradient's. */
export const GELU_KERNEL = "CoursekitGelu";
export const GELU_GRAD_KERNEL = "CoursekitGeluGrad";
/** The kit's layer-norm kernel (wasm only, the last axis a multiple of 4) and its gradient's. */
export const LAYER_NORM_KERNEL = "CoursekitLayerNorm";
export const LAYER_NORM_GRAD_KERNEL = "CoursekitLayerNormGrad";
/** aᵀ·b without transposing a (wasm only; 2-D float32, b with at most 16 columns): LoRA's weight gradients. */
export const MATMUL_TRANSPOSED_A_KERNEL = "CoursekitMatMulTransposedA";
/** The kit's AdamW update (wasm only): inputs param, m, v, g; attributes AdamWCoefficients; outputs [p', m', v']. */
export const ADAMW_KERNEL = "CoursekitAdamW";

/** out[s, ...] = Σ_{i: ids[i] = s} x[i, ...]; ids outside [0, numSegments) are dropped, as in TensorFlow. */
export function unsortedSegmentSum(x: ArrayLike<number>, xShape: number[], ids: ArrayLike<number>, numSegments: number, out: { [i: number]: number }): void {
  const total = xShape.reduce((a, b) => a * b, 1);
  const inner = ids.length === 0 ? 0 : total / ids.length;
  for (let i = 0; i < ids.length; i++) {
    const s = ids[i];
    if (s < 0 || s >= numSegments) continue;
    const src = i * inner;
    const dst = s * inner;
    for (let j = 0; j < inner; j++) out[dst + j] += x[src + j];
  }
}

let registered = false;

/** out[o, i, ...] = x[o, indices[i], ...]: rows copied whole. */
export function gatherRows(x: tf.TypedArray, xShape: number[], axis: number, indices: ArrayLike<number>, out: tf.TypedArray): void {
  const outer = xShape.slice(0, axis).reduce((a, b) => a * b, 1);
  const dim = xShape[axis];
  const inner = xShape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const n = indices.length;
  for (let i = 0; i < n; i++) {
    const index = indices[i];
    if (!(index >= 0 && index < dim)) throw new Error(`GatherV2: the index value ${index} is not in [0, ${dim - 1}]`);
  }
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < n; i++) {
      const src = (o * dim + indices[i]) * inner;
      const dst = (o * n + i) * inner;
      if (inner >= 16) out.set(x.subarray(src, src + inner), dst);
      else for (let j = 0; j < inner; j++) out[dst + j] = x[src + j];
    }
  }
}

const replaced = new Set<string>();

/** Registers `make(original)` in place of the wasm backend's kernel `name`, once, if that backend is loaded. */
function replaceKernel(name: string, make: (original: tf.KernelConfig) => tf.KernelFunc): void {
  if (replaced.has(name)) return;
  const original = tf.getKernel(name, "wasm");
  if (!original) return; // the wasm package is not loaded yet: initBackend() calls registerWasmKernels() again
  replaced.add(name);
  tf.unregisterKernel(name, "wasm");
  tf.registerKernel({ ...original, kernelFunc: make(original) });
}

function registerReplacements(): void {
  replaceKernel("BatchMatMul", (original) => (args) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA, transposeB } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
    const backend = args.backend as unknown as WasmBackend;
    if (!transposeA && !transposeB) {
      if (hasFewRows(a, b)) return matmulFewRowsKernel(backend, a, b);
      const small = smallProduct(a, b);
      if (small) return matmulSmallKernel(backend, a, b, small);
      const onThreads = multiplyOnThreads(backend, a, b);
      if (onThreads) return onThreads;
    }
    if (takesOver(a, b, transposeA, transposeB)) return batchMatMulBySlices(backend, a, b);
    return original.kernelFunc(args);
  });
  replaceKernel("Identity", (original) => (args) => {
    const x = args.inputs.x as tf.TensorInfo;
    if (x.dtype === "string") return original.kernelFunc(args);
    (args.backend as unknown as WasmBackend).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  });
  replaceKernel("Transpose", (original) => (args) => {
    const x = args.inputs.x as tf.TensorInfo;
    const { perm } = args.attrs as unknown as { perm: number[] };
    const swap = x.dtype === "float32" || x.dtype === "int32" ? lastTwoSwapped(x.shape, perm) : null;
    if (!swap || swap.batch * swap.rows * swap.cols === 0) return original.kernelFunc(args);
    return transposeLastTwo(args.backend as unknown as WasmBackend, x, swap);
  });
  replaceKernel("GatherV2", (original) => (args) => {
    const { x, indices } = args.inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
    const { axis, batchDims } = args.attrs as unknown as { axis: number; batchDims: number };
    if (batchDims !== 0 || x.dtype === "string" || x.shape.some((d) => d === 0)) return original.kernelFunc(args);
    const wasm = args.backend as unknown as WasmBackend;
    const parsedAxis = axis < 0 ? axis + x.shape.length : axis;
    const outShape = [...x.shape.slice(0, parsedAxis), ...indices.shape, ...x.shape.slice(parsedAxis + 1)];
    const out = wasm.makeOutput(outShape, x.dtype);
    try {
      gatherRows(wasm.typedArrayFromHeap(x), x.shape, parsedAxis, wasm.readSync(indices.dataId), wasm.typedArrayFromHeap(out));
    } catch (e) {
      wasm.disposeData(out.dataId);
      throw e;
    }
    return out;
  });
}

/** Whether the wasm backend is active and has the kit's kernel `name` (registered with the wasm package). */
export function wasmKernelActive(name: string): boolean {
  return tf.getBackend() === "wasm" && tf.getKernel(name, "wasm") !== undefined;
}

type Inputs = Record<string, tf.TensorInfo>;

/** Registers one of the kit's kernels for wasm: `run` gets the wasm backend, the inputs and the attributes. */
function registerWasmKernel<A = unknown>(kernelName: string, run: (backend: WasmBackend, inputs: Inputs, attrs: A) => tf.TensorInfo | tf.TensorInfo[]): void {
  tf.registerKernel({
    kernelName,
    backendName: "wasm",
    kernelFunc: ({ inputs, backend, attrs }) => run(backend as unknown as WasmBackend, inputs as Inputs, attrs as unknown as A),
  });
}

function registerGelu(): void {
  registerWasmKernel(GELU_KERNEL, (backend, { x }) => geluKernel(backend, x));
  registerWasmKernel(GELU_GRAD_KERNEL, (backend, { x, dy }) => geluGradKernel(backend, x, dy));
  tf.registerGradient({
    kernelName: GELU_KERNEL,
    inputsToSave: ["x"],
    gradFunc: (dy, saved) => ({ x: () => tf.engine().runKernel(GELU_GRAD_KERNEL, { x: saved[0], dy: dy as tf.Tensor }) as tf.Tensor }),
  });
}

function registerLayerNorm(): void {
  type Eps = { eps: number };
  registerWasmKernel<Eps>(LAYER_NORM_KERNEL, (backend, { x, weight, bias }, { eps }) => layerNormKernel(backend, x, weight, bias, eps));
  registerWasmKernel<Eps>(LAYER_NORM_GRAD_KERNEL, (backend, { x, weight, dy }, { eps }) => layerNormGradKernel(backend, x, weight, dy, eps));
  tf.registerGradient({
    kernelName: LAYER_NORM_KERNEL,
    inputsToSave: ["x", "weight"],
    gradFunc: (dy, saved, attrs) => {
      // one kernel gives all three; TensorFlow.js frees the ones it does not ask for with the backward pass
      const [dx, dw, db] = tf.engine().runKernel(LAYER_NORM_GRAD_KERNEL, { x: saved[0], weight: saved[1], dy: dy as tf.Tensor }, attrs) as tf.Tensor[];
      return { x: () => dx, weight: () => dw, bias: () => db };
    },
  });
}

export function registerWasmKernels(): void {
  registerReplacements();
  if (registered) return;
  registered = true;
  registerGelu();
  registerLayerNorm();
  registerWasmKernel<AdamWCoefficients>(ADAMW_KERNEL, (backend, { param, m, v, g }, c) => adamwKernel(backend, param, m, v, g, c));
  registerWasmKernel(MATMUL_TRANSPOSED_A_KERNEL, (backend, { a, b }) => matmulTransposedAKernel(backend, a, b));
  const existing = tf.getKernelsForBackend("wasm").map((k) => k.kernelName);
  if (existing.includes("UnsortedSegmentSum")) return;
  tf.registerKernel({
    kernelName: "UnsortedSegmentSum",
    backendName: "wasm",
    kernelFunc: ({ inputs, backend, attrs }) => {
      const wasm = backend as unknown as WasmBackend;
      const x = inputs.x as tf.TensorInfo;
      const segmentIds = inputs.segmentIds as tf.TensorInfo;
      const numSegments = (attrs as { numSegments: number }).numSegments;
      const idCount = segmentIds.shape.reduce((a, b) => a * b, 1);
      const xSize = x.shape.reduce((a, b) => a * b, 1);
      const innerShape = idCount === 0 ? x.shape.slice(1) : [xSize / idCount];
      const outShape = [numSegments, ...(segmentIds.shape.length <= 1 ? x.shape.slice(1) : innerShape)];
      const out = wasm.makeOutput(outShape, x.dtype);
      const outValues = wasm.typedArrayFromHeap(out);
      outValues.fill(0);
      unsortedSegmentSum(wasm.readSync(x.dataId), x.shape, wasm.readSync(segmentIds.dataId), numSegments, outValues);
      return out;
    },
  });
}
