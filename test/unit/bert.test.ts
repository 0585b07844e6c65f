/** The BERT modules: Hugging Face's exact parameter names and shapes, masking, and module surgery. */
import * as tf from "@tensorflow/tfjs";
import { strict as assert } from "node:assert";
import { bertConfig, configFromHF, configToHF } from "../../lib/models/bert-config";
import { BertForMaskedLM, BertForSequenceClassification } from "../../lib/models/bert";
import { Linear } from "../../lib/nn/linear";
import { Dropout, dropoutMask } from "../../lib/nn/dropout";
import { Rng } from "../../lib/util/random";
import { assertClose, setupBackend } from "../helpers";

const tiny = bertConfig({ vocabSize: 50, hiddenSize: 8, numHiddenLayers: 1, numAttentionHeads: 2, intermediateSize: 16, maxPositionEmbeddings: 12 });

describe("BERT modules", () => {
  before(setupBackend);

  it("BertForSequenceClassification has exactly Hugging Face's parameter names and shapes", () => {
    const m = new BertForSequenceClassification(tiny, { numLabels: 3 });
    const got = m.namedParameters().map(([n, p]) => `${n} ${JSON.stringify(p.shape)}`);
    // Written out from transformers' BertForSequenceClassification.state_dict() for this configuration.
    const expected = [
      "bert.embeddings.word_embeddings.weight [50,8]",
      "bert.embeddings.position_embeddings.weight [12,8]",
      "bert.embeddings.token_type_embeddings.weight [2,8]",
      "bert.embeddings.LayerNorm.weight [8]",
      "bert.embeddings.LayerNorm.bias [8]",
      "bert.encoder.layer.0.attention.self.query.weight [8,8]",
      "bert.encoder.layer.0.attention.self.query.bias [8]",
      "bert.encoder.layer.0.attention.self.key.weight [8,8]",
      "bert.encoder.layer.0.attention.self.key.bias [8]",
      "bert.encoder.layer.0.attention.self.value.weight [8,8]",
      "bert.encoder.layer.0.attention.self.value.bias [8]",
      "bert.encoder.layer.0.attention.output.dense.weight [8,8]",
      "bert.encoder.layer.0.attention.output.dense.bias [8]",
      "bert.encoder.layer.0.attention.output.LayerNorm.weight [8]",
      "bert.encoder.layer.0.attention.output.LayerNorm.bias [8]",
      "bert.encoder.layer.0.intermediate.dense.weight [16,8]",
      "bert.encoder.layer.0.intermediate.dense.bias [16]",
      "bert.encoder.layer.0.output.dense.weight [8,16]",
      "bert.encoder.layer.0.output.dense.bias [8]",
      "bert.encoder.layer.0.output.LayerNorm.weight [8]",
      "bert.encoder.layer.0.output.LayerNorm.bias [8]",
      "bert.pooler.dense.weight [8,8]",
      "bert.pooler.dense.bias [8]",
      "classifier.weight [3,8]",
      "classifier.bias [3]",
    ];
    assert.deepEqual(got, expected);
    m.dispose();
  });

  it("BertForMaskedLM has no pooler and the cls.predictions head (decoder tied to the word embeddings)", () => {
    const m = new BertForMaskedLM(tiny);
    const names = m.namedParameters().map(([n]) => n);
    assert.ok(!names.some((n) => n.includes("pooler")));
    assert.deepEqual(
      names.filter((n) => n.startsWith("cls.")),
      [
        "cls.predictions.bias",
        "cls.predictions.transform.dense.weight",
        "cls.predictions.transform.dense.bias",
        "cls.predictions.transform.LayerNorm.weight",
        "cls.predictions.transform.LayerNorm.bias",
      ],
    );
    const ids = tf.tensor2d([[2, 7, 9, 3]], [1, 4], "int32");
    assert.deepEqual(m.forward({ inputIds: ids }).shape, [1, 4, 50]);
    assert.deepEqual(m.forward({ inputIds: ids }, tf.tensor1d([1, 2], "int32")).shape, [2, 50]);
    m.dispose();
  });

  it("the lecture's target names (query, key, value, dense) address the same modules as in Python", () => {
    const m = new BertForSequenceClassification(bertConfig({ ...tiny, numHiddenLayers: 2 }), { numLabels: 2 });
    const linears = m
      .namedModules()
      .filter(([, mod]) => mod instanceof Linear)
      .map(([n]) => n);
    const match = (t: string) => linears.filter((n) => n === t || n.endsWith(`.${t}`));
    assert.deepEqual(match("query"), ["bert.encoder.layer.0.attention.self.query", "bert.encoder.layer.1.attention.self.query"]);
    assert.equal(match("dense").length, 2 * 3 + 1); // attention.output, intermediate, output per layer + pooler
    m.dispose();
  });

  it("padding does not change the states of real tokens (attention mask)", () => {
    const m = new BertForSequenceClassification(tiny, { numLabels: 2 }).eval();
    const short = m.bert.forward({ inputIds: tf.tensor2d([[2, 11, 12, 3]], [1, 4], "int32"), attentionMask: tf.tensor2d([[1, 1, 1, 1]], [1, 4], "int32") });
    const padded = m.bert.forward({
      inputIds: tf.tensor2d([[2, 11, 12, 3, 0, 0]], [1, 6], "int32"),
      attentionMask: tf.tensor2d([[1, 1, 1, 1, 0, 0]], [1, 6], "int32"),
    });
    assertClose(short, tf.slice(padded, [0, 0, 0], [1, 4, 8]), 1e-5, "hidden states");
    m.dispose();
  });

  it("dropout is active in training mode and off in eval mode", () => {
    const m = new BertForSequenceClassification(bertConfig({ ...tiny, hiddenDropoutProb: 0.5 }), { numLabels: 2 });
    const inputs = { inputIds: tf.tensor2d([[2, 11, 12, 3]], [1, 4], "int32") };
    m.eval();
    assertClose(m.forward(inputs), m.forward(inputs), 0, "eval is deterministic");
    m.train();
    assert.ok(tf.sum(tf.abs(tf.sub(m.forward(inputs), m.forward(inputs)))).dataSync()[0] > 0, "train mode should differ between calls");
    m.dispose();
  });

  it("a dropout mask: the generator's own draws (keep when ≥ rate·2³²), scaled by 1/(1 − rate); about 1 − rate kept", () => {
    const rate = 0.25;
    const mask = dropoutMask([3, 1000], rate, 42).dataSync();
    const rng = new Rng(42);
    for (let i = 0; i < mask.length; i++) {
      const expected = rng.nextUint32() >= rate * 2 ** 32 ? 1 / (1 - rate) : 0;
      assert.equal(mask[i], Math.fround(expected), `entry ${i}`);
    }
    const kept = Array.from(mask).filter((v) => v > 0).length / mask.length;
    assert.ok(Math.abs(kept - (1 - rate)) < 0.03, `kept ${kept}`); // 3000 draws: the standard error is 0.008
    const layer = new Dropout(rate, 7);
    const x = tf.ones([2, 5]);
    assert.equal(layer.eval().forward(x), x, "eval: the input itself");
    const y = layer.train().forward(x).dataSync();
    assert.ok(Array.from(y).every((v) => v === 0 || Math.abs(v - 4 / 3) < 1e-6));
  });

  it("setSubmodule swaps a layer by name and the forward pass uses the new one", () => {
    const m = new BertForSequenceClassification(tiny, { numLabels: 2 }).eval();
    const inputs = { inputIds: tf.tensor2d([[2, 11, 12, 3]], [1, 4], "int32") };
    const before = m.forward(inputs);
    const zero = new Linear(8, 8);
    zero.weight.assign(tf.zeros([8, 8]));
    m.setSubmodule("bert.encoder.layer.0.attention.self.value", zero);
    assert.equal(m.getSubmodule("bert.encoder.layer.0.attention.self.value"), zero);
    assert.ok(tf.max(tf.abs(tf.sub(before, m.forward(inputs)))).dataSync()[0] > 1e-6);
    assert.throws(() => m.getSubmodule("bert.encoder.layer.0.attention.self.nope"), /no sub-module "nope".*query, key, value/);
    m.dispose();
  });

  it("loadStateDict rejects a wrong shape, naming the key", () => {
    const m = new BertForSequenceClassification(tiny, { numLabels: 2 });
    const state = new Map(m.stateDict());
    state.set("classifier.weight", tf.zeros([5, 8]));
    assert.throws(() => m.loadStateDict(state), /"classifier.weight" has shape \[5,8\] but the model expects \[2,8\]/);
    m.dispose();
  });

  it("config.json round trip keeps every field and the labels", () => {
    const c = bertConfig({ ...tiny, labels: ["ham", "spam"] });
    const json = configToHF(c, "BertForSequenceClassification");
    assert.equal(json.hidden_size, 8);
    assert.deepEqual(json.id2label, { 0: "ham", 1: "spam" });
    assert.deepEqual(configFromHF(JSON.parse(JSON.stringify(json))), c);
    assert.throws(() => configFromHF({ model_type: "gpt2" }), /model_type is "gpt2"/);
  });
});
