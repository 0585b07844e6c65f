/**
 * Fine-tuning a sequence classifier: AdamW, warm-up then decay, gradient clipping, evaluation after every
 * epoch (loss, accuracy, macro-F1), seeded shuffling, a progress bar, and the figures a comparison needs
 * (time, steps per second, peak tensor memory, trainable parameters).
 */
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../util/random";
import { AdamW } from "./adamw";
import { learningRate, ScheduleKind } from "./schedule";
import { StepResult, trainStep } from "./step";
import { batchIndices, crossEntropy, disposeBatch, EncodedExample, makeBatch } from "./batching";
import { accuracy, macroF1 } from "./metrics";
import { progress } from "./progress";
import type { BertInputs } from "../models/bert";

/** What the trainer needs from a model: a classifier forward pass and named parameters. */
export interface Classifier {
  forward(inputs: BertInputs): tf.Tensor2D;
  namedParameters(): Array<[string, tf.Variable]>;
  train(mode?: boolean): unknown;
  eval(): unknown;
  readonly numLabels: number;
}

export interface FinetuneOptions {
  epochs: number;
  batchSize?: number;
  lr?: number;
  weightDecay?: number;
  warmupRatio?: number;
  schedule?: ScheduleKind;
  maxGradNorm?: number;
  seed?: number;
  /** Learning-rate multiplier per parameter name (parameter groups). */
  lrScale?: (name: string) => number;
  /** Stop after this many optimisation steps in total (quick runs, tests). */
  maxSteps?: number;
  padId?: number;
  progress?: "auto" | "terminal" | "silent";
  /** Evaluate on the validation set after each epoch (default true). */
  evaluateEachEpoch?: boolean;
  onEpoch?: (epoch: EpochResult) => void;
  /** Called after every optimisation step with the number of steps done (awaited: it may read tensors). */
  onStep?: (step: number) => void | Promise<void>;
}

export interface EvalResult {
  loss: number;
  accuracy: number;
  macroF1: number;
  predictions: Int32Array;
}

export interface EpochResult {
  epoch: number;
  steps: number;
  trainLoss: number;
  seconds: number;
  validation: Omit<EvalResult, "predictions"> | null;
}

export interface FinetuneResult {
  epochs: EpochResult[];
  steps: number;
  seconds: number;
  stepsPerSecond: number;
  /** Peak bytes held by tensors during a training step (measured with tf.profile on the first step). */
  peakBytes: number;
  trainableParams: number;
  totalParams: number;
  losses: number[];
}

/** Predicts and scores `examples` in evaluation mode (dropout off). */
export async function evaluateClassifier(
  model: Classifier,
  examples: EncodedExample[],
  opts: { batchSize?: number; padId?: number } = {},
): Promise<EvalResult> {
  model.eval();
  const predictions = new Int32Array(examples.length);
  let lossSum = 0;
  let offset = 0;
  for (const idx of batchIndices(examples.length, opts.batchSize ?? 64)) {
    const batch = makeBatch(examples, idx, opts.padId ?? 0);
    const [loss, pred] = tf.tidy(() => {
      const logits = model.forward({ inputIds: batch.inputIds, attentionMask: batch.attentionMask });
      return [crossEntropy(logits, batch.labels), tf.argMax(logits, 1)];
    });
    const [lossValue, predValues] = await Promise.all([loss.data(), pred.data()]);
    lossSum += lossValue[0] * idx.length;
    predictions.set(predValues as Int32Array, offset);
    offset += idx.length;
    tf.dispose([loss, pred]);
    disposeBatch(batch);
  }
  const truth = examples.map((e) => e.label);
  return {
    loss: examples.length ? lossSum / examples.length : 0,
    accuracy: accuracy(truth, predictions),
    macroF1: macroF1(truth, predictions, model.numLabels),
    predictions,
  };
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export async function finetuneClassifier(
  model: Classifier,
  train: EncodedExample[],
  validation: EncodedExample[],
  opts: FinetuneOptions,
): Promise<FinetuneResult> {
  const batchSize = opts.batchSize ?? 16;
  const padId = opts.padId ?? 0;
  const rng = new Rng(opts.seed ?? 42);
  const params = model.namedParameters();
  const optimizer = new AdamW(params, { lr: opts.lr ?? 5e-4, weightDecay: opts.weightDecay ?? 0.01, lrScale: opts.lrScale });
  if (optimizer.variables.length === 0) throw new Error("the model has no trainable parameters: unfreeze something (e.g. the classifier head) first");
  const stepsPerEpoch = Math.ceil(train.length / batchSize);
  const totalSteps = Math.min(opts.maxSteps ?? Infinity, stepsPerEpoch * opts.epochs);
  const warmup = Math.round((opts.warmupRatio ?? 0.1) * totalSteps);
  const bar = progress("train", totalSteps, opts.progress ?? "auto");
  const epochs: EpochResult[] = [];
  const losses: number[] = [];
  let step = 0;
  let peakBytes = 0;
  let trainSeconds = 0;
  try {
    for (let epoch = 1; epoch <= opts.epochs && step < totalSteps; epoch++) {
      const started = Date.now();
      let lossSum = 0;
      let count = 0;
      model.train();
      for (const idx of batchIndices(train.length, batchSize, rng)) {
        if (step >= totalSteps) break;
        const batch = makeBatch(train, idx, padId);
        const lr = learningRate(opts.schedule ?? "linear", optimizer.lr, step, totalSteps, warmup);
        const run = () =>
          trainStep(optimizer, () => crossEntropy(model.forward({ inputIds: batch.inputIds, attentionMask: batch.attentionMask }), batch.labels), {
            lr,
            maxGradNorm: opts.maxGradNorm ?? 1.0,
          });
        let result: StepResult | undefined;
        if (step === 0) {
          const info = await tf.profile(async () => {
            result = await run();
          });
          peakBytes = info.peakBytes;
        } else {
          result = await run();
        }
        if (!result) throw new Error("the training step returned nothing");
        disposeBatch(batch);
        step++;
        lossSum += result.loss;
        count++;
        losses.push(result.loss);
        bar.update(step, { epoch, loss: lossSum / count, lr });
        await opts.onStep?.(step);
        await yieldToEventLoop();
      }
      const seconds = (Date.now() - started) / 1000;
      trainSeconds += seconds;
      const evaluated = (opts.evaluateEachEpoch ?? true) && validation.length > 0 ? await evaluateClassifier(model, validation, { padId }) : null;
      const record: EpochResult = {
        epoch,
        steps: count,
        trainLoss: count ? lossSum / count : NaN,
        seconds,
        validation: evaluated ? { loss: evaluated.loss, accuracy: evaluated.accuracy, macroF1: evaluated.macroF1 } : null,
      };
      epochs.push(record);
      opts.onEpoch?.(record);
    }
  } finally {
    optimizer.dispose();
    model.eval();
  }
  const last = epochs[epochs.length - 1];
  bar.end(
    last?.validation ? { loss: last.trainLoss, "val acc": last.validation.accuracy, "val F1": last.validation.macroF1 } : { loss: last?.trainLoss ?? NaN },
  );
  const total = params.reduce((n, [, p]) => n + p.size, 0);
  const trainable = params.filter(([, p]) => p.trainable).reduce((n, [, p]) => n + p.size, 0);
  return {
    epochs,
    steps: step,
    seconds: trainSeconds,
    stepsPerSecond: step / Math.max(1e-9, trainSeconds),
    peakBytes,
    trainableParams: trainable,
    totalParams: total,
    losses,
  };
}
