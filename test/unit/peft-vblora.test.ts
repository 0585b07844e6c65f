/** VB-LoRA: the shared bank and top-k admixture against PyTorch, counts, divisibility, top-k-only files. */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { strict as assert } from "node:assert";
import { BertForSequenceClassification } from "../../lib/models/bert";
import { Linear } from "../../lib/nn/linear";
import { vbloraConfig } from "../../lib/peft/vblora/config";
import { getPeftModel } from "../../lib/peft/peft-model";
import { VBLoraLayer } from "../../lib/peft/vblora/layer";
import { fromTopk, toTopk } from "../../lib/peft/vblora/topk-save";
import { countAdapterParameters, llamaSkeleton } from "../../lib/peft/count";
import { fromPretrained, savePretrained } from "../../lib/peft/serialization";
import { readSafetensors } from "../../lib/io/safetensors";
import { Rng } from "../../lib/util/random";
import { assertClose, setupBackend, tinyBertConfig } from "../helpers";

const tiny = tinyBertConfig();
const inputs = () => ({ inputIds: tf.tensor2d([[2, 11, 12, 13, 3]], [1, 5], "int32") });
const fresh = () => new BertForSequenceClassification(tiny, { numLabels: 2, rng: new Rng(3) }).eval();
const cfg = (o = {}) => vbloraConfig({ r: 2, numVectors: 6, vectorLength: 4, topk: 2, targetModules: ["query", "value"], ...o });

describe("PEFT: VB-LoRA", () => {
  before(setupBackend);

  it("A, B, the forward pass and the gradients match PyTorch's computation of peft's formulas", () => {
    const ref = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "fixtures/peft/vblora.json"), "utf8"));
    const base = new Linear(ref.in, ref.out);
    base.weight.assign(tf.tensor2d(ref.W));
    (base.bias as tf.Variable).assign(tf.tensor1d(ref.b));
    base.setTrainable(false);
    const bank = tf.variable(tf.tensor2d(ref.bank));
    const layer = new VBLoraLayer(base);
    layer.addAdapter("default", "m", { r: ref.r, topk: ref.topk, dropout: 0, initLogitsStd: 0.1, bank, rng: new Rng(0) });
    const la = layer.getSubmodule("vblora_logits_A").param("default");
    const lb = layer.getSubmodule("vblora_logits_B").param("default");
    la.assign(tf.tensor3d(ref.logits_A));
    lb.assign(tf.tensor3d(ref.logits_B));
    const { A, B } = layer.loraMatrices("default");
    assertClose(A, (ref.A as number[][]).flat(), 1e-6, "A");
    assertClose(B, (ref.B as number[][]).flat(), 1e-6, "B");
    const x = tf.tensor2d(ref.x);
    assertClose(layer.forward(x), (ref.y as number[][]).flat(), 1e-5, "forward");
    const { grads } = tf.variableGrads(() => tf.sum(tf.square(layer.forward(x))) as tf.Scalar, [bank, la, lb]);
    assertClose(grads[bank.name], (ref.grad_bank as number[][]).flat(), 1e-4, "d/dbank");
    assertClose(grads[la.name], (ref.grad_logits_A as number[][][]).flat(2), 1e-4, "d/dlogits_A");
    assertClose(grads[lb.name], (ref.grad_logits_B as number[][][]).flat(2), 1e-4, "d/dlogits_B");
  });

  it("a fresh VB-LoRA adapter is not a no-op (the reference initialises both bank and logits randomly)", () => {
    const before = fresh().bert.forward(inputs());
    const peft = getPeftModel(fresh(), cfg());
    const delta = (peft.adapterLayers()[0][1] as VBLoraLayer).deltaWeight("default");
    assert.ok(tf.max(tf.abs(delta)).dataSync()[0] > 1e-5, "ΔW = B·A ≠ 0 at initialisation");
    assert.ok(tf.max(tf.abs(tf.sub(peft.baseModel.bert.forward(inputs()), before))).dataSync()[0] > 1e-6, "hidden states change");
  });

  it("one bank is shared by every adapted layer and saved once as base_model.vblora_vector_bank", async () => {
    const peft = getPeftModel(fresh(), cfg({ modulesToSave: ["classifier"] }));
    const banks = peft.namedParameters().filter(([n]) => n.includes("vblora_vector_bank"));
    assert.deepEqual(
      banks.map(([n, p]) => [n, p.shape]),
      [["base_model.vblora_vector_bank.default", [6, 4]]],
    );
    assert.equal(peft.trainableParameterCounts().trainable, countAdapterParameters(fresh(), cfg()) + 8 * 2 + 2);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vb-"));
    await savePretrained(peft, dir);
    const keys = [...readSafetensors(path.join(dir, "adapter_model.safetensors")).tensors.keys()];
    assert.ok(keys.includes("base_model.vblora_vector_bank"));
    assert.ok(keys.includes("base_model.model.bert.encoder.layer.0.attention.self.query.vblora_logits_A"));
    const out = peft.forward(inputs());
    assertClose(fromPretrained(fresh(), dir).forward(inputs()), out, 1e-6, "round trip");
  });

  it("merged equals unmerged, and unmerge restores W", () => {
    const peft = getPeftModel(fresh(), cfg());
    for (const [n, p] of peft.namedParameters()) if (n.includes("vblora_logits")) p.assign(tf.randomNormal(p.shape, 0, 1, "float32", 4));
    const bank = peft.namedParameters().find(([n]) => n.includes("vblora_vector_bank"))?.[1] as tf.Variable;
    bank.assign(tf.randomUniform(bank.shape, -0.5, 0.5, "float32", 5));
    const layer = peft.adapterLayers()[0][1] as VBLoraLayer;
    const W0 = (layer.base as Linear).weight.clone();
    const out = peft.forward(inputs());
    peft.merge();
    assert.ok(tf.max(tf.abs(tf.sub((layer.base as Linear).weight, W0))).dataSync()[0] > 1e-3, "merge changed W");
    assertClose(peft.forward(inputs()), out, 2e-5, "merged");
    peft.unmerge();
    assertClose((layer.base as Linear).weight, W0, 2e-6, "unmerge restores W");
  });

  it("Llama-3.2-3B q,v at the defaults: 1,212,416 trainable (logits 1,146,880 + bank 65,536)", () => {
    assert.equal(countAdapterParameters(llamaSkeleton(), vbloraConfig({ targetModules: ["q_proj", "v_proj"] })), 1_212_416);
  });

  it("widths the vector length does not divide are an error that suggests lengths that fit", () => {
    assert.throws(
      () => getPeftModel(fresh(), cfg({ vectorLength: 3 })),
      /module "bert\.encoder\.layer\.0\.attention\.self\.query" is 8 → 8, which vectorLength 3 does not divide.*Vector lengths that fit: 4, 8/,
    );
    assert.throws(() => countAdapterParameters(fresh(), cfg({ vectorLength: 256 })), /vectorLength 256 does not divide/);
  });

  it("top-k-only files are smaller and rebuild the same A and B", async () => {
    const logits = new Float32Array([0.3, -1, 2, 0.5, 1.5, -0.2]);
    const { indices, weights } = toTopk(logits, 6, 2);
    assert.deepEqual(Array.from(indices), [2, 4]);
    assertClose(weights, [Math.exp(2) / (Math.exp(2) + Math.exp(1.5))], 1e-6, "softmax weight");
    const rebuilt = fromTopk(indices, weights, 6, 2);
    assert.deepEqual(Array.from(toTopk(rebuilt, 6, 2).indices), [2, 4]);

    const peft = getPeftModel(fresh(), cfg({ saveOnlyTopkWeights: true }));
    const out = peft.forward(inputs());
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vbk-"));
    await savePretrained(peft, dir);
    const file = readSafetensors(path.join(dir, "adapter_model.safetensors"));
    const idx = file.tensors.get("base_model.model.bert.encoder.layer.0.attention.self.query.vblora_logits_A_topk_indices");
    assert.equal(idx?.dtype, "U8"); // h = 6 < 256
    assert.deepEqual(idx?.shape, [2, 2, 2]);
    assert.ok(!file.tensors.has("base_model.model.bert.encoder.layer.0.attention.self.query.vblora_logits_A"));
    assertClose(fromPretrained(fresh(), dir).forward(inputs()), out, 1e-5, "top-k-only load");
  });
});
