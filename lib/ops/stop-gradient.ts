/**
 * stopGradient(x): the value of x, through which no gradient flows (PyTorch's `x.detach()`).
 * TensorFlow.js has no such op, so it is an identity with a zero gradient.
 */
import * as tf from "@tensorflow/tfjs";

const detach = tf.customGrad((x, save) => {
  void save;
  return { value: tf.clone(x as tf.Tensor), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) };
}) as (x: tf.Tensor) => tf.Tensor;

export function stopGradient<T extends tf.Tensor>(x: T): T {
  return detach(x) as T;
}
