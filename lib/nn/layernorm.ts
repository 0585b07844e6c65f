/** Layer normalisation over the last axis: y = (x − mean) / √(var + eps) · weight + bias. */
import * as tf from "@tensorflow/tfjs";
import { Module } from "./module";

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

  forward(x: tf.Tensor): tf.Tensor {
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
