/**
 * Kernels the wasm backend lacks, registered by initBackend().
 *
 * tf.gather's gradient (and so every embedding layer's) needs `UnsortedSegmentSum`, which the wasm backend
 * of tfjs 4.22 does not implement. This JavaScript version sums rows of `x` into `numSegments` buckets.
 */
import * as tf from "@tensorflow/tfjs";

/** The part of the wasm backend's interface a JavaScript kernel needs. */
interface WasmBackendLike {
  readSync(dataId: object): tf.TypedArray;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): tf.TypedArray;
}

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

export function registerWasmKernels(): void {
  if (registered) return;
  registered = true;
  const existing = tf.getKernelsForBackend("wasm").map((k) => k.kernelName);
  if (existing.includes("UnsortedSegmentSum")) return;
  tf.registerKernel({
    kernelName: "UnsortedSegmentSum",
    backendName: "wasm",
    kernelFunc: ({ inputs, backend, attrs }) => {
      const wasm = backend as unknown as WasmBackendLike;
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
