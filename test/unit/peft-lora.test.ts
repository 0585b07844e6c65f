/** LoRA and DoRA: injection by name, no-op at init, merge/unmerge, parameter counts, gradients, files. */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { strict as assert } from "node:assert";
import { BertForSequenceClassification } from "../../lib/models/bert";
import { Linear } from "../../lib/nn/linear";
import { loraConfig } from "../../lib/peft/lora/config";
import { getPeftModel } from "../../lib/peft/peft-model";
import { LoraLayer } from "../../lib/peft/lora/layer";
import { countAdapterParameters, llamaSkeleton } from "../../lib/peft/count";
import { fromPretrained, savePretrained } from "../../lib/peft/serialization";
import { readSafetensors, writeSafetensors } from "../../lib/io/safetensors";
import { Rng } from "../../lib/util/random";
import { assertClose, setupBackend, tinyBertConfig, tinyInputs } from "../helpers";

const tiny = tinyBertConfig();
const inputs = tinyInputs;
const fresh = () => new BertForSequenceClassification(tiny, { numLabels: 2, rng: new Rng(3) }).eval();

/** Sets every lora_B (and A) to random values so the adapter is not a no-op. */
function perturb(model: { namedParameters(): Array<[string, tf.Variable]> }, seed: number): void {
  const rng = new Rng(seed);
  for (const [n, p] of model.namedParameters()) {
    if (/lora_(A|B)\./.test(n))
      p.assign(
        tf.tensor(
          Array.from({ length: p.size }, () => rng.normal() * 0.3),
          p.shape,
        ),
      );
  }
}

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "peft-"));
}

describe("PEFT: LoRA and DoRA", () => {
  before(setupBackend);

  it("injects by module name like peft and names parameters like peft", () => {
    const peft = getPeftModel(fresh(), loraConfig({ r: 2, targetModules: ["query", "value"] }));
    const names = peft
      .namedParameters()
      .map(([n]) => n)
      .filter((n) => n.includes("lora"));
    assert.deepEqual(names.slice(0, 2), [
      "base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.default.weight",
      "base_model.model.bert.encoder.layer.0.attention.self.query.lora_B.default.weight",
    ]);
    assert.equal(names.length, 2 * 2 * 2);
    assert.ok(peft.namedParameters().some(([n]) => n === "base_model.model.bert.encoder.layer.0.attention.self.query.base_layer.weight"));
  });

  it("unknown or unsupported target names are errors that list the model's module names", () => {
    assert.throws(
      () => getPeftModel(fresh(), loraConfig({ targetModules: ["query", "q_proj"] })),
      /target module "q_proj" is not in the model\. The model's adaptable \(Linear\) modules are named: query, key, value, dense, classifier/,
    );
    assert.throws(() => getPeftModel(fresh(), loraConfig({ targetModules: ["LayerNorm"] })), /matches ".*LayerNorm", a LayerNorm, which LORA cannot adapt/);
    assert.throws(() => getPeftModel(fresh(), loraConfig({ targetModules: "nothing\\.here" })), /matched no module/);
    const regex = getPeftModel(fresh(), loraConfig({ targetModules: ".*layer\\.1\\.attention\\.self\\.(query|key)" }));
    assert.equal(regex.adapterLayers().length, 2);
  });

  it("a fresh LoRA and a fresh DoRA adapter are exact no-ops", () => {
    for (const useDora of [false, true]) {
      const model = fresh();
      const before = model.forward(inputs());
      const peft = getPeftModel(model, loraConfig({ r: 4, loraAlpha: 8, targetModules: ["query", "key", "value", "dense"], useDora }));
      assertClose(peft.forward(inputs()), before, 1e-6, `useDora=${useDora}`);
    }
  });

  it("merged equals unmerged, and unmerge restores W (LoRA, rsLoRA, DoRA)", () => {
    for (const cfg of [
      { useDora: false, useRslora: false },
      { useDora: false, useRslora: true },
      { useDora: true, useRslora: false },
    ]) {
      const peft = getPeftModel(fresh(), loraConfig({ r: 2, loraAlpha: 4, targetModules: ["query", "dense"], ...cfg }));
      perturb(peft, 7);
      const layer = peft.baseModel.getSubmodule("bert.encoder.layer.0.attention.self.query") as LoraLayer;
      if (cfg.useDora) {
        const m = layer.getSubmodule("lora_magnitude_vector.default").param("weight");
        m.assign(tf.mul(m, tf.tensor1d([1.1, 0.9, 1.3, 0.7, 1, 1.2, 0.8, 1.05])));
      }
      const W0 = (layer.base as Linear).weight.clone();
      const unmerged = peft.forward(inputs());
      assert.ok(tf.max(tf.abs(tf.sub(unmerged, fresh().forward(inputs())))).dataSync()[0] > 1e-3, "the perturbed adapter changes the output");
      peft.merge();
      assert.ok(tf.max(tf.abs(tf.sub((layer.base as Linear).weight, W0))).dataSync()[0] > 1e-3, "merge changed W");
      assertClose(peft.forward(inputs()), unmerged, 2e-5, `merged vs unmerged ${JSON.stringify(cfg)}`);
      peft.unmerge();
      assertClose((layer.base as Linear).weight, W0, 2e-6, "unmerge restores W");
      assertClose(peft.forward(inputs()), unmerged, 2e-5, "after unmerge");
    }
  });

  it("LoRA's scaling is alpha/r, or alpha/sqrt(r) with rsLoRA; rank and alpha patterns apply per module", () => {
    const peft = getPeftModel(
      fresh(),
      loraConfig({
        r: 4,
        loraAlpha: 8,
        targetModules: ["query", "value"],
        rankPattern: { "layer\\.1\\.attention\\.self\\.value": 2 },
        alphaPattern: { value: 16 },
      }),
    );
    const q = peft.baseModel.getSubmodule("bert.encoder.layer.0.attention.self.query") as LoraLayer;
    const v0 = peft.baseModel.getSubmodule("bert.encoder.layer.0.attention.self.value") as LoraLayer;
    const v1 = peft.baseModel.getSubmodule("bert.encoder.layer.1.attention.self.value") as LoraLayer;
    assert.deepEqual([q.rankOf("default"), q.scalingOf("default")], [4, 2]);
    assert.deepEqual([v0.rankOf("default"), v0.scalingOf("default")], [4, 4]);
    assert.deepEqual([v1.rankOf("default"), v1.scalingOf("default")], [2, 8]);
    const rs = getPeftModel(fresh(), loraConfig({ r: 4, loraAlpha: 8, useRslora: true }));
    assert.equal((rs.adapterLayers()[0][1] as LoraLayer).scalingOf("default"), 4);
  });

  it("DoRA matches a PyTorch computation of peft's formulas: forward, merged weight and gradients", () => {
    const ref = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "fixtures/peft/dora.json"), "utf8"));
    const base = new Linear(6, 4);
    base.weight.assign(tf.tensor2d(ref.W));
    (base.bias as tf.Variable).assign(tf.tensor1d(ref.b));
    base.setTrainable(false);
    const layer = new LoraLayer(base);
    layer.addAdapter("default", { r: ref.r, alpha: ref.alpha, dropout: 0, useRslora: false, useDora: true, init: true, rng: new Rng(0) });
    layer.getSubmodule("lora_A.default").param("weight").assign(tf.tensor2d(ref.A));
    layer.getSubmodule("lora_B.default").param("weight").assign(tf.tensor2d(ref.B));
    const m = layer.getSubmodule("lora_magnitude_vector.default").param("weight");
    m.assign(tf.tensor1d(ref.m));
    const x = tf.tensor2d(ref.x);
    assertClose(layer.forward(x), (ref.y as number[][]).flat(), 1e-5, "forward");
    const loss = () => {
      const y = layer.forward(x);
      return tf.add(tf.sum(tf.mul(y, tf.tensor1d(ref.loss_weights))), tf.mul(tf.sum(tf.square(y)), ref.loss_square_coef)) as tf.Scalar;
    };
    const A = layer.getSubmodule("lora_A.default").param("weight");
    const B = layer.getSubmodule("lora_B.default").param("weight");
    const { grads } = tf.variableGrads(loss, [A, B, m]);
    assertClose(grads[A.name], (ref.grad_A as number[][]).flat(), 1e-4, "dL/dA");
    assertClose(grads[B.name], (ref.grad_B as number[][]).flat(), 1e-4, "dL/dB");
    assertClose(grads[m.name], ref.grad_m, 1e-4, "dL/dm (the norm is detached)");
    layer.merge();
    assertClose(base.weight, (ref.merged_weight as number[][]).flat(), 1e-5, "merged weight");
  });

  it("trainable parameters: r·(in+out) per module (+ out for DoRA), checked on Llama-3.2-3B's shapes", () => {
    const llama = llamaSkeleton();
    assert.equal(countAdapterParameters(llama, loraConfig({ r: 32, targetModules: ["q_proj", "v_proj"] })), 9_175_040);
    assert.equal(countAdapterParameters(llama, loraConfig({ r: 32, targetModules: ["q_proj", "v_proj"], useDora: true })), 9_289_728);
    const unknownMethod = { ...loraConfig({ targetModules: ["q_proj"] }), peftType: "PREFIX" } as unknown as Parameters<typeof countAdapterParameters>[1];
    assert.throws(() => countAdapterParameters(llama, unknownMethod), /peft_type "PREFIX" is not supported here \(supported: LORA, VBLORA, WAVEFT/);
    // the formula is what the implementation allocates
    for (const useDora of [false, true]) {
      const cfg = loraConfig({ r: 3, targetModules: ["query", "value", "dense"], useDora });
      const model = fresh();
      const expected = countAdapterParameters(model, cfg);
      const peft = getPeftModel(model, cfg);
      assert.equal(peft.trainableParameterCounts().trainable, expected);
    }
  });

  it("printTrainableParameters uses peft's format", () => {
    const peft = getPeftModel(fresh(), loraConfig({ r: 2 }));
    const { trainable, all } = peft.trainableParameterCounts();
    assert.equal(
      peft.trainableParametersLine(),
      `trainable params: ${trainable.toLocaleString("en-US")} || all params: ${all.toLocaleString("en-US")} || trainable%: ${((100 * trainable) / all).toFixed(4)}`,
    );
    assert.match(peft.trainableParametersLine(), /^trainable params: [\d,]+ \|\| all params: [\d,]+ \|\| trainable%: \d+\.\d{4}$/);
  });

  it("the gradient reaches exactly the adapter tensors (and modulesToSave), and only they change", () => {
    const peft = getPeftModel(fresh(), loraConfig({ r: 2, targetModules: ["query", "value"], useDora: true, modulesToSave: ["classifier"] }));
    const trainable = peft
      .namedParameters()
      .filter(([, p]) => p.trainable)
      .map(([n]) => n);
    assert.ok(
      trainable.every((n) => /lora_(A|B|magnitude_vector)\.default\.|classifier\./.test(n)),
      trainable.join(", "),
    );
    assert.equal(trainable.length, 4 * 3 + 2);
    const all = peft.namedParameters().map(([, p]) => p);
    const { grads } = tf.variableGrads(
      () => tf.sum(tf.square(peft.forward(inputs()))) as tf.Scalar,
      all.filter((p) => p.trainable),
    );
    const withGrad = new Set(Object.keys(grads));
    assert.deepEqual(all.filter((p) => withGrad.has(p.name)).length, trainable.length);
  });

  it('an adapter named like a module ("dense", "self", "query") trains and saves only its own tensors', async () => {
    for (const adapterName of ["dense", "self", "query", "weight", "layer"]) {
      for (const useDora of [false, true]) {
        const peft = getPeftModel(fresh(), loraConfig({ r: 2, targetModules: ["query", "value", "dense"], modulesToSave: ["classifier"], useDora }), {
          adapterName,
        });
        const trainable = peft
          .namedParameters()
          .filter(([, p]) => p.trainable)
          .map(([n]) => n);
        const wrong = trainable.filter((n) => !/\.(lora_A|lora_B|lora_magnitude_vector)\./.test(n) && !/\.classifier\./.test(n));
        assert.deepEqual(wrong, [], `adapter "${adapterName}" made base tensors trainable`);
        const perLayer = useDora ? 3 : 2;
        assert.equal(
          trainable.length,
          peft.adapterLayers().length * perLayer + 2,
          `adapter "${adapterName}": A, B${useDora ? ", m" : ""} per layer + the classifier`,
        );
        const dir = tmpDir();
        await savePretrained(peft, dir);
        const keys = [...readSafetensors(path.join(dir, "adapter_model.safetensors")).tensors.keys()];
        assert.equal(
          keys.filter((k) => k.includes("base_layer") || (/\.(weight|bias)$/.test(k) && !/(lora_[AB]|classifier)\.(weight|bias)$/.test(k))).length,
          0,
          `adapter "${adapterName}" saved base tensors: ${keys.join(", ")}`,
        );
        assert.equal(keys.length, trainable.length);
      }
    }
  });

  it("each adapter keeps its own head (modules_to_save): switching restores it, and no tensor is left behind", () => {
    const before = tf.memory().numTensors;
    const peft = getPeftModel(fresh(), loraConfig({ r: 2, targetModules: ["query"], modulesToSave: ["classifier"] }));
    const head = () => peft.namedParameters().find(([n]) => n.endsWith("classifier.weight"))?.[1] as tf.Variable;
    const initial = head().arraySync() as number[][];
    peft.addAdapter("other", loraConfig({ r: 2, targetModules: ["query"], modulesToSave: ["classifier"] }), { seed: 5 });
    const trained = tf.tidy(() => tf.add(head(), 1));
    head().assign(trained); // "default" trains its head
    trained.dispose();
    const afterTraining = head().arraySync() as number[][];
    let counted = 0;
    for (let i = 0; i < 3; i++) {
      peft.setAdapter("other");
      assert.deepEqual(head().arraySync(), initial, "the other adapter's head is the one it started with");
      peft.setAdapter("default");
      assert.deepEqual(head().arraySync(), afterTraining, "switching back restores the trained head");
      if (i === 0) counted = tf.memory().numTensors; // now each adapter has its copy
    }
    assert.equal(tf.memory().numTensors, counted, "switching keeps one copy per adapter, not one per switch");
    peft.deleteAdapter("other");
    peft.dispose();
    assert.equal(tf.memory().numTensors, before, "dispose frees the head copies too");
  });

  it("several adapters: add, switch, disable, delete", () => {
    const model = fresh();
    const base = model.forward(inputs());
    const peft = getPeftModel(model, loraConfig({ r: 2, targetModules: ["query"] }));
    perturb(peft, 1);
    const outA = peft.forward(inputs());
    peft.addAdapter("other", loraConfig({ r: 3, targetModules: ["query", "value"] }), { seed: 5 });
    assertClose(peft.forward(inputs()), outA, 0, "adding does not activate");
    peft.setAdapter("other");
    assertClose(peft.forward(inputs()), base, 1e-6, "the new adapter is a no-op");
    assert.ok(
      peft
        .namedParameters()
        .filter(([, p]) => p.trainable)
        .every(([n]) => n.includes(".other.")),
    );
    peft.setAdapter("default");
    assertClose(peft.forward(inputs()), outA, 0, "switching back");
    assertClose(
      peft.withAdaptersDisabled(() => peft.forward(inputs())),
      base,
      1e-6,
      "disabled = base model",
    );
    assertClose(peft.forward(inputs()), outA, 0, "re-enabled");
    peft.deleteAdapter("other");
    assert.ok(!peft.namedParameters().some(([n]) => n.includes(".other.")));
    assert.throws(() => peft.deleteAdapter("default"), /cannot delete the active adapter/);
  });

  it("save → load round trip in peft's layout, and bad files name the key", async () => {
    const dir = tmpDir();
    const peft = getPeftModel(fresh(), loraConfig({ r: 2, targetModules: ["query", "value"], useDora: true, modulesToSave: ["classifier"] }));
    perturb(peft, 11);
    const out = peft.forward(inputs());
    await savePretrained(peft, dir);
    const json = JSON.parse(fs.readFileSync(path.join(dir, "adapter_config.json"), "utf8"));
    assert.equal(json.peft_type, "LORA");
    assert.equal(json.use_dora, true);
    assert.deepEqual(Object.keys(json), Object.keys(json).sort());
    const file = readSafetensors(path.join(dir, "adapter_model.safetensors"));
    assert.equal(file.metadata.format, "pt");
    const keys = [...file.tensors.keys()];
    assert.ok(keys.includes("base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.weight"));
    assert.ok(keys.includes("base_model.model.bert.encoder.layer.0.attention.self.query.lora_magnitude_vector"));
    assert.ok(keys.includes("base_model.model.classifier.weight"));
    assert.deepEqual(file.tensors.get("base_model.model.bert.encoder.layer.1.attention.self.value.lora_B.weight")?.shape, [8, 2]);
    const loaded = fromPretrained(fresh(), dir);
    assertClose(loaded.forward(inputs()), out, 1e-6, "loaded adapter output");
    await assert.rejects(() => savePretrained(peft, dir), /already holds adapter_config.json and adapter_model.safetensors/);

    const tensors = new Map([...file.tensors].map(([k, v]) => [k, { shape: v.shape, data: v.data as Float32Array }]));
    const renamed = new Map(tensors);
    const entry = renamed.get("base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.weight");
    renamed.delete("base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.weight");
    renamed.set("base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.default.weight", entry as { shape: number[]; data: Float32Array });
    writeSafetensors(path.join(dir, "adapter_model.safetensors"), renamed, { format: "pt" });
    assert.throws(
      () => fromPretrained(fresh(), dir),
      /unexpected tensor "base_model\.model\.bert\.encoder\.layer\.0\.attention\.self\.query\.lora_A\.default\.weight"/,
    );
    const reshaped = new Map(tensors);
    reshaped.set("base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.weight", { shape: [3, 8], data: new Float32Array(24) });
    writeSafetensors(path.join(dir, "adapter_model.safetensors"), reshaped, { format: "pt" });
    assert.throws(
      () => fromPretrained(fresh(), dir),
      /"base_model\.model\.bert\.encoder\.layer\.0\.attention\.self\.query\.lora_A\.weight" has shape \[3,8\] but the model expects \[2,8\]/,
    );
  });

  it("mergeAndUnload gives back a plain model with the adapter folded in", () => {
    const peft = getPeftModel(fresh(), loraConfig({ r: 2, targetModules: ["query", "value"] }));
    perturb(peft, 4);
    const out = peft.forward(inputs());
    const plain = peft.mergeAndUnload();
    assert.ok(!plain.namedParameters().some(([n]) => n.includes("lora") || n.includes("base_layer")));
    assertClose(plain.forward(inputs()), out, 2e-5, "merged model output");
  });
});
