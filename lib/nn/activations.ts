/** Activation functions by the names Hugging Face configs use (`hidden_act`). */
import * as tf from "@tensorflow/tfjs";
import { GELU_KERNEL, wasmKernelActive } from "../ops/wasm-kernels";

export type ActivationName = "gelu" | "gelu_new" | "gelu_pytorch_tanh" | "relu" | "tanh";

/**
 * gelu(x) = x·Φ(x) = ½x(1 + erf(x/√2)) — the exact form BERT uses. On wasm, one SIMD kernel each way
 * (lib/ops/wasm-kernels.ts; equal to this formula within 1e-6); elsewhere, TensorFlow.js's ops.
 */
export function gelu(x: tf.Tensor): tf.Tensor {
  if (x.dtype === "float32" && wasmKernelActive(GELU_KERNEL)) return tf.engine().runKernel(GELU_KERNEL, { x }) as tf.Tensor;
  return geluByOps(x);
}

/** GELU through TensorFlow.js's ops (Erf and element-wise kernels), on every backend. */
export function geluByOps(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2)))));
}

/** The tanh approximation ("gelu_new", "gelu_pytorch_tanh"). */
export function geluTanh(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const inner = tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3))));
    return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(inner)));
  });
}

export function activation(name: string): (x: tf.Tensor) => tf.Tensor {
  switch (name) {
    case "gelu":
      return gelu;
    case "gelu_new":
    case "gelu_pytorch_tanh":
      return geluTanh;
    case "relu":
      return (x) => tf.relu(x);
    case "tanh":
      return (x) => tf.tanh(x);
    default:
      throw new Error(`unknown activation "${name}" (supported: gelu, gelu_new, gelu_pytorch_tanh, relu, tanh)`);
  }
}
