/**
 * A kernel of the webgpu backend replaced where it breaks a device's limits, registered when the backend is.
 *
 * AddN (the sum of n tensors: tf.addN, and every gradient accumulated from n uses of a tensor) binds all n
 * inputs as storage buffers of one shader; a LoRA step of the shipped model sums 28 at once, more than the
 * 16 storage buffers a WebGPU device may have (OpenGL ES adapters have no more). The replacement sums in
 * chunks of at most ADDN_CHUNK inputs with the original kernel, then sums the partial sums the same way.
 */
import * as tf from "@tensorflow/tfjs";

/** Inputs per AddN shader: with the output, well within 16 storage buffers. */
export const ADDN_CHUNK = 8;

let registered = false;

export function registerWebGpuKernels(): void {
  if (registered) return;
  const original = tf.getKernel("AddN", "webgpu");
  if (!original) return; // the backend's own kernels are not loaded
  registered = true;
  tf.unregisterKernel("AddN", "webgpu");
  tf.registerKernel({
    kernelName: "AddN",
    backendName: "webgpu",
    kernelFunc: ({ inputs, backend, attrs }) => {
      let parts = inputs as unknown as tf.TensorInfo[];
      const partials: tf.TensorInfo[] = [];
      while (parts.length > ADDN_CHUNK) {
        const next: tf.TensorInfo[] = [];
        for (let i = 0; i < parts.length; i += ADDN_CHUNK) {
          const chunk = parts.slice(i, i + ADDN_CHUNK);
          if (chunk.length === 1) {
            next.push(chunk[0]);
            continue;
          }
          const sum = original.kernelFunc({ inputs: chunk as unknown as tf.NamedTensorInfoMap, backend, attrs }) as tf.TensorInfo;
          partials.push(sum);
          next.push(sum);
        }
        parts = next;
      }
      const result = original.kernelFunc({ inputs: parts as unknown as tf.NamedTensorInfoMap, backend, attrs }) as tf.TensorInfo;
      for (const p of partials) (backend as tf.KernelBackend).disposeData(p.dataId);
      return result;
    },
  });
}
