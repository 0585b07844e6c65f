/**
 * Gradients TensorFlow.js does not define, registered once by initBackend().
 *
 * TopK: the values output is x at the chosen indices, so ∂values/∂x scatters the upstream gradient back
 * to those positions (the indices output has no gradient). VB-LoRA needs it: its top-k mixture reads the
 * chosen logits.
 *
 * ScatterNd: out = zeros with `updates` placed at `indices`, so ∂out/∂updates gathers the upstream
 * gradient at those indices. WaveFT needs it: it places its trainable spectrum into a coefficient matrix.
 *
 * BatchMatMul (replacing TensorFlow.js's): C = A·B ⇒ dA = dC·Bᵀ, dB = Aᵀ·dC with the transposes done
 * explicitly, because the wasm backend's transposed products are 10-30x slower than its plain one
 * (lib/ops/matmul.ts). Each gradient is a thunk, so the tape forms only those it needs. Transposed,
 * broadcast or higher-rank products keep TensorFlow.js's own gradient. On wasm, a narrow dB (≤ 16 columns:
 * LoRA's rank side) is computed by a kernel that reads A untransposed (lib/ops/wasm-kernels.ts).
 */
import * as tf from "@tensorflow/tfjs";
import { MATMUL_TRANSPOSED_A_KERNEL, wasmKernelActive } from "./wasm-kernels";

let registered = false;

/** Whether aᵀ·g can go through the wasm kernel that reads a untransposed: 2-D, float32, g with ≤ 16 columns. */
function narrowOnWasm(a: tf.Tensor, g: tf.Tensor): boolean {
  return a.rank === 2 && g.rank === 2 && (g.shape[1] as number) <= 16 && a.dtype === "float32" && wasmKernelActive(MATMUL_TRANSPOSED_A_KERNEL);
}

/** aᵀ·g without forming aᵀ (LoRA's weight gradients, e.g. xᵀ·dC for a rank-8 C). */
function transposedAProduct(a: tf.Tensor, g: tf.Tensor): tf.Tensor {
  return tf.engine().runKernel(MATMUL_TRANSPOSED_A_KERNEL, { a, b: g }) as tf.Tensor;
}

/** The explicit transpose of the last two axes of a rank-2 or rank-3 tensor (lib/ops/matmul.ts uses it too). */
export function swapLastTwo(x: tf.Tensor): tf.Tensor {
  return tf.transpose(x, x.rank === 2 ? [1, 0] : [0, 2, 1]);
}

function registerMatMulGradient(): void {
  const original = tf.getGradient("BatchMatMul");
  tf.registerGradient({
    kernelName: "BatchMatMul",
    inputsToSave: ["a", "b"],
    gradFunc: (dy, saved, attrs) => {
      const [a, b] = saved;
      const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
      const plain = !transposeA && !transposeB && a.rank === b.rank && (a.rank === 2 || (a.rank === 3 && a.shape[0] === b.shape[0]));
      if (!plain) {
        if (!original) throw new Error("BatchMatMul: TensorFlow.js's own gradient is not registered");
        return original.gradFunc(dy, saved, attrs);
      }
      const g = dy as tf.Tensor;
      return { a: () => tf.matMul(g, swapLastTwo(b)), b: () => (narrowOnWasm(a, g) ? transposedAProduct(a, g) : tf.matMul(swapLastTwo(a), g)) };
    },
  });
}

export function registerGradients(): void {
  if (registered) return;
  registered = true;
  registerMatMulGradient();
  if (!tf.getGradient("TopK")) {
    tf.registerGradient({
      kernelName: "TopK",
      inputsToSave: ["x"],
      outputsToSave: [false, true],
      gradFunc: (dy, saved) => {
        const dValues = (Array.isArray(dy) ? dy[0] : dy) as tf.Tensor;
        const [x, indices] = saved;
        const h = x.shape[x.rank - 1] as number;
        return {
          x: () => {
            const onehot = tf.reshape(tf.oneHot(tf.reshape(indices, [-1]) as tf.Tensor1D, h), [...indices.shape, h]);
            return tf.sum(tf.mul(onehot, tf.expandDims(dValues, -1)), -2);
          },
        };
      },
    });
  }
  if (!tf.getGradient("ScatterNd")) {
    tf.registerGradient({
      kernelName: "ScatterNd",
      inputsToSave: ["indices"],
      gradFunc: (dy, saved) => {
        const [indices] = saved;
        return { updates: () => tf.gatherND(dy as tf.Tensor, indices), indices: () => tf.zerosLike(indices) };
      },
    });
  }
}
