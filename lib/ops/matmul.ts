/**
 * Matrix products whose gradients never use transposed matMul kernels.
 *
 * On the wasm backend only the plain `A·B` product is fast (~20 GFLOP/s); `A·Bᵀ` and `Aᵀ·B` run 10-30x
 * slower, and tf.matMul's own gradient uses exactly those forms. The kit registers a BatchMatMul gradient
 * (lib/ops/gradients.ts) that transposes the operands explicitly (a cheap memory copy) and then calls the
 * plain product:
 *
 *   C = A·B   ⇒   dA = dC·Bᵀ,   dB = Aᵀ·dC
 *
 * Each of the two is computed only when it is needed: a frozen weight's gradient is never formed (LoRA's
 * base layers). Batches of products (attention's per-head products) go through XNNPACK one matrix at a
 * time on wasm (lib/ops/wasm-batch-matmul.ts). Works for 2-D matrices and rank-3 batches.
 */
import * as tf from "@tensorflow/tfjs";
import { registerWasmKernels } from "./wasm-kernels";
import { registerGradients, swapLastTwo } from "./gradients";

// The kit's kernel and gradient fixes are registered as soon as the library loads, whichever way the
// backend is then chosen (initBackend(), or a notebook's own tf.setBackend("wasm")): registration only
// adds entries to TensorFlow.js's registry, so it is safe before any backend exists.
registerWasmKernels();
registerGradients();

/** A·B for rank-2 or rank-3 tensors (same batch size); its gradient is the fast one above. */
export function matMul(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  if (a.rank !== b.rank || (a.rank !== 2 && a.rank !== 3)) {
    throw new Error(`matMul expects two rank-2 or two rank-3 tensors, got shapes [${a.shape}] and [${b.shape}]`);
  }
  return tf.matMul(a, b);
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
