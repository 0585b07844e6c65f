/**
 * Interoperability with the Python ecosystem, on the shipped model and real mails:
 *
 *   kit → peft     adapters the kit trains and saves (LoRA, rsLoRA, DoRA, VB-LoRA full and top-k, WaveFT,
 *                  the LoRA part of QLoRA) load with `PeftModel.from_pretrained` without missing/unexpected
 *                  keys and give the kit's logits, unmerged and after `merge_and_unload()`;
 *   peft → kit     adapters peft trains and saves load with the kit's `fromPretrained` and give peft's logits;
 *   checkpoints    the kit's merged checkpoint loads in transformers; the shipped checkpoint gives the same
 *                  MLM logits; the kit's tokenizer gives BertTokenizerFast's ids on every test mail;
 *   quantization   NF4 / FP4 codes, scales and values equal bitsandbytes' CPU `quantize_4bit`.
 *
 * The Python side is scripts/interop/peft_side.py, run with the interpreter in COURSEKIT_INTEROP_PYTHON or
 * .venv-interop/bin/python (made by `bash scripts/setup-interop.sh`). Without it the tests skip — except in
 * CI, where that is a failure. Everything is written to a temporary folder, never into the repository.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import * as tf from "@tensorflow/tfjs";
import { strict as assert } from "node:assert";
import { loadBertForMaskedLM, loadBertForSequenceClassification, saveBertCheckpoint } from "../../lib/io/hf-checkpoint";
import { readSafetensors } from "../../lib/io/safetensors";
import { labelNames, loadSplit, Example } from "../../lib/data/datasets";
import { AdamW } from "../../lib/train/adamw";
import { trainStep } from "../../lib/train/step";
import { crossEntropy } from "../../lib/train/batching";
import { ENCODER_LINEARS, HEAD_MODULES, prepareMethod, PreparedMethod } from "../../lib/experiments/methods";
import { loraConfig } from "../../lib/peft/lora/config";
import { getPeftModel, PeftModel } from "../../lib/peft/peft-model";
import { fromPretrained, savePretrained } from "../../lib/peft/serialization";
import { Linear } from "../../lib/nn/linear";
import { quantize, isDoubleQuantized, restoreAbsmax, dequantize, QuantState } from "../../lib/quant";
import { BertForSequenceClassification, BertInputs } from "../../lib/models/bert";
import type { BertTokenizer } from "../../lib/tokenizer";
import { setupBackend, maxAbsDiff } from "../helpers";

const ROOT = path.resolve(__dirname, "..", "..");
const SHIPPED = path.join(ROOT, "datasets/checkpoints/bert-tiny-peft");
const SCRIPT = path.join(ROOT, "scripts/interop/peft_side.py");
/** Logits must agree to this (fp32 on both sides, different summation orders). */
const TOL = 1e-4;
/** A trained adapter must move the logits by at least this much, so that agreement within TOL means something. */
const MIN_EFFECT = 1e-2;
const SEQ = 64;
const STEPS = 4;

type Matrix = number[][];
interface Inputs {
  input_ids: number[][];
  attention_mask: number[][];
}
interface LoadResult {
  messages: string[];
  base_messages: string[];
  missing_keys: string[];
  unexpected_keys: string[];
  file_keys_not_in_model: string[];
  model_keys_not_in_file: string[];
  file_value_max_diff: number;
  peft_class: string;
  merged_class: string;
  logits: Matrix;
  merged_logits: Matrix;
  perturbed: { tensor: string; by: number; logits: Matrix };
}
interface PeftMade {
  losses: number[];
  messages: string[];
  logits: Matrix;
  disabled_logits: Matrix;
  merged_logits: Matrix;
}
interface QuantCase {
  quant_type: "nf4" | "fp4";
  compress_statistics: boolean;
  n: number;
  blocksize: number;
  error?: string;
  packed?: number[];
  dequantized?: number[];
  absmax?: number[];
  offset?: number;
  absmax_codes?: number[];
  absmax2?: number[];
  absmax_restored?: number[];
}
interface LoadingInfo {
  missing_keys: string[];
  unexpected_keys: string[];
  mismatched_keys: string[];
  error_msgs: string[];
}
interface PyResults {
  versions: { peft: string; transformers: string; torch: string; bitsandbytes: string };
  timings: Record<string, number>;
  kit_cases: Record<string, LoadResult>;
  peft_cases: Record<string, PeftMade>;
  checkpoint: { messages: string[]; loading_info: LoadingInfo; num_labels: number; logits: Matrix };
  mlm: { messages: string[]; loading_info: LoadingInfo; shape: number[] };
  tokenizer: { class: string; messages: string[]; input_ids: number[][]; truncated_64: number[][] };
  quant: { bitsandbytes: string; weight_key: string; cases: QuantCase[] };
}

/** The interpreter of the interop environment, or null when there is none. */
function interopPython(): string | null {
  const candidates = [process.env.COURSEKIT_INTEROP_PYTHON, path.join(ROOT, ".venv-interop/bin/python")].filter((p): p is string => !!p);
  for (const p of candidates) {
    if (!fs.existsSync(p)) continue;
    const r = spawnSync(p, ["-c", "import peft, transformers, torch, bitsandbytes, safetensors"], { encoding: "utf8" });
    if (r.status === 0) return p;
  }
  return null;
}

const flat = (m: Matrix): number[] => m.flat();
const fmt = (x: number): string => x.toExponential(1);
const slug = (name: string): string =>
  name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "");

/** Runs the model in eval mode on the inputs; returns the logits as nested arrays. */
function logitsOf(model: { forward(i: BertInputs): tf.Tensor; eval(): unknown }, inputs: Inputs): Matrix {
  model.eval();
  return tf.tidy(() => {
    const batch: BertInputs = {
      inputIds: tf.tensor2d(inputs.input_ids, undefined, "int32"),
      attentionMask: tf.tensor2d(inputs.attention_mask, undefined, "int32"),
    };
    return model.forward(batch).arraySync() as Matrix;
  });
}

function encode(tokenizer: BertTokenizer, texts: string[]): Inputs {
  const enc = tokenizer.encodeBatch(texts, { maxLength: SEQ, padding: "longest" });
  const [b, t] = enc.shape;
  const rows = (a: Int32Array) => Array.from({ length: b }, (_, i) => Array.from(a.subarray(i * t, (i + 1) * t)));
  return { input_ids: rows(enc.inputIds), attention_mask: rows(enc.attentionMask) };
}

/** n mails of each label, in file order. */
function balanced(examples: Example[], n: number): Example[] {
  return [...examples.filter((e) => e.label === "ham").slice(0, n), ...examples.filter((e) => e.label === "spam").slice(0, n)];
}

/** A kit adapter method: how to wrap the model (same settings as the course's `prepareMethod`). */
interface KitMethod {
  name: string;
  wrap: (model: BertForSequenceClassification) => PreparedMethod;
  /** The Python side perturbs the first parameter whose name contains this (negative control). */
  perturb: string;
  perturbBy: number;
  /** Extra saves of the same trained adapter (VB-LoRA's top-k file). */
  topkSave?: boolean;
  qlora?: boolean;
}

const KIT_METHODS: KitMethod[] = [
  { name: "LoRA", wrap: (m) => ({ ...prepareMethod("lora", m), lr: 1e-2 }), perturb: "lora_B", perturbBy: 1e-2 },
  {
    name: "rsLoRA",
    wrap: (m) => {
      const config = loraConfig({ targetModules: ENCODER_LINEARS, modulesToSave: HEAD_MODULES, taskType: "SEQ_CLS", r: 8, loraAlpha: 16, useRslora: true });
      const peft = getPeftModel(m, config);
      return { model: peft, config, peft, lr: 1e-2, describe: "rsLoRA r=8 α=16" };
    },
    perturb: "lora_B",
    perturbBy: 1e-2,
  },
  { name: "DoRA", wrap: (m) => ({ ...prepareMethod("dora", m), lr: 1e-2 }), perturb: "lora_magnitude_vector", perturbBy: 1e-2 },
  {
    name: "VB-LoRA",
    wrap: (m) => prepareMethod("vblora", m, { numVectors: 64, vectorLength: 64, lr: 5e-2 }),
    perturb: "vblora_vector_bank",
    perturbBy: 1e-2,
    topkSave: true,
  },
  { name: "WaveFT", wrap: (m) => prepareMethod("waveft", m, { lr: 2e-3 }), perturb: "waveft_spectrum", perturbBy: 1e-3 },
  { name: "QLoRA (LoRA part)", wrap: (m) => ({ ...prepareMethod("qlora", m), lr: 1e-2 }), perturb: "lora_B", perturbBy: 1e-2, qlora: true },
];

interface KitCase {
  name: string;
  method: string;
  adapterDir: string;
  baseDir: string;
  logits: Matrix;
  mergedLogits: Matrix;
  effect: number;
  perturb: string;
  perturbBy: number;
  note?: string;
}

describe("interop with Python peft / transformers / bitsandbytes", function () {
  this.timeout(600_000);
  let work = "";
  let py: PyResults;
  let evalInputs: Inputs;
  const kitCases: KitCase[] = [];
  let mergedCheckpointLogits: Matrix = [];
  let kitMlm: Float32Array = new Float32Array(0);
  let kitTokens: { full: number[][]; truncated: number[][] } = { full: [], truncated: [] };
  let testTexts: string[] = [];
  let quantWeight: Float32Array = new Float32Array(0);
  const MLM_ROWS = 8;
  const PEFT_CASES = ["LoRA", "rsLoRA", "DoRA", "VB-LoRA", "VB-LoRA (top-k save)", "WaveFT"];
  const QUANT_KEY = "bert.encoder.layer.0.attention.self.query.weight";

  before(async function () {
    const python = interopPython();
    if (!python) {
      const msg =
        "no interop Python environment (peft, transformers, torch, bitsandbytes): run `bash scripts/setup-interop.sh` (creates .venv-interop) or set COURSEKIT_INTEROP_PYTHON";
      if (process.env.CI) throw new Error(msg);
      console.log(`    skipped: ${msg}`);
      this.skip();
    }
    await setupBackend();
    work = fs.mkdtempSync(path.join(os.tmpdir(), "coursekit-interop-"));
    const labels = labelNames("spam");
    const { tokenizer } = loadBertForSequenceClassification(SHIPPED, { labels });
    const train = balanced(loadSplit("spam", "train", { limit: 400 }), 4);
    const testSplit = loadSplit("spam", "test");
    testTexts = testSplit.map((e) => e.text);
    evalInputs = encode(
      tokenizer,
      balanced(testSplit, 8).map((e) => e.text),
    );
    const trainInputs = {
      ...encode(
        tokenizer,
        train.map((e) => e.text),
      ),
      labels: train.map((e) => labels.indexOf(e.label)),
    };
    const trainBatch: BertInputs = {
      inputIds: tf.tensor2d(trainInputs.input_ids, undefined, "int32"),
      attentionMask: tf.tensor2d(trainInputs.attention_mask, undefined, "int32"),
    };
    const trainLabels = tf.tensor1d(trainInputs.labels, "int32");

    // ---- kit side: train, save, logits ----
    for (const method of KIT_METHODS) {
      const { model } = loadBertForSequenceClassification(SHIPPED, { labels, seed: 42 });
      const prepared = method.wrap(model);
      const peft = prepared.peft as PeftModel<BertForSequenceClassification>;
      peft.eval();
      const opt = new AdamW(peft.namedParameters(), { lr: prepared.lr, lrScale: prepared.lrScale });
      for (let s = 0; s < STEPS; s++) await trainStep(opt, () => crossEntropy(peft.forward(trainBatch), trainLabels), { lr: prepared.lr });
      opt.dispose();
      const logits = logitsOf(peft, evalInputs);
      const disabled = peft.withAdaptersDisabled(() => logitsOf(peft, evalInputs));
      const effect = maxAbsDiff(flat(logits), flat(disabled));
      const dir = path.join(work, "kit", slug(method.name));
      await savePretrained(peft, path.join(dir, "adapter"));
      let baseDir = SHIPPED;
      if (method.topkSave) {
        const config = peft.peftConfig[peft.activeAdapter];
        if (config.peftType === "VBLORA") config.saveOnlyTopkWeights = true;
        await savePretrained(peft, path.join(dir, "adapter-topk"));
        if (config.peftType === "VBLORA") config.saveOnlyTopkWeights = false;
      }
      let mergedLogits: Matrix;
      let note: string | undefined;
      if (method.qlora) {
        // The honest QLoRA interop: peft's LoRA on the kit's *dequantized* NF4 weights. Write that base (every
        // quantized linear replaced by its fp32 dequantization), then check the kit itself gives the same
        // logits from it, and merge there in fp32 (the kit's merge into 4-bit re-quantizes, which is lossy).
        const { model: fresh } = loadBertForSequenceClassification(SHIPPED, { labels, seed: 42 });
        for (const [name, layer] of peft.adapterLayers()) {
          const w = layer.base.weightValue();
          (fresh.getSubmodule(name) as Linear).weight.assign(w);
          w.dispose();
        }
        baseDir = path.join(dir, "dequantized-base");
        await saveBertCheckpoint(fresh, baseDir, { tokenizer });
        fresh.dispose();
        const { model: reloaded } = loadBertForSequenceClassification(baseDir, { labels, seed: 42 });
        const onDequantized = fromPretrained(reloaded, path.join(dir, "adapter"));
        const d = maxAbsDiff(flat(logitsOf(onDequantized, evalInputs)), flat(logits));
        assert.ok(d <= TOL, `QLoRA: the kit's adapter on the dequantized fp32 base differs from the 4-bit model by ${d}`);
        mergedLogits = logitsOf(onDequantized.mergeAndUnload(), evalInputs);
        reloaded.dispose();
        note = "base = the kit's NF4 weights dequantized to fp32";
      } else {
        const merged = peft.mergeAndUnload();
        mergedLogits = logitsOf(merged, evalInputs);
        if (method.name === "LoRA") {
          await saveBertCheckpoint(merged, path.join(work, "kit-merged-checkpoint"), { tokenizer });
          mergedCheckpointLogits = mergedLogits;
        }
      }
      const shared = { method: method.name, baseDir, logits, mergedLogits, effect, perturb: method.perturb, perturbBy: method.perturbBy };
      kitCases.push({ ...shared, name: method.name, adapterDir: path.join(dir, "adapter"), note });
      if (method.topkSave) kitCases.push({ ...shared, name: `${method.name} (top-k save)`, adapterDir: path.join(dir, "adapter-topk") });
      peft.dispose();
    }
    tf.dispose([trainBatch.inputIds, trainBatch.attentionMask, trainLabels]);

    // ---- MLM logits, tokens, quantization input ----
    const mlm = loadBertForMaskedLM(SHIPPED);
    const mlmInputs = { input_ids: evalInputs.input_ids.slice(0, MLM_ROWS), attention_mask: evalInputs.attention_mask.slice(0, MLM_ROWS) };
    kitMlm = tf.tidy(
      () =>
        mlm.model
          .forward({ inputIds: tf.tensor2d(mlmInputs.input_ids, undefined, "int32"), attentionMask: tf.tensor2d(mlmInputs.attention_mask, undefined, "int32") })
          .dataSync() as Float32Array,
    );
    mlm.model.dispose();
    kitTokens = { full: testTexts.map((t) => tokenizer.encode(t).inputIds), truncated: testTexts.map((t) => tokenizer.encode(t, { maxLength: 64 }).inputIds) };
    const texts = path.join(work, "test-texts.json");
    fs.writeFileSync(texts, JSON.stringify(testTexts));
    const q = readSafetensors(path.join(SHIPPED, "model.safetensors")).tensors.get(QUANT_KEY);
    assert.ok(q, `${QUANT_KEY} in the shipped checkpoint`);
    quantWeight = Float32Array.from(q.data as ArrayLike<number>);

    // ---- Python side, one process for everything ----
    const request = {
      shipped: SHIPPED,
      num_labels: labels.length,
      eval: evalInputs,
      train: trainInputs,
      steps: STEPS,
      target_regex: ENCODER_LINEARS,
      modules_to_save: HEAD_MODULES,
      kit_cases: kitCases.map((c) => ({ name: c.name, adapter_dir: c.adapterDir, base_dir: c.baseDir, perturb: c.perturb, perturb_by: c.perturbBy })),
      peft_cases: PEFT_CASES.map((name, i) => ({
        name,
        method: name.startsWith("VB-LoRA") ? "VB-LoRA" : name,
        topk_save: name.includes("top-k"),
        seed: i + 1,
        out_dir: path.join(work, "peft", slug(name)),
      })),
      checkpoint: { dir: path.join(work, "kit-merged-checkpoint") },
      mlm: { rows: MLM_ROWS, out_file: path.join(work, "mlm-logits-python.f32") },
      tokenizer: { texts_file: texts },
      quant: { weight_key: QUANT_KEY, lengths: [null, 1001] },
    };
    fs.writeFileSync(path.join(work, "request.json"), JSON.stringify(request));
    const t0 = Date.now();
    const r = spawnSync(python as string, [SCRIPT, work], {
      encoding: "utf8",
      maxBuffer: 64 << 20,
      timeout: 400_000,
      env: { ...process.env, HF_HUB_OFFLINE: "1", TRANSFORMERS_OFFLINE: "1", PYTHONWARNINGS: "ignore::DeprecationWarning" },
    });
    if (r.status !== 0)
      throw new Error(`${SCRIPT} failed (status ${r.status}${r.error ? `, ${r.error.message}` : ""}):\n${r.stdout}\n${r.stderr.slice(-4000)}`);
    py = JSON.parse(fs.readFileSync(path.join(work, "python-results.json"), "utf8")) as PyResults;
    console.log(
      `    python side: ${((Date.now() - t0) / 1000).toFixed(1)} s (peft ${py.versions.peft}, transformers ${py.versions.transformers}, torch ${py.versions.torch}, bitsandbytes ${py.versions.bitsandbytes})`,
    );
  });

  after(() => {
    if (work && !process.env.COURSEKIT_INTEROP_KEEP) fs.rmSync(work, { recursive: true, force: true });
    else if (work) console.log(`    kept ${work}`);
  });

  describe("kit → peft: PeftModel.from_pretrained reads the kit's adapters", () => {
    for (const method of KIT_METHODS) {
      for (const suffix of method.topkSave ? ["", " (top-k save)"] : [""]) {
        const name = method.name + suffix;
        it(`${name}: loads without missing/unexpected keys, same logits unmerged and merged`, () => {
          const c = kitCases.find((k) => k.name === name) as KitCase;
          const r = py.kit_cases[name];
          const keyWarnings = r.messages.filter((m) => /missing|unexpected|not used|were not|mismatch/i.test(m));
          assert.deepEqual(keyWarnings, [], `peft warned while loading ${name}: ${keyWarnings.join(" | ")}`);
          assert.deepEqual(r.missing_keys, [], "peft's load result: missing adapter keys");
          assert.deepEqual(r.unexpected_keys, [], "peft's load result: unexpected keys (peft drops them silently)");
          assert.deepEqual(r.file_keys_not_in_model, [], "tensors of the file that are not in peft's adapter state dict");
          assert.deepEqual(r.model_keys_not_in_file, [], "tensors of peft's adapter state dict that the file lacks");
          assert.ok(r.file_value_max_diff === 0, `the loaded tensors differ from the file by ${r.file_value_max_diff}`);
          assert.equal(r.peft_class, "PeftModelForSequenceClassification");
          assert.ok(c.effect > MIN_EFFECT, `the trained adapter moves the logits by only ${c.effect}`);
          const d = maxAbsDiff(flat(r.logits), flat(c.logits));
          const dm = maxAbsDiff(flat(r.merged_logits), flat(c.mergedLogits));
          const dp = maxAbsDiff(flat(r.perturbed.logits), flat(c.logits));
          console.log(
            `      ${name}: loads in peft ${py.versions.peft}: yes, max |Δlogit| = ${fmt(d)} (merged ${fmt(dm)}); adapter effect ${fmt(c.effect)}; ${r.perturbed.tensor.replace(/^base_model\.model\./, "")} +${r.perturbed.by} → ${fmt(dp)}${c.note ? `; ${c.note}` : ""}`,
          );
          assert.ok(d <= TOL, `${name}: max |Δlogit| ${d} > ${TOL}`);
          assert.ok(dm <= TOL, `${name} merged: max |Δlogit| ${dm} > ${TOL}`);
          assert.ok(dp > 10 * TOL, `negative control: perturbing ${r.perturbed.tensor} by ${r.perturbed.by} moved the logits by only ${dp}`);
          assert.equal(r.merged_class, "BertForSequenceClassification");
        });
      }
    }
  });

  describe("peft → kit: the kit's fromPretrained reads peft's adapters", () => {
    for (const name of PEFT_CASES) {
      it(`${name}: made and trained by peft, same logits in the kit unmerged and merged`, () => {
        const r = py.peft_cases[name];
        const dir = path.join(work, "peft", slug(name));
        for (const f of ["adapter_config.json", "adapter_model.safetensors"]) assert.ok(fs.existsSync(path.join(dir, f)), `peft wrote no ${f}`);
        const effect = maxAbsDiff(flat(r.logits), flat(r.disabled_logits));
        assert.ok(effect > MIN_EFFECT, `peft's trained adapter moves the logits by only ${effect}`);
        const { model } = loadBertForSequenceClassification(SHIPPED, { labels: labelNames("spam"), seed: 7 });
        const peft = fromPretrained(model, dir);
        const logits = logitsOf(peft, evalInputs);
        const d = maxAbsDiff(flat(logits), flat(r.logits));
        // negative control: the same comparison after moving one adapter tensor a little
        const [pname, p] = peft.namedParameters().find(([n]) => /lora_B|vblora_vector_bank|waveft_spectrum/.test(n)) as [string, tf.Variable];
        const saved = p.clone();
        p.assign(tf.tidy(() => tf.add(saved, 1e-2)));
        const dp = maxAbsDiff(flat(logitsOf(peft, evalInputs)), flat(r.logits));
        p.assign(saved);
        saved.dispose();
        const merged = logitsOf(peft.mergeAndUnload(), evalInputs);
        const dm = maxAbsDiff(flat(merged), flat(r.merged_logits));
        console.log(
          `      ${name}: peft ${py.versions.peft} → kit: loads: yes, max |Δlogit| = ${fmt(d)} (merged ${fmt(dm)}); adapter effect ${fmt(effect)}; ${pname.replace(/^base_model\.model\./, "")} +0.01 → ${fmt(dp)}`,
        );
        assert.ok(d <= TOL, `${name}: max |Δlogit| ${d} > ${TOL}`);
        assert.ok(dm <= TOL, `${name} merged: max |Δlogit| ${dm} > ${TOL}`);
        assert.ok(dp > 10 * TOL, `negative control: moved by only ${dp}`);
        model.dispose();
      });
    }
  });

  describe("checkpoints and tokenizer", () => {
    it("the kit's merged LoRA checkpoint loads in transformers with the same logits", () => {
      const r = py.checkpoint;
      assert.deepEqual(
        [r.loading_info.missing_keys, r.loading_info.unexpected_keys, r.loading_info.mismatched_keys],
        [[], [], []],
        JSON.stringify(r.loading_info),
      );
      assert.equal(r.num_labels, 2);
      const d = maxAbsDiff(flat(r.logits), flat(mergedCheckpointLogits));
      console.log(`      merged checkpoint (saveBertCheckpoint) → BertForSequenceClassification: missing/unexpected keys: none, max |Δlogit| = ${fmt(d)}`);
      assert.ok(d <= TOL, `max |Δlogit| ${d}`);
    });

    it("the shipped checkpoint loads as BertForMaskedLM with the kit's MLM logits", () => {
      const r = py.mlm;
      assert.deepEqual([r.loading_info.missing_keys, r.loading_info.unexpected_keys], [[], []], JSON.stringify(r.loading_info));
      const buf = fs.readFileSync(path.join(work, "mlm-logits-python.f32"));
      const pyMlm = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
      assert.equal(pyMlm.length, kitMlm.length, `shapes: python [${r.shape}]`);
      const d = maxAbsDiff(pyMlm, kitMlm);
      console.log(`      BertForMaskedLM on ${MLM_ROWS} real mails × ${r.shape[1]} positions × ${r.shape[2]} vocab: max |Δlogit| = ${fmt(d)}`);
      assert.ok(d <= TOL, `MLM max |Δlogit| ${d}`);
    });

    it("the kit's WordPiece tokenizer gives BertTokenizerFast's ids on every test mail", () => {
      const r = py.tokenizer;
      assert.equal(r.input_ids.length, testTexts.length);
      const bad = r.input_ids.map((ids, i) => (JSON.stringify(ids) === JSON.stringify(kitTokens.full[i]) ? -1 : i)).filter((i) => i >= 0);
      const badTrunc = r.truncated_64.map((ids, i) => (JSON.stringify(ids) === JSON.stringify(kitTokens.truncated[i]) ? -1 : i)).filter((i) => i >= 0);
      const tokens = r.input_ids.reduce((s, ids) => s + ids.length, 0);
      console.log(
        `      tokenizer: ${testTexts.length - bad.length}/${testTexts.length} test mails identical to ${r.class} (${tokens} tokens, no truncation); truncated to 64: ${testTexts.length - badTrunc.length}/${testTexts.length}`,
      );
      assert.deepEqual(bad, [], `mails whose ids differ: ${bad.slice(0, 5).join(", ")}`);
      assert.deepEqual(badTrunc, [], `mails whose truncated ids differ: ${badTrunc.slice(0, 5).join(", ")}`);
    });
  });

  describe("quantization vs bitsandbytes (CPU)", () => {
    it("NF4 / FP4 codes (same packing: first element in the high nibble), absmax and dequantized values equal quantize_4bit; double quantization keeps bnb's offset", () => {
      for (const c of py.quant.cases) {
        const label = `${c.quant_type}${c.compress_statistics ? " + double quant" : ""}, n = ${c.n}`;
        assert.ok(!c.error, `bitsandbytes ${py.quant.bitsandbytes} on CPU: ${label}: ${c.error}`);
        const x = quantWeight.subarray(0, c.n);
        const kit: QuantState = quantize(x, { quantType: c.quant_type, blocksize: c.blocksize, doubleQuant: c.compress_statistics });
        // packing: two codes per byte, first element in the high nibble — the same order as bitsandbytes
        // FP4 has two zeros, +0 (code 0) and −0 (code 8). The kit sets the sign bit for scaled < 0 (as bnb's CUDA
        // kernel); bnb's CPU path ("default" backend) bucketizes against the argsorted code book, where +0 sorts
        // before −0, so values that round to zero get the *opposite* sign bit (x > 0 → 8, x ≤ 0 → 0). Both
        // dequantize to 0: such nibbles are counted, and allowed, only as a 0 ↔ 8 swap.
        const theirs = c.packed as number[];
        let zeroSignSwaps = 0;
        let codesEqual = kit.packed.length === theirs.length;
        for (let i = 0; codesEqual && i < 2 * theirs.length; i++) {
          const a = (i & 1) === 0 ? kit.packed[i >> 1] >> 4 : kit.packed[i >> 1] & 15;
          const b = (i & 1) === 0 ? theirs[i >> 1] >> 4 : theirs[i >> 1] & 15;
          if (a === b) continue;
          if (c.quant_type === "fp4" && a + b === 8 && a * b === 0) zeroSignSwaps++;
          else codesEqual = false;
        }
        const codes = `4-bit codes ${codesEqual ? "identical" : "DIFFER"}${zeroSignSwaps ? ` up to the sign of zero (${zeroSignSwaps} of ${c.n} codes are −0 ↔ +0)` : ""}`;
        if (!c.compress_statistics) {
          const dA = maxAbsDiff(restoreAbsmax(kit), c.absmax as number[]);
          const dV = maxAbsDiff(dequantize(kit), c.dequantized as number[]);
          console.log(`      ${label}: ${codes}, max |Δabsmax| = ${dA}, max |Δvalue| = ${dV}`);
          assert.ok(codesEqual, `${label}: packed codes differ`);
          assert.equal(dA, 0, `${label}: absmax`);
          assert.equal(dV, 0, `${label}: dequantized values`);
        } else {
          // bitsandbytes stores (absmax − mean) with its 8-bit *dynamic* code book; the kit uses a symmetric int8
          // grid (documented in lib/quant/double-quant.ts). Same 4-bit codes (computed from the exact fp32
          // scales), same offset, restored scales within each variant's rounding error of the true absmax.
          assert.ok(isDoubleQuantized(kit));
          const trueAbsmax = restoreAbsmax(quantize(x, { quantType: c.quant_type, blocksize: c.blocksize }));
          const kitErr = maxAbsDiff(restoreAbsmax(kit), trueAbsmax);
          const bnbErr = maxAbsDiff(c.absmax_restored as number[], trueAbsmax);
          const dOffset = Math.abs(kit.nested.offset - (c.offset as number));
          const dV = maxAbsDiff(dequantize(kit), c.dequantized as number[]);
          console.log(
            `      ${label}: ${codes}, |Δoffset| = ${fmt(dOffset)}, restored-absmax error kit ${fmt(kitErr)} vs bnb ${fmt(bnbErr)}, max |Δvalue| = ${fmt(dV)} (different 8-bit code books for the scales)`,
          );
          assert.ok(codesEqual, `${label}: packed codes differ`);
          assert.ok(dOffset <= 1e-6 * Math.abs(c.offset as number), `${label}: offset ${kit.nested.offset} vs ${c.offset}`);
          const absmaxMax = Math.max(...trueAbsmax);
          assert.ok(kitErr <= absmaxMax / 100 && bnbErr <= absmaxMax / 100, `${label}: restored scales too far from the true absmax`);
        }
      }
    });
  });
});
