/**
 * The training step the benchmarks time: the shipped model prepared for a method, in training mode, on a
 * fixed batch (token ids spread over the vocabulary, no padding, alternating labels), one step being the
 * kit's trainStep (loss, gradients, clipping at norm 1, AdamW).
 */
import * as tf from "@tensorflow/tfjs";
import { readConfig, loadBertForSequenceClassification } from "../lib/io/hf-checkpoint";
import { AdamW } from "../lib/train/adamw";
import { trainStep } from "../lib/train/step";
import { crossEntropy } from "../lib/train/batching";
import { prepareMethod } from "../lib/experiments/methods";

export interface BenchStep {
  /** The method as prepared (e.g. "LoRA r=8 α=16 on every encoder linear"). */
  describe: string;
  step: () => Promise<unknown>;
  dispose: () => void;
}

export function benchStep(checkpoint: string, method: string, batch: number, seq: number): BenchStep {
  const vocab = readConfig(checkpoint).vocabSize;
  const ids = tf.tensor2d(
    Array.from({ length: batch * seq }, (_, i) => 5 + ((i * 7919) % (vocab - 5))),
    [batch, seq],
    "int32",
  );
  const mask = tf.ones([batch, seq], "int32") as tf.Tensor2D;
  const labels = tf.tensor1d(
    Array.from({ length: batch }, (_, i) => i % 2),
    "int32",
  );
  const { model } = loadBertForSequenceClassification(checkpoint, { labels: ["a", "b"] });
  const prepared = prepareMethod(method, model);
  model.train();
  const opt = new AdamW(prepared.model.namedParameters(), { lr: 1e-4, lrScale: prepared.lrScale });
  return {
    describe: prepared.describe,
    step: () => trainStep(opt, () => crossEntropy(prepared.model.forward({ inputIds: ids, attentionMask: mask }), labels), { lr: 1e-4, maxGradNorm: 1 }),
    dispose: () => {
      opt.dispose();
      model.dispose();
      tf.dispose([ids, mask, labels]);
    },
  };
}
