/**
 * Hugging Face checkpoint folders: the shipped pretrained model loads and predicts masked tokens (agreeing
 * with an independent PyTorch implementation), save → load round trips, and bad folders fail clearly.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { strict as assert } from "node:assert";
import { loadBertForMaskedLM, loadBertForSequenceClassification, saveBertCheckpoint, listCheckpointTensors, loadWeightsInto } from "../../lib/io/hf-checkpoint";
import { readSafetensors, writeSafetensors } from "../../lib/io/safetensors";
import { bertConfig } from "../../lib/models/bert-config";
import { BertForMaskedLM, BertForSequenceClassification, BertModel } from "../../lib/models/bert";
import { BertTokenizer } from "../../lib/tokenizer/bert-tokenizer";
import { loadTextCorpus } from "../../lib/data/datasets";
import { maskBatch, mlmAccuracy, disposeMaskedBatch } from "../../lib/train/mlm";
import { Rng } from "../../lib/util/random";
import { assertClose, setupBackend } from "../helpers";

const SHIPPED = path.resolve(__dirname, "../../datasets/checkpoints/bert-tiny-peft");
const tiny = bertConfig({ vocabSize: 30, hiddenSize: 8, numHiddenLayers: 1, numAttentionHeads: 2, intermediateSize: 16, maxPositionEmbeddings: 10 });

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "ckpt-"));
}

describe("checkpoints", () => {
  before(setupBackend);

  describe("the shipped pretrained model", () => {
    it("is a Hugging Face folder of at most ~10 MB whose weights all load", () => {
      for (const f of ["config.json", "model.safetensors", "vocab.txt", "tokenizer.json", "README.md"])
        assert.ok(fs.existsSync(path.join(SHIPPED, f)), `${f} missing`);
      assert.ok(fs.statSync(path.join(SHIPPED, "model.safetensors")).size <= 10.5e6);
      const names = listCheckpointTensors(SHIPPED).map((t) => t.name);
      assert.ok(names.includes("bert.encoder.layer.0.attention.self.query.weight"));
      assert.ok(!names.includes("cls.predictions.decoder.weight"), "the tied decoder is not saved (as save_pretrained does)");
      const { model, report } = loadBertForMaskedLM(SHIPPED);
      assert.deepEqual(report.newlyInitialised, []);
      assert.deepEqual(report.unused, []);
      assert.equal(report.loaded.length, model.namedParameters().length);
      model.dispose();
    });

    it("gives the same masked-LM logits as an independent PyTorch implementation", () => {
      // test/fixtures/bert/mlm-reference.json comes from scripts/reference/make-bert-fixture.py (PyTorch).
      const ref = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "fixtures/bert/mlm-reference.json"), "utf8")) as {
        input_ids: number[][];
        attention_mask: number[][];
        vocab_columns: number[];
        logits: number[][][];
        argmax: number[][];
      };
      const { model } = loadBertForMaskedLM(SHIPPED);
      const [b, t] = [ref.input_ids.length, ref.input_ids[0].length];
      const logits = model.forward({
        inputIds: tf.tensor2d(ref.input_ids.flat(), [b, t], "int32"),
        attentionMask: tf.tensor2d(ref.attention_mask.flat(), [b, t], "int32"),
      });
      const ours = logits.arraySync() as number[][][];
      ref.logits.forEach((rows, bi) =>
        rows.forEach((row, ti) => {
          assertClose(
            ref.vocab_columns.map((c) => ours[bi][ti][c]),
            row,
            2e-4,
            `logits [${bi}, ${ti}]`,
          );
          const argmax = ours[bi][ti].indexOf(Math.max(...ours[bi][ti]));
          assert.equal(argmax, ref.argmax[bi][ti], `arg-max token at [${bi}, ${ti}]`);
        }),
      );
      model.dispose();
    });

    it("predicts masked tokens of held-out text far better than the most frequent token", async () => {
      const { model, tokenizer } = loadBertForMaskedLM(SHIPPED);
      const texts = loadTextCorpus({ splits: ["validation"], limit: 150 });
      const seqs = texts.map((x) => tokenizer.encode(x, { maxLength: 48, truncation: true }).inputIds);
      const s = { pad: tokenizer.padId, unk: tokenizer.unkId, cls: tokenizer.clsId, sep: tokenizer.sepId, mask: tokenizer.maskId };
      const batch = maskBatch(
        seqs,
        s.pad,
        { maskId: s.mask, vocabSize: tokenizer.vocabSize, specialIds: [s.pad, s.unk, s.cls, s.sep, s.mask], firstRegularId: 5 },
        new Rng(9),
      );
      const { correct, total } = await mlmAccuracy(model, batch);
      const targets = Array.from(batch.targets.dataSync());
      const counts = new Map<number, number>();
      targets.forEach((y) => counts.set(y, (counts.get(y) ?? 0) + 1));
      const bestConstant = Math.max(...counts.values()) / total; // even the best single token *for this sample*
      assert.ok(correct / total > 2 * bestConstant, `masked accuracy ${(correct / total).toFixed(3)} vs constant ${bestConstant.toFixed(3)}`);
      disposeMaskedBatch(batch);
      model.dispose();
    });

    it("loads as a sequence classifier with only the pooler and classifier new", () => {
      const { model, report } = loadBertForSequenceClassification(SHIPPED, { labels: ["ham", "spam"] });
      assert.deepEqual(report.newlyInitialised.sort(), ["bert.pooler.dense.bias", "bert.pooler.dense.weight", "classifier.bias", "classifier.weight"]);
      assert.deepEqual(report.unused.sort(), [
        "cls.predictions.bias",
        "cls.predictions.transform.LayerNorm.bias",
        "cls.predictions.transform.LayerNorm.weight",
        "cls.predictions.transform.dense.bias",
        "cls.predictions.transform.dense.weight",
      ]);
      model.dispose();
    });
  });

  describe("save and load", () => {
    it("a saved classifier loads back with identical outputs, config labels and tokenizer", async () => {
      const dir = tmpDir();
      const vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ...Array.from({ length: 25 }, (_, i) => `w${i}`)];
      const tokenizer = new BertTokenizer(vocab, { lowercase: true });
      const model = new BertForSequenceClassification({ ...tiny, labels: ["no", "yes"] }, { rng: new Rng(5) }).eval();
      await saveBertCheckpoint(model, dir, { tokenizer });
      const loaded = loadBertForSequenceClassification(dir);
      assert.deepEqual(loaded.config.labels, ["no", "yes"]);
      assert.deepEqual(loaded.report.newlyInitialised, []);
      const inputs = { inputIds: tf.tensor2d([[2, 7, 8, 3]], [1, 4], "int32") };
      assertClose(loaded.model.forward(inputs), model.forward(inputs), 0, "logits");
      assert.deepEqual(loaded.tokenizer.encode("w3 w4").inputIds, tokenizer.encode("w3 w4").inputIds);
      assert.equal(readSafetensors(path.join(dir, "model.safetensors")).metadata.format, "pt");
      await assert.rejects(() => saveBertCheckpoint(model, dir, { tokenizer }), /already holds config.json and model.safetensors; pass overwrite: true/);
      model.dispose();
      loaded.model.dispose();
    });

    it("reads old-style names (LayerNorm.gamma/beta) and a bare BertModel checkpoint without the bert. prefix", () => {
      const dir = tmpDir();
      const source = new BertModel(tiny, { addPoolingLayer: false, rng: new Rng(8) });
      const tensors = new Map(
        source
          .namedParameters()
          .map(([n, p]) => [
            n.replace(/LayerNorm\.weight$/, "LayerNorm.gamma").replace(/LayerNorm\.bias$/, "LayerNorm.beta"),
            { shape: p.shape, data: p.dataSync() as Float32Array },
          ]),
      );
      writeSafetensors(path.join(dir, "model.safetensors"), tensors);
      const target = new BertForMaskedLM(tiny, { rng: new Rng(99) });
      const report = loadWeightsInto(target, dir);
      assert.equal(report.loaded.length, source.namedParameters().length);
      assertClose(
        target.getSubmodule("bert.embeddings.LayerNorm").param("weight"),
        source.getSubmodule("embeddings.LayerNorm").param("weight"),
        0,
        "LayerNorm.gamma → weight",
      );
      assert.deepEqual(
        report.newlyInitialised.filter((n) => !n.startsWith("cls.")),
        [],
      );
    });

    it("bad folders fail with messages that say what to do", () => {
      assert.throws(() => loadBertForMaskedLM("/nonexistent/ckpt"), /does not exist/);
      const dir = tmpDir();
      assert.throws(() => loadBertForMaskedLM(dir), /config\.json is missing/);
      fs.writeFileSync(
        path.join(dir, "config.json"),
        JSON.stringify({ model_type: "bert", vocab_size: 30, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 16 }),
      );
      fs.writeFileSync(path.join(dir, "pytorch_model.bin"), "pickle");
      assert.throws(() => loadBertForMaskedLM(dir), /only pytorch_model\.bin.*Convert it once/s);
      fs.writeFileSync(path.join(dir, "model.safetensors"), Buffer.from([1, 2, 3]));
      assert.throws(() => loadBertForMaskedLM(dir), /model\.safetensors/);
      const other = tmpDir();
      fs.writeFileSync(path.join(other, "config.json"), "{ not json");
      assert.throws(() => loadBertForMaskedLM(other), /config\.json is not valid JSON/);
    });
  });
});
