/**
 * The PEFT method registry (lib/peft/registry.ts): a new method is a layer, a descriptor and one
 * registration — nothing in PeftModel, saving/loading or the parameter count changes. Proved here with a
 * toy method defined in a test file (test/toy-method.ts): a rank-1 update ΔW = u vᵀ ("TOYRANK1", u starts at zero).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { strict as assert } from "node:assert";
import { BertForSequenceClassification } from "../../lib/models/bert";
import { countAdapterParameters } from "../../lib/peft/count";
import { getPeftModel, PeftConfig } from "../../lib/peft/peft-model";
import { peftMethod, registeredPeftTypes, registerPeftMethod } from "../../lib/peft/registry";
import { fromPretrained, savePretrained } from "../../lib/peft/serialization";
import { Rng } from "../../lib/util/random";
import { Linear } from "../../lib/nn/linear";
import { Module, ModuleDict } from "../../lib/nn/module";
import { isBaseLinear } from "../../lib/nn/base-linear";
import { Linear4bit } from "../../lib/quant/linear4bit";
import { loraConfig } from "../../lib/peft/lora/config";
import { assertClose, setupBackend, tinyBertConfig, tinyInputs } from "../helpers";
import { registerToyMethod, toyConfig, ToyLayer } from "../toy-method";

const tiny = tinyBertConfig();
const fresh = () => new BertForSequenceClassification(tiny, { numLabels: 2, rng: new Rng(3) }).eval();
const inputs = tinyInputs;

describe("PEFT method registry", () => {
  before(async () => {
    await setupBackend();
    registerToyMethod();
  });

  it("the built-in methods are registered, and a second registration of a type is refused", () => {
    assert.deepEqual(registeredPeftTypes().slice(0, 3), ["LORA", "VBLORA", "WAVEFT"]);
    assert.throws(() => registerPeftMethod(peftMethod("LORA")), /a PEFT method "LORA" is registered already/);
    assert.throws(() => peftMethod("PREFIX"), /peft_type "PREFIX" is not supported here \(supported: LORA, VBLORA, WAVEFT/);
  });

  it("a layer is adaptable by its contract: Linear and Linear4bit implement BaseLinear; a look-alike with the same members is not", () => {
    const linear = new Linear(8, 4, { rng: new Rng(1) });
    assert.ok(isBaseLinear(linear));
    assert.ok(isBaseLinear(Linear4bit.fromLinear(linear)));
    // every member a duck-typed check would look for, but not the brand only an implementation carries
    class LookAlike extends Module {
      readonly inFeatures = 8;
      readonly outFeatures = 4;
      readonly quantized = false;
      readonly bias = null;
      weightValue(): tf.Tensor2D {
        return tf.zeros([4, 8]);
      }
      setWeightValue(): void {}
      forward(x: tf.Tensor): tf.Tensor {
        return x;
      }
    }
    assert.ok(!isBaseLinear(new LookAlike()));
    const model = new ModuleDict([["proj", new LookAlike()]]);
    assert.throws(
      () => getPeftModel(model as never, loraConfig({ targetModules: ["proj"] })),
      /"proj".*a LookAlike, which LORA cannot adapt\. The model has no adaptable module/,
    );
  });

  it("a toy method registered in one line: injected, a no-op at init, counted, trained, merged, saved and loaded", async () => {
    const config: PeftConfig = toyConfig({ modulesToSave: ["classifier"], initScale: 0.5 });
    const base = fresh();
    const before = tf.tidy(() => base.forward(inputs()).arraySync() as number[][]);
    const peft = getPeftModel(base, config);
    assert.equal(peft.adapterLayers().length, 4, "query and value of 2 layers");
    assert.ok(peft.adapterLayers().every(([, l]) => l instanceof ToyLayer));
    assertClose(tf.tidy(() => peft.forward(inputs()).arraySync() as number[][]).flat(), before.flat(), 0, "u = 0: a no-op");

    const trainable = peft
      .namedParameters()
      .filter(([, p]) => p.trainable)
      .map(([n]) => n);
    assert.equal(trainable.filter((n) => /\.toy_[uv]\.default$/.test(n)).length, 8);
    assert.equal(trainable.filter((n) => !/\.toy_[uv]\.default$/.test(n) && !/\.classifier\./.test(n)).length, 0, "only the toy tensors and the head train");
    assert.equal(countAdapterParameters(fresh(), config), 4 * (8 + 8), "the method's own count");

    // make it do something, then merged = unmerged
    for (const [, l] of peft.adapterLayers()) for (const [n, p] of l.adapterParameters("default")) if (n.startsWith("toy_u")) p.assign(tf.fill(p.shape, 1));
    const unmerged = tf.tidy(() => peft.forward(inputs()).arraySync() as number[][]).flat();
    assert.ok(Math.max(...unmerged.map((v, i) => Math.abs(v - before.flat()[i]))) > 1e-6, "the adapter changes the output");
    peft.merge();
    assertClose(tf.tidy(() => peft.forward(inputs()).arraySync() as number[][]).flat(), unmerged, 1e-5, "merged = unmerged");
    peft.unmerge();

    // saved in peft's layout through the descriptor, loaded back through the registry
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "registry-"));
    try {
      await savePretrained(peft, dir);
      const saved = JSON.parse(fs.readFileSync(path.join(dir, "adapter_config.json"), "utf8"));
      assert.equal(saved.peft_type, "TOYRANK1");
      assert.equal(saved.init_scale, 0.5);
      const loaded = fromPretrained(fresh(), dir);
      assertClose(tf.tidy(() => loaded.forward(inputs()).arraySync() as number[][]).flat(), unmerged, 1e-6, "the loaded adapter");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
