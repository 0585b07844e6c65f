/**
 * The experiments the lecture implies (issue 10, item 4): sized variants for the rank and WaveFT sweeps,
 * forgetting on held-out masked-LM text, and DoRA's magnitude/direction trace — each against a hand
 * calculation or an invariant: head-only fine-tuning changes no encoder weight, so its forgetting and its
 * (ΔD, ΔM) are exactly 0; full fine-tuning moves both.
 */
import { strict as assert } from "node:assert";
import * as tf from "@tensorflow/tfjs";
import { pearson } from "../../lib/util/stats";
import { prepareMethod, resolveMethod, sizedVariant } from "../../lib/experiments/methods";
import { runMethod } from "../../lib/experiments/compare";
import { ForgettingProbe, loadEncoderInto } from "../../lib/experiments/forgetting";
import {
  effectiveWeight,
  magnitudeDirectionChange,
  magnitudePerDirection,
  traceCorrelations,
  traceFigure,
  traceMagnitudeDirection,
} from "../../lib/experiments/magnitude-direction";
import { loadBertForMaskedLM, loadBertForSequenceClassification } from "../../lib/io/hf-checkpoint";
import { labelNames } from "../../lib/data/datasets";
import { LoraLayer } from "../../lib/peft/lora/layer";
import { adapterParams, setupBackend, SHIPPED } from "../helpers";

describe("lecture experiments: sized variants", () => {
  before(setupBackend);

  it("lora-rN / dora-rN / waveft-nN train the hand-counted number of adapter parameters", () => {
    // Per encoder layer: query, key, value, attention.output (128 → 128), intermediate (128 → 512), output (512 → 128).
    const inPlusOut = 4 * (128 + 128) + (128 + 512) + (512 + 128); // 2,304
    const outs = 4 * 128 + 512 + 128; // 1,152 magnitudes per layer (DoRA)
    assert.equal(adapterParams("lora-r1"), 2 * inPlusOut);
    assert.equal(adapterParams("lora-r4"), 2 * 4 * inPlusOut);
    assert.equal(adapterParams("dora-r2"), 2 * (2 * inPlusOut + outs));
    assert.equal(adapterParams("waveft-n64"), 2 * 6 * 64);
    // waveft-n384 is rank-1 LoRA's budget exactly
    assert.equal(adapterParams("waveft-n384"), adapterParams("lora-r1"));
  });

  it("every method's model, disposed, or merged-and-unloaded then disposed, leaves no tensor behind", () => {
    for (const name of ["head", "full", "lora", "dora", "vblora", "waveft", "qlora"]) {
      for (const unload of [false, true]) {
        if (unload && (name === "head" || name === "full" || name === "qlora")) continue; // nothing to unload; QLoRA re-quantizes
        const before = tf.memory().numTensors;
        const { model } = loadBertForSequenceClassification(SHIPPED, { labels: labelNames("spam") });
        const prepared = prepareMethod(name, model);
        if (unload) prepared.peft!.mergeAndUnload().dispose();
        else (prepared.peft ?? model).dispose();
        assert.equal(tf.memory().numTensors, before, `${name}${unload ? " (merged and unloaded)" : ""}`);
      }
    }
  });

  it("names that are not sized variants are refused with the list", () => {
    assert.deepEqual(sizedVariant("dora-r16"), { method: "dora", options: { r: 16 } });
    assert.equal(resolveMethod("lora-r4").lr, resolveMethod("lora").lr);
    for (const bad of ["lora-r0", "lora-4", "lora-r", "vblora-r4", "waveft-n0", "waveft-r4"]) {
      assert.equal(sizedVariant(bad), null, bad);
      assert.throws(() => resolveMethod(bad), /unknown method .*or a sized variant \(lora-r4/, bad);
    }
  });
});

describe("lecture experiments: forgetting", () => {
  before(setupBackend);
  const quick = { task: "spam" as const, checkpoint: SHIPPED, epochs: 1, limit: 32, trainLimit: 32, seed: 1, progress: "silent" as const, forgetting: true };

  it("head-only leaves the held-out masked-LM loss exactly as it was; full fine-tuning changes it; no tensor is left behind", async () => {
    const head = await runMethod({ ...quick, method: "head" });
    assert.ok(head.row.mlmLossBefore! > 1 && Number.isFinite(head.row.mlmLossBefore!));
    assert.equal(head.row.mlmLossAfter, head.row.mlmLossBefore);
    const before = tf.memory().numTensors;
    const full = await runMethod({ ...quick, method: "full" });
    assert.equal(tf.memory().numTensors, before, "runMethod with forgetting leaves no tensor behind");
    assert.equal(full.row.mlmLossBefore, head.row.mlmLossBefore, "every run is scored on the same masked positions");
    assert.notEqual(full.row.mlmLossAfter, full.row.mlmLossBefore);
  });

  it("LoRA's loss is measured on the merged weights, with no tensor left behind", async () => {
    const before = tf.memory().numTensors;
    const lora = await runMethod({ ...quick, method: "lora-r2" });
    assert.equal(tf.memory().numTensors, before);
    assert.ok(Number.isFinite(lora.row.mlmLossAfter!));
    assert.notEqual(lora.row.mlmLossAfter, lora.row.mlmLossBefore);
  });

  it("the probe's loss of the pre-trained encoder is its own; an unmerged adapter model and QLoRA are refused", async () => {
    const probe = await ForgettingProbe.create(SHIPPED, { textsPerDataset: 16 });
    try {
      const { model } = loadBertForSequenceClassification(SHIPPED, { labels: labelNames("spam") });
      assert.equal(await probe.after(model), probe.before, "the untouched encoder scores what the pre-trained model scored");
      const peft = prepareMethod("lora", model).peft!;
      const { model: mlm } = loadBertForMaskedLM(SHIPPED);
      assert.throws(() => loadEncoderInto(mlm, peft), /does not fit the masked LM \(merge adapters first\)/);
      mlm.dispose();
      peft.dispose();
    } finally {
      probe.dispose();
    }
    await assert.rejects(runMethod({ ...quick, method: "qlora" }), /QLoRA's base is 4-bit/);
  });
});

describe("lecture experiments: DoRA's magnitude and direction", () => {
  before(setupBackend);

  it("ΔM and ΔD by hand", async () => {
    const w0 = tf.tensor2d([
      [3, 4],
      [1, 0],
    ]);
    const w = tf.tensor2d([
      [6, 8], // twice as long, same direction: |10 − 5| = 5, 1 − cos = 0
      [0, 1], // same length, turned 90°: 0, 1 − cos = 1
    ]);
    const { deltaM, deltaD } = await magnitudeDirectionChange(w0, w);
    assert.ok(Math.abs(deltaM - 2.5) < 1e-6, `ΔM ${deltaM}`);
    assert.ok(Math.abs(deltaD - 0.5) < 1e-6, `ΔD ${deltaD}`);
    tf.dispose([w0, w]);
    assert.equal(pearson([1, 2, 3], [2, 4, 7]).toFixed(4), "0.9934");
    assert.equal(pearson([1, 2, 3], [3, 2, 1]), -1);
  });

  it("an adapted layer's effective weight is its merged weight (DoRA included)", () => {
    const { model } = loadBertForSequenceClassification(SHIPPED, { labels: labelNames("spam") });
    const peft = prepareMethod("dora-r2", model).peft!;
    const layer = peft.baseModel.getSubmodule("bert.encoder.layer.0.intermediate.dense") as LoraLayer;
    const params = Object.fromEntries(layer.adapterParameters("default"));
    tf.tidy(() => {
      params["lora_B.default.weight"].assign(tf.randomNormal(params["lora_B.default.weight"].shape, 0, 0.1, "float32", 3));
      params["lora_magnitude_vector.default.weight"].assign(tf.mul(params["lora_magnitude_vector.default.weight"], 1.5));
    });
    const effective = effectiveWeight(layer);
    layer.merge();
    const merged = layer.base.weightValue();
    assert.ok(tf.tidy(() => tf.max(tf.abs(tf.sub(effective, merged))).dataSync()[0]) < 1e-5);
    tf.dispose([effective, merged]);
    peft.dispose();
  });

  it("the trace: head-only moves no encoder weight (all zeros); full fine-tuning moves every layer; figure and correlations per method", async () => {
    const trace = (method: string) => traceMagnitudeDirection({ method, checkpoint: SHIPPED, steps: 4, every: 2, trainExamples: 64, seed: 2 });
    const before = tf.memory().numTensors;
    const head = await trace("head");
    assert.equal(tf.memory().numTensors, before, "the trace leaves no tensor behind");
    assert.equal(head.length, 2 * 12, "12 encoder linears measured at steps 2 and 4");
    assert.deepEqual([...new Set(head.map((p) => p.step))], [2, 4]);
    assert.ok(
      head.every((p) => p.deltaM === 0 && Math.abs(p.deltaD) < 1e-6),
      "head-only leaves the encoder untouched",
    );
    const full = await trace("full");
    assert.ok(
      full.every((p) => p.deltaM > 0 && p.deltaD > 0),
      "full fine-tuning moves every layer",
    );
    assert.deepEqual(
      full.slice(0, 6).map((p) => p.layer),
      ["0.query", "0.key", "0.value", "0.attention.output", "0.intermediate", "0.output"],
    );
    const r = traceCorrelations(full);
    const last = full.filter((p) => p.step === 4);
    const ratio = last.reduce((a, p) => a + p.deltaM, 0) / last.reduce((a, p) => a + p.deltaD, 0);
    assert.ok(Math.abs(magnitudePerDirection(full).full - ratio) < 1e-12, "mean ΔM / mean ΔD at the last step");
    assert.throws(() => magnitudePerDirection(full, 3), /no full point at step 3/);
    assert.ok(r.full.all >= -1 && r.full.all <= 1 && Object.keys(r.full.byStep).length === 2);
    const fig = traceFigure([...full, ...full.map((p) => ({ ...p, method: "copy" }))]);
    assert.equal(fig.data.length, 2);
    assert.equal((fig.data[1] as { xaxis: string }).xaxis, "x2");
  });
});
