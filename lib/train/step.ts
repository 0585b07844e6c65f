/**
 * One optimisation step: loss → gradients of the trainable variables → clip → AdamW.
 * Every intermediate tensor is disposed, so `tf.memory().numTensors` is the same before and after (tested).
 * The loss and the gradient norm are read once, asynchronously: a GPU backend (webgpu) cannot be read
 * synchronously in Node, and an asynchronous read lets the device work while JavaScript waits.
 */
import * as tf from "@tensorflow/tfjs";
import { AdamW, clipGradNorm } from "./adamw";

export interface StepResult {
  loss: number;
  gradNorm: number;
}

export async function trainStep(optimizer: AdamW, lossFn: () => tf.Scalar, opts: { lr: number; maxGradNorm?: number }): Promise<StepResult> {
  const { value, grads } = tf.variableGrads(lossFn, optimizer.variables);
  const maxNorm = opts.maxGradNorm ?? Infinity;
  const clipped = clipGradNorm(grads, isFinite(maxNorm) ? maxNorm : Number.MAX_VALUE);
  await optimizer.apply(clipped.grads, opts.lr);
  const both = tf.stack([value, clipped.norm]);
  tf.dispose([value, clipped.norm]);
  const [loss, gradNorm] = await both.data();
  both.dispose();
  tf.dispose(Object.values(grads));
  tf.dispose(Object.values(clipped.grads));
  if (!isFinite(loss)) throw new Error(`the loss became ${loss}; lower the learning rate or check the inputs`);
  return { loss, gradNorm };
}
