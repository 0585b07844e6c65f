/** Layer normalisation over the last axis: y = (x − mean) / √(var + eps) · weight + bias. */
import * as tf from "@tensorflow/tfjs";
import { Module } from "./module";
import { LAYER_NORM_KERNEL, wasmKernelActive } from "../ops/wasm-kernels";

export class LayerNorm extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;

  constructor(
    readonly size: number,
    readonly eps = 1e-12,
  ) {
    super();
    this.weight = this.addParameter("weight", tf.ones([size]));
    this.bias = this.addParameter("bias", tf.zeros([size]));
  }

  /** On wasm (float32, a size that is a multiple of 4) one SIMD kernel each way; elsewhere TensorFlow.js's ops. */
  forward(x: tf.Tensor): tf.Tensor {
    if (x.dtype === "float32" && this.size % 4 === 0 && wasmKernelActive(LAYER_NORM_KERNEL)) {
      if (x.shape[x.rank - 1] !== this.size) throw new Error(`LayerNorm(${this.size}): the input's last axis is ${x.shape[x.rank - 1]}`);
      return tf.engine().runKernel(LAYER_NORM_KERNEL, { x, weight: this.weight, bias: this.bias }, { eps: this.eps }) as tf.Tensor;
    }
    return this.forwardByOps(x);
  }

  /** The same through TensorFlow.js's ops, on every backend. */
  forwardByOps(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const axis = x.rank - 1;
      const mean = tf.mean(x, axis, true);
      const centered = tf.sub(x, mean);
      const variance = tf.mean(tf.square(centered), axis, true);
      const normed = tf.mul(centered, tf.rsqrt(tf.add(variance, this.eps)));
      return tf.add(tf.mul(normed, this.weight), this.bias);
    });
  }
}
