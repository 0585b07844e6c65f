/**
 * Every method really trains: starting from the shipped checkpoint, a few steps on spam lower the loss,
 * the step leaks no tensors, and frozen weights stay frozen.
 */
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { strict as assert } from "node:assert";
import { loadBertForSequenceClassification } from "../../lib/io/hf-checkpoint";
import { labelNames } from "../../lib/data/datasets";
import { loadTask } from "../../lib/data/task";
import { AdamW } from "../../lib/train/adamw";
import { trainStep } from "../../lib/train/step";
import { crossEntropy, disposeBatch, makeBatch } from "../../lib/train/batching";
import { METHODS, prepareMethod } from "../../lib/experiments/methods";
import { setupBackend } from "../helpers";
import { Linear4bit } from "../../lib/quant/linear4bit";
import type { Module } from "../../lib/nn/module";

const SHIPPED = path.resolve(__dirname, "../../datasets/checkpoints/bert-tiny-peft");

describe("PEFT methods train on spam", () => {
  before(setupBackend);

  for (const method of METHODS) {
    it(`${method}: 6 steps lower the loss on the batch, leak no tensors, and leave frozen weights alone`, async () => {
      const { model, tokenizer } = loadBertForSequenceClassification(SHIPPED, { labels: labelNames("spam") });
      const task = loadTask("spam", tokenizer, { limit: 16, maxLength: 32 });
      const prepared = prepareMethod(method, model);
      const trainable = new Set(
        prepared.model
          .namedParameters()
          .filter(([, p]) => p.trainable)
          .map(([n]) => n),
      );
      const frozenName = [...prepared.model.namedParameters()]
        .map(([n]) => n)
        .find((n) => n.includes("encoder.layer.0.attention.self.query") && n.endsWith("weight") && !trainable.has(n));
      const frozen = frozenName
        ? prepared.model
            .namedParameters()
            .find(([n]) => n === frozenName)?.[1]
            .clone()
        : null;
      const codes = () =>
        (
          (prepared.model as unknown as Module).getSubmodule("base_model.model.bert.encoder.layer.0.attention.self.query.base_layer") as Linear4bit
        ).quantState.packed.slice();
      const codesBefore = method === "qlora" ? codes() : null;
      const opt = new AdamW(prepared.model.namedParameters(), { lr: prepared.lr, lrScale: prepared.lrScale });
      const batch = makeBatch(
        task.splits.train,
        Array.from({ length: 16 }, (_, i) => i),
        tokenizer.padId,
      );
      const loss = () => crossEntropy(prepared.model.forward(batch), batch.labels);
      prepared.model.eval(); // dropout off: the loss is a function of the weights only
      const before = tf.tidy(() => loss().dataSync()[0]);
      await trainStep(opt, loss, { lr: prepared.lr });
      const tensors = tf.memory().numTensors;
      for (let i = 0; i < 5; i++) await trainStep(opt, loss, { lr: prepared.lr });
      assert.equal(tf.memory().numTensors, tensors, "a training step must not leak tensors");
      const after = tf.tidy(() => loss().dataSync()[0]);
      assert.ok(after < before - 0.01, `loss ${before.toFixed(4)} → ${after.toFixed(4)}`);
      if (codesBefore) {
        assert.deepEqual(codes(), codesBefore, "the 4-bit codes of the base weight must not change");
      } else if (method !== "full") {
        assert.ok(frozen, "a frozen base weight exists");
        const now = prepared.model.namedParameters().find(([n]) => n === frozenName)?.[1] as tf.Variable;
        assert.equal(tf.max(tf.abs(tf.sub(now, frozen as tf.Tensor))).dataSync()[0], 0, `${frozenName} must stay frozen`);
      }
      disposeBatch(batch);
      opt.dispose();
      (prepared.peft ?? model).dispose();
    });
  }
});
