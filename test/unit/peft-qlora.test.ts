/** QLoRA: a 4-bit (NF4 + double quantization) frozen base under LoRA adapters. */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { strict as assert } from "node:assert";
import { BertForSequenceClassification } from "../../lib/models/bert";
import { loraConfig } from "../../lib/peft/lora/config";
import { getPeftModel } from "../../lib/peft/peft-model";
import { quantizeLinears, quantizeLinearsAsync } from "../../lib/peft/qlora";
import { Linear4bit } from "../../lib/quant/linear4bit";
import { Module } from "../../lib/nn/module";
import { fromPretrained, savePretrained } from "../../lib/peft/serialization";
import { Rng } from "../../lib/util/random";
import { assertClose, setupBackend, tinyBertConfig, tinyInputs } from "../helpers";

const cfg = tinyBertConfig({ hiddenSize: 64, intermediateSize: 128 });
const inputs = tinyInputs;
const fresh = () => new BertForSequenceClassification(cfg, { numLabels: 2, rng: new Rng(3) }).eval();
const ENCODER = "bert\\.encoder\\..*\\.(query|key|value|dense)";

describe("PEFT: QLoRA", () => {
  before(setupBackend);

  it("stores the base weights in ≈4.127 bits (≤ 30% of fp32) and stays close to the fp32 model", () => {
    const reference = fresh().forward(inputs());
    const model = fresh();
    const report = quantizeLinears(model, ENCODER);
    assert.equal(report.modules.length, 12);
    assert.ok(model.getSubmodule("bert.encoder.layer.0.attention.self.query") instanceof Linear4bit);
    assert.ok(report.quantizedWeightBytes / report.fp32WeightBytes <= 0.3, `ratio ${report.quantizedWeightBytes / report.fp32WeightBytes}`);
    assert.ok(Math.abs(report.bitsPerParameter - 4.127) < 0.01, `bits/param ${report.bitsPerParameter}`);
    const quantized = model.forward(inputs());
    assert.ok(tf.max(tf.abs(tf.sub(quantized, reference))).dataSync()[0] < 0.05, "4-bit model ≈ fp32 model");
  });

  it("quantizeLinearsAsync (reads that work on a GPU) stores the same codes, scales and bias as quantizeLinears, and leaves nothing behind", async () => {
    const [syncModel, asyncModel] = [fresh(), fresh()];
    const n0 = tf.memory().numTensors;
    const syncReport = quantizeLinears(syncModel, ENCODER);
    const n1 = tf.memory().numTensors;
    const asyncReport = await quantizeLinearsAsync(asyncModel, ENCODER);
    assert.equal(n1 - tf.memory().numTensors, n0 - n1, "both free the fp32 weights they replace, and nothing else is left");
    assert.deepEqual(asyncReport, syncReport);
    for (const name of syncReport.modules) {
      const [a, b] = [asyncModel.getSubmodule(name) as Linear4bit, syncModel.getSubmodule(name) as Linear4bit];
      assert.deepEqual(a.quantState, b.quantState, name);
      assert.deepEqual(await a.bias?.data(), await b.bias?.data(), `${name}: bias`);
    }
    const other = fresh();
    await assert.rejects(quantizeLinearsAsync(other, "no_such_layer"), /no_such_layer/);
    other.dispose();
    syncModel.dispose();
    asyncModel.dispose();
  });

  it("LoRA on the 4-bit base: a no-op at init, only the adapters (and head) train, merge warns and is close", () => {
    const model = fresh();
    quantizeLinears(model, ENCODER);
    const before = model.forward(inputs());
    const peft = getPeftModel(model, loraConfig({ r: 4, targetModules: ENCODER, modulesToSave: ["classifier"] }));
    assertClose(peft.forward(inputs()), before, 1e-6, "fresh adapter on a 4-bit base");
    const trainable = peft
      .namedParameters()
      .filter(([, p]) => p.trainable)
      .map(([n]) => n);
    assert.ok(
      trainable.every((n) => /lora_(A|B)\.default\.|classifier\./.test(n)),
      trainable.join(", "),
    );
    const { grads } = tf.variableGrads(
      () => tf.sum(tf.square(peft.forward(inputs()))) as tf.Scalar,
      peft
        .namedParameters()
        .filter(([, p]) => p.trainable)
        .map(([, p]) => p),
    );
    assert.equal(Object.keys(grads).length, trainable.length, "every trainable tensor gets a gradient");
    for (const [n, p] of peft.namedParameters()) if (n.includes("lora_B")) p.assign(tf.randomNormal(p.shape, 0, 0.02, "float32", 9));
    const out = peft.forward(inputs());
    const warnings: string[] = [];
    const warn = console.warn;
    console.warn = (m: string) => warnings.push(m);
    try {
      peft.merge();
    } finally {
      console.warn = warn;
    }
    assert.match(warnings.join("\n"), /re-quantized \(lossy\)/);
    assert.ok(tf.max(tf.abs(tf.sub(peft.forward(inputs()), out))).dataSync()[0] < 0.05, "merged 4-bit model ≈ unmerged");
  });

  it("mergeAsync / unmergeAsync (reads that work on a GPU) store the same 4-bit codes as merge / unmerge, and leave nothing behind", async () => {
    const build = () => {
      const model = fresh();
      quantizeLinears(model, ENCODER);
      const peft = getPeftModel(model, loraConfig({ r: 4, targetModules: ENCODER }));
      for (const [n, p] of peft.namedParameters()) if (n.includes("lora_B")) p.assign(tf.randomNormal(p.shape, 0, 0.02, "float32", 9));
      return peft;
    };
    const codes = (model: Module) =>
      model
        .namedModules()
        .filter(([, m]) => m instanceof Linear4bit)
        .map(([n, m]) => [n, Array.from((m as Linear4bit).quantState.packed)] as const);
    const [sync, async_] = [build(), build()];
    const original = codes(sync);
    const warn = console.warn;
    console.warn = () => undefined;
    try {
      sync.merge();
      const before = tf.memory().numTensors;
      await async_.mergeAsync();
      assert.equal(tf.memory().numTensors, before, "mergeAsync leaves no tensor behind");
      assert.deepEqual(codes(async_), codes(sync), "the same codes as merge()");
      assert.notDeepEqual(codes(async_), original, "merging changed the codes");
      sync.unmerge();
      await async_.unmergeAsync();
      assert.deepEqual(codes(async_), codes(sync), "the same codes as unmerge()");
      assert.deepEqual(codes(await build().mergeAndUnloadAsync()), codes(build().mergeAndUnload()), "mergeAndUnloadAsync = mergeAndUnload");
    } finally {
      console.warn = warn;
    }
  });

  it("the adapter saves in peft's layout (LoRA tensors only) and loads onto a freshly quantized base", async () => {
    const model = fresh();
    quantizeLinears(model, ENCODER);
    const peft = getPeftModel(model, loraConfig({ r: 4, targetModules: ENCODER }));
    for (const [n, p] of peft.namedParameters()) if (n.includes("lora_B")) p.assign(tf.randomNormal(p.shape, 0, 0.02, "float32", 9));
    const out = peft.forward(inputs());
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "qlora-"));
    await savePretrained(peft, dir);
    const base = fresh();
    quantizeLinears(base, ENCODER);
    assertClose(fromPretrained(base, dir).forward(inputs()), out, 1e-6, "reloaded");
  });
});
