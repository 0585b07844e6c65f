/**
 * Matrix products whose gradients never use transposed matMul kernels.
 *
 * On the wasm backend only the plain `A·B` product is fast (~25 GFLOP/s); `A·Bᵀ` and `Aᵀ·B` run 10-30x
 * slower, and tf.matMul's own gradient uses exactly those forms. Here the backward pass transposes its
 * operands explicitly (a cheap memory copy) and then calls the plain product:
 *
 *   C = A·B   ⇒   dA = dC·Bᵀ,   dB = Aᵀ·dC
 *
 * Works for 2-D matrices and for rank-3 batches (attention's per-head products).
 */
import * as tf from "@tensorflow/tfjs";
import { registerWasmKernels } from "./wasm-kernels";
import { registerGradients } from "./gradients";

// The kit's kernel and gradient fixes are registered as soon as the library loads, whichever way the
// backend is then chosen (initBackend(), or a notebook's own tf.setBackend("wasm")): registration only
// adds entries to TensorFlow.js's registry, so it is safe before any backend exists.
registerWasmKernels();
registerGradients();

function swapLastTwo(x: tf.Tensor): tf.Tensor {
  const perm = x.rank === 2 ? [1, 0] : [0, 2, 1];
  return tf.transpose(x, perm);
}

const plainMatMulWithFastGrad = tf.customGrad((a, b, save) => {
  const A = a as tf.Tensor;
  const B = b as tf.Tensor;
  (save as tf.GradSaveFunc)([A, B]);
  return {
    value: tf.matMul(A, B),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sa, sb] = saved;
      return [tf.matMul(dy, swapLastTwo(sb)), tf.matMul(swapLastTwo(sa), dy)];
    },
  };
}) as (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;

/** A·B for rank-2 or rank-3 tensors (same batch size), with the fast gradient above. */
export function matMul(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  if (a.rank !== b.rank || (a.rank !== 2 && a.rank !== 3)) {
    throw new Error(`matMul expects two rank-2 or two rank-3 tensors, got shapes [${a.shape}] and [${b.shape}]`);
  }
  return plainMatMulWithFastGrad(a, b);
}

/** A·Bᵀ, computed as A·(explicit transpose of B). */
export function matMulBT(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return matMul(a, swapLastTwo(b));
}

/**
 * PyTorch's Linear: y = x·Wᵀ + b with W of shape (out, in). `x` may have any leading dimensions.
 */
export function linear(x: tf.Tensor, weight: tf.Tensor, bias?: tf.Tensor | null): tf.Tensor {
  const inFeatures = weight.shape[1];
  if (x.shape[x.rank - 1] !== inFeatures) {
    throw new Error(`linear: input has ${x.shape[x.rank - 1]} features but the weight expects ${inFeatures} (weight shape [${weight.shape}])`);
  }
  const lead = x.shape.slice(0, -1);
  const x2 = x.rank === 2 ? x : tf.reshape(x, [-1, inFeatures]);
  let y = matMulBT(x2, weight);
  if (bias) y = tf.add(y, bias);
  return x.rank === 2 ? y : tf.reshape(y, [...lead, weight.shape[0]]);
}
