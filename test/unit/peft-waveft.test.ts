/** WaveFT: positions as torch.randperm, ΔW as pywt.idwt2, no-op at init, gradients, full rank, counts, files. */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { strict as assert } from "node:assert";
import { BertForSequenceClassification } from "../../lib/models/bert";
import { Linear } from "../../lib/nn/linear";
import { waveftConfig } from "../../lib/peft/waveft/config";
import { getPeftModel } from "../../lib/peft/peft-model";
import { WaveFTLayer, proportionalFrequencies } from "../../lib/peft/waveft/layer";
import { countAdapterParameters, llamaSkeleton } from "../../lib/peft/count";
import { fromPretrained, savePretrained } from "../../lib/peft/serialization";
import { readSafetensors } from "../../lib/io/safetensors";
import { Rng } from "../../lib/util/random";
import { assertClose, setupBackend, tinyBertConfig } from "../helpers";

const tiny = tinyBertConfig();
const inputs = () => ({ inputIds: tf.tensor2d([[2, 11, 12, 13, 3]], [1, 5], "int32") });
const fresh = () => new BertForSequenceClassification(tiny, { numLabels: 2, rng: new Rng(3) }).eval();

interface Case {
  out: number;
  in: number;
  n: number;
  family: string;
  seed: number;
  scaling: number;
  spectrum: number[];
  rows: number[];
  cols: number[];
  delta: number[][];
}

function layerFor(c: Case): WaveFTLayer {
  const base = new Linear(c.in, c.out);
  base.setTrainable(false);
  const layer = new WaveFTLayer(base);
  layer.addAdapter("default", {
    n: c.n,
    scaling: c.scaling,
    waveletFamily: c.family,
    useIdwt: true,
    randomLocSeed: c.seed,
    initWeights: true,
    rng: new Rng(0),
  });
  layer.getSubmodule("waveft_spectrum").param("default").assign(tf.tensor1d(c.spectrum));
  return layer;
}

describe("PEFT: WaveFT", () => {
  before(setupBackend);
  const ref = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "fixtures/peft/waveft.json"), "utf8")) as { cases: Case[] };

  it("coefficient positions are torch.randperm's with the seed (peft's files load here)", () => {
    for (const c of ref.cases) {
      const { rows, cols } = layerFor(c).positions("default");
      assert.deepEqual(Array.from(rows), c.rows, `${c.family} rows`);
      assert.deepEqual(Array.from(cols), c.cols, `${c.family} cols`);
    }
  });

  it("ΔW equals peft's construction computed with pywt.idwt2 (Haar, db2, sym2, db3; odd sizes padded and cropped)", () => {
    for (const c of ref.cases) assertClose(layerFor(c).deltaWeight("default"), c.delta.flat(), 1e-4, `${c.family} ${c.out}×${c.in}`);
  });

  it("a fresh adapter is an exact no-op; merged equals unmerged", () => {
    const before = fresh().forward(inputs());
    const peft = getPeftModel(fresh(), waveftConfig({ nFrequency: 12, targetModules: ["query", "value"] }));
    assertClose(peft.forward(inputs()), before, 0, "fresh WaveFT");
    for (const [, p] of peft.namedParameters()) if (p.trainable) p.assign(tf.randomNormal(p.shape, 0, 0.05, "float32", 1));
    const out = peft.forward(inputs());
    peft.merge();
    assertClose(peft.forward(inputs()), out, 2e-5, "merged");
    peft.unmerge();
    assertClose(peft.forward(inputs()), out, 2e-5, "unmerged");
  });

  it("gradients reach the spectrum through the inverse transform (equal to ΔW's adjoint)", () => {
    const c = ref.cases[1];
    const layer = layerFor(c);
    const spectrum = layer.getSubmodule("waveft_spectrum").param("default");
    const probe = tf.randomNormal([c.out, c.in], 0, 1, "float32", 5);
    const { grads } = tf.variableGrads(() => tf.sum(tf.mul(layer.deltaWeight("default"), probe)) as tf.Scalar, [spectrum]);
    // ΔW is linear in the spectrum: d/ds_i Σ ΔW⊙P = Σ (ΔW with only s_i = 1)⊙P
    const g = grads[spectrum.name].dataSync();
    for (const i of [0, 7, 19]) {
      const basis = new Float32Array(c.n);
      basis[i] = 1;
      spectrum.assign(tf.tensor1d(basis));
      const expected = tf.sum(tf.mul(layer.deltaWeight("default"), probe)).dataSync()[0];
      assert.ok(Math.abs(g[i] - expected) < 1e-3, `coefficient ${i}: ${g[i]} vs ${expected}`);
    }
  });

  it("a few coefficients give a full-rank update (LoRA's is rank r)", () => {
    const c = { ...ref.cases[3], spectrum: ref.cases[3].spectrum };
    const delta = layerFor(c).deltaWeight("default");
    // rank via Gram–Schmidt on the rows
    const rows = delta.arraySync() as number[][];
    const basis: number[][] = [];
    for (const r of rows) {
      let v = r.slice();
      for (const b of basis) {
        const d = v.reduce((s, x, i) => s + x * b[i], 0);
        v = v.map((x, i) => x - d * b[i]);
      }
      const norm = Math.hypot(...v);
      if (norm > 1e-6) basis.push(v.map((x) => x / norm));
    }
    assert.ok(basis.length >= 12, `rank ${basis.length} of 16 from ${c.n} coefficients`);
  });

  it("counts: n per module; Llama-3.2-3B q,v with n=5000 has 280,000; proportional allocation rounds half to even", () => {
    assert.equal(countAdapterParameters(llamaSkeleton(), waveftConfig({ nFrequency: 5000, targetModules: ["q_proj", "v_proj"] })), 280_000);
    assert.deepEqual(
      proportionalFrequencies(10, [
        { inFeatures: 4, outFeatures: 4 },
        { inFeatures: 4, outFeatures: 12 },
      ]),
      [5, 15],
    );
    assert.deepEqual(
      proportionalFrequencies(3, [
        { inFeatures: 1, outFeatures: 1 },
        { inFeatures: 1, outFeatures: 3 },
      ]),
      [2, 4],
    ); // 1.5 → 2, 4.5 → 4
    const cfg = waveftConfig({ nFrequency: 10, targetModules: ["query", "dense"], nFrequencyPattern: { "intermediate\\.dense": 30 } });
    const peft = getPeftModel(fresh(), cfg);
    assert.equal(peft.trainableParameterCounts().trainable, countAdapterParameters(fresh(), cfg));
  });

  it("saves only the spectrum (waveft_spectrum) and reloads it", async () => {
    const peft = getPeftModel(fresh(), waveftConfig({ nFrequency: 12, targetModules: ["query", "value"], waveletFamily: "db2" }));
    for (const [, p] of peft.namedParameters()) if (p.trainable) p.assign(tf.randomNormal(p.shape, 0, 0.05, "float32", 2));
    const out = peft.forward(inputs());
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "waveft-"));
    await savePretrained(peft, dir);
    const file = readSafetensors(path.join(dir, "adapter_model.safetensors"));
    assert.deepEqual([...file.tensors.keys()].sort()[0], "base_model.model.bert.encoder.layer.0.attention.self.query.waveft_spectrum");
    assert.deepEqual(file.tensors.get("base_model.model.bert.encoder.layer.0.attention.self.query.waveft_spectrum")?.shape, [12]);
    const json = JSON.parse(fs.readFileSync(path.join(dir, "adapter_config.json"), "utf8"));
    assert.equal(json.peft_type, "WAVEFT");
    assert.equal(json.random_loc_seed, 777);
    assert.equal(json.wavelet_family, "db2");
    assertClose(fromPretrained(fresh(), dir).forward(inputs()), out, 1e-6, "round trip");
  });
});
