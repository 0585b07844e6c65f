/**
 * Gradients TensorFlow.js does not define, registered once by initBackend().
 *
 * TopK: the values output is x at the chosen indices, so ∂values/∂x scatters the upstream gradient back
 * to those positions (the indices output has no gradient). VB-LoRA needs it: its top-k mixture reads the
 * chosen logits.
 *
 * ScatterNd: out = zeros with `updates` placed at `indices`, so ∂out/∂updates gathers the upstream
 * gradient at those indices. WaveFT needs it: it places its trainable spectrum into a coefficient matrix.
 */
import * as tf from "@tensorflow/tfjs";

let registered = false;

export function registerGradients(): void {
  if (registered) return;
  registered = true;
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
