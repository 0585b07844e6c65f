/**
 * One conformance suite over every registered PEFT method (registeredPeftTypes()), each with the examples its
 * descriptor declares (`conformance` in lib/peft/<method>/method.ts), on the model families the library has.
 * A new method registered in builtin-methods.ts runs here with no edit to this file, and so does the toy method
 * a test file defines (test/toy-method.ts):
 *   - only adapter tensors train, and their count is what countAdapterParameters predicts from shapes alone;
 *   - a fresh adapter leaves the model unchanged exactly when the method says so (peft's initialisation);
 *   - merged into the base weights it computes what it computed unmerged; unmerged, the base weights are back;
 *   - saved and loaded onto a fresh base model it computes the same;
 *   - a training step leaves tf.memory().numTensors unchanged.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { strict as assert } from "node:assert";
import { BertForSequenceClassification } from "../../lib/models/bert";
import { countAdapterParameters } from "../../lib/peft/count";
import { getPeftModel, PeftConfig, PeftModel } from "../../lib/peft/peft-model";
import { peftMethod, registeredPeftTypes } from "../../lib/peft/registry";
import { registerBuiltinMethods } from "../../lib/peft/builtin-methods";
import { fromPretrained, savePretrained } from "../../lib/peft/serialization";
import { AdamW } from "../../lib/train/adamw";
import { trainStep } from "../../lib/train/step";
import { crossEntropy } from "../../lib/train/batching";
import { Rng } from "../../lib/util/random";
import { setupBackend, tinyBertConfig, tinyInputs } from "../helpers";
import { registerToyMethod } from "../toy-method";

/** The model families the suite runs on: a fresh, seeded model each time. */
const FAMILIES: Array<{ name: string; fresh: () => BertForSequenceClassification; targets: string[] }> = [
  {
    name: "BERT (sequence classification)",
    fresh: () => new BertForSequenceClassification(tinyBertConfig(), { numLabels: 2, rng: new Rng(3) }).eval(),
    // three shapes: query/value 8→8, intermediate.dense 8→16, output.dense 16→8 (and the pooler's dense)
    targets: ["query", "value", "dense"],
  },
];

const maxDiff = (a: tf.Tensor, b: tf.Tensor): number => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
const logitsOf = (m: { forward(x: ReturnType<typeof tinyInputs>): tf.Tensor }): tf.Tensor => tf.tidy(() => m.forward(tinyInputs()));

/** The frozen base weights of every adapted layer, copied (name → values). */
function baseWeights(peft: PeftModel): Map<string, Float32Array> {
  return new Map(peft.adapterLayers().map(([name, layer]) => [name, tf.tidy(() => layer.base.weightValue()).dataSync() as Float32Array]));
}

describe("PEFT conformance: every registered method", function () {
  this.timeout(120000);
  before(setupBackend);
  registerBuiltinMethods();
  registerToyMethod();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "coursekit-conformance-"));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it("finds the methods in the registry (LoRA, VB-LoRA, WaveFT and the toy at least)", () => {
    for (const t of ["LORA", "VBLORA", "WAVEFT", "TOYRANK1"]) assert.ok(registeredPeftTypes().includes(t), t);
  });

  for (const peftType of registeredPeftTypes()) {
    const method = peftMethod(peftType);
    for (const family of FAMILIES) {
      for (const [k, example] of method.conformance.examples.entries()) {
        const label = `${peftType} ${JSON.stringify(example)} on ${family.name}`;
        const config = (): PeftConfig => method.fromJson({ ...example, target_modules: family.targets }) as PeftConfig;

        it(`${label}: only adapter tensors train, as many as countAdapterParameters predicts`, () => {
          const base = family.fresh();
          const frozen = new Set(base.namedParameters().map(([n]) => n));
          const peft = getPeftModel(family.fresh(), config(), { seed: 1 });
          const trainable = peft.namedParameters().filter(([, p]) => p.trainable);
          const adapterTensors = peft.adapterLayers().flatMap(([, l]) => l.adapterParameters("default").map(([, p]) => p));
          const shared = peft.sharedParameters("default").map(([, p]) => p);
          for (const [name, p] of trainable) {
            const head = peft.headParameters(config()).some(([, q]) => q === p);
            assert.ok(adapterTensors.includes(p) || shared.includes(p) || head, `${name} trains but is neither an adapter tensor nor the head`);
          }
          for (const [, l] of peft.adapterLayers()) for (const [n, p] of l.base.namedParameters()) assert.ok(!p.trainable, `base ${n} is frozen`);
          const adapterCount = [...adapterTensors, ...shared].reduce((n, p) => n + p.size, 0);
          assert.equal(adapterCount, countAdapterParameters(base, config()));
          assert.ok(adapterCount > 0);
          assert.ok(![...frozen].some((n) => trainable.some(([m]) => m === n && !n.startsWith("classifier") && !n.startsWith("bert.pooler"))));
          tf.dispose([base, peft].flatMap((m) => m.parameters()));
        });

        it(`${label}: a fresh adapter ${method.conformance.identityAtInit ? "is" : "is not"} a no-op, as the method says`, () => {
          const base = family.fresh();
          const peft = getPeftModel(family.fresh(), config(), { seed: 1 });
          const [want, got] = [logitsOf(base), logitsOf(peft)];
          const d = maxDiff(want, got);
          if (method.conformance.identityAtInit) assert.ok(d < 1e-6, `max |Δ logits| = ${d}`);
          else assert.ok(d > 1e-7, `the adapter changes nothing (max |Δ logits| = ${d}), though the method says a fresh one does`);
          tf.dispose([want, got, ...base.parameters(), ...peft.parameters()]);
        });

        it(`${label}: merge computes what the adapter computed; unmerge gives the base weights back; save → load computes the same`, async () => {
          const peft = getPeftModel(family.fresh(), config(), { seed: 1 });
          // a "trained" state: every adapter tensor moved off its initial value
          const rng = new Rng(10 + k);
          for (const [, p] of peft.namedParameters().filter(([, q]) => q.trainable)) {
            p.assign(
              tf.tidy(() =>
                tf.add(
                  p,
                  tf.mul(
                    tf.tensor(
                      Array.from({ length: p.size }, () => rng.normal()),
                      p.shape,
                    ),
                    0.1,
                  ),
                ),
              ),
            );
          }
          const before = baseWeights(peft);
          const y = logitsOf(peft);
          peft.merge();
          const yMerged = logitsOf(peft);
          assert.ok(maxDiff(y, yMerged) < 1e-4, `merged: max |Δ logits| = ${maxDiff(y, yMerged)}`);
          peft.unmerge();
          for (const [name, w] of baseWeights(peft)) {
            const was = before.get(name) as Float32Array;
            const err = Math.max(...Array.from(w, (v, i) => Math.abs(v - was[i])));
            assert.ok(err < 1e-5, `${name}: unmerged base weight off by ${err}`);
          }
          const yUnmerged = logitsOf(peft);
          assert.ok(maxDiff(y, yUnmerged) < 1e-5);
          const dir = path.join(tmp, `${peftType}-${k}-${family.name.replace(/\W+/g, "-")}`);
          await savePretrained(peft, dir);
          const loaded = fromPretrained(family.fresh(), dir);
          const yLoaded = logitsOf(loaded);
          assert.ok(maxDiff(y, yLoaded) < 1e-5, `loaded: max |Δ logits| = ${maxDiff(y, yLoaded)}`);
          tf.dispose([y, yMerged, yUnmerged, yLoaded, ...peft.parameters(), ...loaded.parameters()]);
        });

        it(`${label}: a training step leaves tf.memory().numTensors unchanged`, async () => {
          const peft = getPeftModel(family.fresh(), config(), { seed: 1 });
          peft.train();
          const inputs = tinyInputs();
          const labels = tf.tensor1d([0, 1], "int32");
          const opt = new AdamW(peft.namedParameters(), { lr: 1e-3 });
          const loss = () => crossEntropy(peft.forward(inputs), labels);
          await trainStep(opt, loss, { lr: 1e-3 }); // the optimizer's state is made in the first step
          const n = tf.memory().numTensors;
          await trainStep(opt, loss, { lr: 1e-3 });
          assert.equal(tf.memory().numTensors, n);
          opt.dispose();
          tf.dispose([inputs.inputIds, inputs.attentionMask, labels, ...peft.parameters()]);
        });
      }
    }
  }
});
