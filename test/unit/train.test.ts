/** The trainer's parts: AdamW against a hand calculation, clipping, schedules, metrics, and no tensor leaks. */
import * as tf from "@tensorflow/tfjs";
import { strict as assert } from "node:assert";
import { AdamW, clipGradNorm } from "../../lib/train/adamw";
import { learningRate } from "../../lib/train/schedule";
import { accuracy, macroF1 } from "../../lib/train/metrics";
import { trainStep } from "../../lib/train/step";
import { crossEntropy, makeBatch, disposeBatch, EncodedExample } from "../../lib/train/batching";
import { finetuneClassifier } from "../../lib/train/finetune";
import { BertForSequenceClassification, BertForMaskedLM } from "../../lib/models/bert";
import { maskBatch, mlmLoss, disposeMaskedBatch } from "../../lib/train/mlm";
import { Rng } from "../../lib/util/random";
import { assertClose, setupBackend, tinyBertConfig } from "../helpers";

const tiny = tinyBertConfig({ hiddenDropoutProb: 0.1, attentionProbsDropoutProb: 0.1 });

function toyExamples(n: number, seed: number): EncodedExample[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => {
    const label = rng.int(2);
    const len = 3 + rng.int(6);
    // class 1 sequences contain token 7, class 0 sequences token 8: learnable in a few steps
    const ids = [2, ...Array.from({ length: len }, () => 10 + rng.int(30)), label ? 7 : 8, 3];
    return { ids, label };
  });
}

describe("training", () => {
  before(setupBackend);

  it("AdamW's first two steps equal a hand calculation of torch.optim.AdamW", async () => {
    const p = tf.variable(tf.tensor1d([1, -2]));
    const opt = new AdamW([["w", p]], { lr: 0.1, weightDecay: 0.5 });
    const g = [0.5, -1];
    await opt.apply({ [p.name]: tf.tensor1d(g) });
    // step 1: p ← p(1 − lr·λ) − lr·m̂/(√v̂ + ε), and m̂ = g, v̂ = g² so the step is lr·sign(g)
    const expected1 = [1 * (1 - 0.05) - 0.1 * (0.5 / (0.5 + 1e-8)), -2 * (1 - 0.05) + 0.1 * (1 / (1 + 1e-8))];
    assertClose(p, expected1, 1e-6, "step 1");
    await opt.apply({ [p.name]: tf.tensor1d(g) });
    // step 2 with the same gradient: m = g(1 − β₁²)/… again gives m̂ = g, v̂ = g²
    const expected2 = expected1.map((w, i) => w * (1 - 0.05) - 0.1 * Math.sign(g[i]) * (Math.abs(g[i]) / (Math.abs(g[i]) + 1e-8)));
    assertClose(p, expected2, 1e-6, "step 2");
    opt.dispose();
  });

  it("8-bit optimizer state: a quarter of fp32's bytes (measured), outside the tensor backend, and still trains", async () => {
    const model = new BertForSequenceClassification(tiny, { numLabels: 2 });
    const opt = new AdamW(model.namedParameters(), { lr: 1e-2, state: "8bit" });
    const data = toyExamples(16, 3);
    const batch = makeBatch(
      data,
      Array.from({ length: 16 }, (_, i) => i),
      0,
    );
    model.eval();
    const loss = () => crossEntropy(model.forward(batch), batch.labels);
    const before = tf.tidy(() => loss().dataSync()[0]);
    const tensors = tf.memory().numTensors;
    for (let i = 0; i < 8; i++) await trainStep(opt, loss, { lr: 1e-2 });
    assert.equal(tf.memory().numTensors, tensors, "no tensors held for the state, none leaked");
    assert.ok(tf.tidy(() => loss().dataSync()[0]) < before, "the loss falls");
    const { stored, fp32 } = opt.stateBytes();
    // 1 byte per moment value + one fp32 scale per block of 256 (per tensor at least: tiny tensors pay more)
    assert.ok(stored / fp32 > 0.25 && stored / fp32 < 0.3, `8-bit state is ${stored} of ${fp32} bytes`);
    disposeBatch(batch);
    model.dispose();
  });

  it("biases and LayerNorm weights get no weight decay", async () => {
    const w = tf.variable(tf.tensor1d([1]));
    const b = tf.variable(tf.tensor1d([1]));
    const opt = new AdamW(
      [
        ["layer.weight", w],
        ["layer.bias", b],
      ],
      { lr: 0.1, weightDecay: 1 },
    );
    await opt.apply({ [w.name]: tf.tensor1d([0]), [b.name]: tf.tensor1d([0]) });
    assertClose(w, [0.9], 1e-7, "decayed weight");
    assertClose(b, [1], 1e-7, "bias");
    opt.dispose();
  });

  it("clipGradNorm scales to the max norm like torch's clip_grad_norm_", () => {
    const { grads, norm } = clipGradNorm({ a: tf.tensor1d([3]), b: tf.tensor1d([4]) }, 1);
    assertClose(norm, [5], 1e-6, "norm");
    assertClose(grads.a, [3 / (5 + 1e-6)], 1e-6, "a");
    const kept = clipGradNorm({ a: tf.tensor1d([0.3]) }, 1);
    assertClose(kept.grads.a, [0.3], 1e-7, "below the max it is unchanged");
  });

  it("linear warm-up then linear decay, and cosine", () => {
    assert.equal(learningRate("linear", 1, 0, 100, 10), 0);
    assert.equal(learningRate("linear", 1, 5, 100, 10), 0.5);
    assert.equal(learningRate("linear", 1, 10, 100, 10), 1);
    assert.equal(learningRate("linear", 1, 55, 100, 10), 0.5);
    assert.equal(learningRate("linear", 1, 100, 100, 10), 0);
    assert.ok(Math.abs(learningRate("cosine", 1, 55, 100, 10) - 0.5) < 1e-12);
  });

  it("accuracy and macro-F1 match hand calculations (sklearn semantics)", () => {
    const y = [0, 0, 1, 1, 2];
    const p = [0, 1, 1, 1, 0];
    assert.equal(accuracy(y, p), 3 / 5);
    // class 0: P 1/2 R 1/2 F 1/2; class 1: P 2/3 R 1 F 0.8; class 2: F 0 → mean 0.4333…
    assert.ok(Math.abs(macroF1(y, p, 3) - (0.5 + 0.8 + 0) / 3) < 1e-12);
    // a class absent from truth and predictions does not count
    assert.ok(Math.abs(macroF1([0, 1], [0, 1], 5) - 1) < 1e-12);
  });

  it("cross-entropy equals −log softmax at the label (hand calculation)", () => {
    const ce = crossEntropy(tf.tensor2d([[0, Math.log(3)]]), tf.tensor1d([1], "int32")).dataSync()[0];
    assert.ok(Math.abs(ce - -Math.log(3 / 4)) < 1e-6);
  });

  it("a training step leaves tf.memory().numTensors unchanged (classifier and masked LM)", async () => {
    const model = new BertForSequenceClassification(tiny, { numLabels: 2 });
    const opt = new AdamW(model.namedParameters(), { lr: 1e-3 });
    const data = toyExamples(8, 1);
    const step = async () => {
      const batch = makeBatch(data, [0, 1, 2, 3], 0);
      await trainStep(opt, () => crossEntropy(model.forward(batch), batch.labels), { lr: 1e-3, maxGradNorm: 1 });
      disposeBatch(batch);
    };
    await step(); // optimizer state is created in the constructor; the first step must not add anything either
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) await step();
    assert.equal(tf.memory().numTensors, before);

    const mlm = new BertForMaskedLM(tiny);
    const mopt = new AdamW(mlm.namedParameters(), { lr: 1e-3 });
    const rng = new Rng(3);
    const mstep = async () => {
      const b = maskBatch(
        data.map((d) => d.ids),
        0,
        { maskId: 4, vocabSize: 40, specialIds: [0, 1, 2, 3, 4], firstRegularId: 5 },
        rng,
      );
      await trainStep(mopt, () => mlmLoss(mlm, b), { lr: 1e-3 });
      disposeMaskedBatch(b);
    };
    await mstep();
    const before2 = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) await mstep();
    assert.equal(tf.memory().numTensors, before2);
    [opt, mopt, model, mlm].forEach((x) => x.dispose());
  });

  it("creating and disposing AdamW leaves nothing behind; its state is exactly 8 bytes per parameter", () => {
    const model = new BertForSequenceClassification(tiny, { numLabels: 2 });
    const params = model
      .namedParameters()
      .filter(([, p]) => p.trainable)
      .reduce((n, [, p]) => n + p.size, 0);
    const before = tf.memory();
    const opt = new AdamW(model.namedParameters(), { lr: 1e-3 });
    const during = tf.memory();
    assert.equal(during.numBytes - before.numBytes, 8 * params, "m and v in fp32");
    assert.equal(during.numTensors - before.numTensors, 2 * model.namedParameters().filter(([, p]) => p.trainable).length);
    opt.dispose();
    assert.equal(tf.memory().numTensors, before.numTensors);
    assert.equal(tf.memory().numBytes, before.numBytes);
    model.dispose();
  });

  it("only trainable variables change (a frozen encoder stays put)", async () => {
    const model = new BertForSequenceClassification(tiny, { numLabels: 2 });
    model.bert.setTrainable(false);
    const q = model.getSubmodule("bert.encoder.layer.0.attention.self.query") as unknown as { weight: tf.Variable };
    const frozen = q.weight.clone();
    const head = (model.getSubmodule("classifier") as unknown as { weight: tf.Variable }).weight.clone();
    const opt = new AdamW(model.namedParameters(), { lr: 1e-2 });
    const batch = makeBatch(toyExamples(4, 2), [0, 1, 2, 3], 0);
    await trainStep(opt, () => crossEntropy(model.forward(batch), batch.labels), { lr: 1e-2 });
    assertClose(q.weight, frozen, 0, "frozen query weight");
    assert.ok(tf.max(tf.abs(tf.sub(head, (model.getSubmodule("classifier") as unknown as { weight: tf.Variable }).weight))).dataSync()[0] > 0);
    opt.dispose();
    model.dispose();
  });

  it("fine-tuning learns a toy task, is reproducible with a seed, and reports its figures", async () => {
    const train = toyExamples(96, 5);
    const val = toyExamples(32, 6);
    const run = async () => {
      const model = new BertForSequenceClassification(tiny, { numLabels: 2 });
      const r = await finetuneClassifier(model, train, val, { epochs: 8, batchSize: 16, lr: 2e-2, seed: 7, progress: "silent" });
      model.dispose();
      return r;
    };
    const a = await run();
    const b = await run();
    assert.deepEqual(a.losses, b.losses, "same seed → same losses");
    assert.ok(a.losses[a.losses.length - 1] < a.losses[0], "loss should fall");
    assert.ok((a.epochs[7].validation?.accuracy ?? 0) >= 0.9, `validation accuracy ${a.epochs[7].validation?.accuracy}`);
    assert.ok(a.peakBytes > 0 && a.trainableParams === a.totalParams && a.steps === 48);
  });
});
