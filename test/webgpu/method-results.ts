/**
 * Every PEFT method on a tiny BERT, computed on whichever backend is active: the logits, the gradient of the
 * loss for every trainable tensor, and the logits after merging. The models are built and their adapters set to
 * fixed pseudo-random values on the `cpu` backend (building reads tensors synchronously, which WebGPU cannot do
 * in Node), then everything is computed on `backend` and read with `await data()`.
 *
 *   npx tsx test/webgpu/method-results.ts     prints the results on COURSEKIT_BACKEND's backend as JSON
 *
 * test/e2e/webgpu.test.ts runs it with COURSEKIT_BACKEND=webgpu in a child process and compares with wasm.
 */
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../lib/backend";
import { BertForSequenceClassification } from "../../lib/models/bert";
import { loraConfig } from "../../lib/peft/lora/config";
import { vbloraConfig } from "../../lib/peft/vblora/config";
import { waveftConfig } from "../../lib/peft/waveft/config";
import { getPeftModel, PeftConfig } from "../../lib/peft/peft-model";
import { quantizeLinears, quantizeLinearsAsync, QLORA_QUANTIZATION } from "../../lib/peft/qlora";
import { Linear4bit } from "../../lib/quant/linear4bit";
import { crossEntropy, EncodedExample } from "../../lib/train/batching";
import { evaluateClassifier, finetuneClassifier } from "../../lib/train/finetune";
import { Rng } from "../../lib/util/random";
import { maxAbsDiff, readArray, readScalar } from "../../lib/util/read";
import { tinyBertConfig, tinyInputs } from "../helpers";

export interface MethodResult {
  logits: number[];
  /** Trainable tensor name → its gradient, flattened. */
  grads: Record<string, number[]>;
  merged: number[];
  /** QLoRA: what the synchronous merge() did before mergeAsync() ("merged", or its error's message). */
  syncMerge?: string;
  /** Tensors left behind by the computation (the model's own excepted). */
  leaked: number;
}

/** 16 wide (a multiple of VB-LoRA's vector length and of a 4-bit block of 16 weights). */
const config = tinyBertConfig({ hiddenSize: 16, intermediateSize: 32 });
const targets = ["query", "value", "dense"];

export const METHOD_CONFIGS: Record<string, () => PeftConfig> = {
  lora: () => loraConfig({ r: 2, loraAlpha: 4, targetModules: targets }),
  rslora: () => loraConfig({ r: 2, loraAlpha: 4, targetModules: targets, useRslora: true }),
  dora: () => loraConfig({ r: 2, loraAlpha: 4, targetModules: targets, useDora: true }),
  vblora: () => vbloraConfig({ r: 2, numVectors: 8, vectorLength: 4, topk: 2, targetModules: targets }),
  waveft: () => waveftConfig({ nFrequency: 16, scaling: 5, targetModules: targets }),
  qlora: () => loraConfig({ r: 2, loraAlpha: 4, targetModules: targets }),
};

async function values(t: tf.Tensor): Promise<number[]> {
  return Array.from(await t.data());
}

/** The results of one method: built on cpu, computed on `backend`. */
export async function methodResult(method: string, backend: string): Promise<MethodResult> {
  await tf.setBackend("cpu");
  const model = new BertForSequenceClassification(config, { numLabels: 3, rng: new Rng(7) }).eval();
  if (method === "qlora") quantizeLinears(model, targets, { ...QLORA_QUANTIZATION, blocksize: 16 });
  const peft = getPeftModel(model, METHOD_CONFIGS[method](), { seed: 3 });
  const rng = new Rng(11);
  const trainable = peft.namedParameters().filter(([, p]) => p.trainable);
  for (const [, p] of trainable)
    p.assign(
      tf.tensor(
        Float32Array.from({ length: p.size }, () => 0.2 * rng.normal()),
        p.shape,
      ),
    );
  await tf.setBackend(backend);
  const before = tf.memory().numTensors;
  const inputs = tinyInputs();
  const labels = tf.tensor1d([0, 2], "int32");
  const logits = tf.tidy(() => peft.forward(inputs));
  const { value, grads } = tf.variableGrads(
    () => crossEntropy(peft.forward(inputs), labels),
    trainable.map(([, p]) => p),
  );
  const byName = new Map(trainable.map(([n, p]) => [p.name, n]));
  const result: MethodResult = { logits: await values(logits), grads: {}, merged: [], leaked: 0 };
  for (const [varName, g] of Object.entries(grads)) result.grads[byName.get(varName) as string] = await values(g);
  // QLoRA's merge re-quantizes W + ΔW to 4 bits in JavaScript: on a GPU it reads the weights asynchronously.
  if (method === "qlora") {
    result.syncMerge = errorOf(() => peft.merge(), "merged");
    await peft.mergeAsync(); // a no-op where merge() worked
  } else peft.merge();
  const merged = tf.tidy(() => peft.forward(inputs));
  result.merged = await values(merged);
  // Merged, DoRA keeps each layer's row norms (to unmerge exactly): unmerge before counting what is left.
  if (method === "qlora") await peft.unmergeAsync();
  else peft.unmerge();
  tf.dispose([logits, value, merged, labels, inputs.inputIds, inputs.attentionMask, ...Object.values(grads)]);
  result.leaked = tf.memory().numTensors - before;
  peft.dispose();
  return result;
}

/**
 * The library's own training loop (finetuneClassifier: asynchronous reads, once per step) and evaluation on
 * `backend`: LoRA on the tiny BERT, 6 steps of 4 examples, then the validation loss and predictions.
 */
export async function trainingRun(backend: string): Promise<{ losses: number[]; validationLoss: number; predictions: number[]; leaked: number }> {
  await tf.setBackend("cpu");
  const model = new BertForSequenceClassification(config, { numLabels: 2, rng: new Rng(5) });
  const peft = getPeftModel(model, METHOD_CONFIGS.lora(), { seed: 1 });
  const rng = new Rng(13);
  const examples: EncodedExample[] = Array.from({ length: 32 }, () => {
    const label = rng.int(2);
    return { ids: [2, ...Array.from({ length: 4 }, () => 10 + rng.int(20)), label ? 7 : 8, 3], label };
  });
  await tf.setBackend(backend);
  const before = tf.memory().numTensors;
  const run = await finetuneClassifier(peft, examples.slice(0, 24), [], { epochs: 1, batchSize: 4, lr: 1e-2, seed: 3, progress: "silent" });
  const evaluated = await evaluateClassifier(peft, examples.slice(24));
  const leaked = tf.memory().numTensors - before;
  peft.dispose();
  return { losses: run.losses, validationLoss: evaluated.loss, predictions: Array.from(evaluated.predictions), leaked };
}

/** tf.addN over 29 tensors (more inputs than a device has storage buffers) minus its closed form. */
async function addNError(): Promise<number> {
  const x = tf.tensor2d(
    Float32Array.from({ length: 64 }, (_, i) => Math.sin(i)),
    [8, 8],
  );
  const terms = Array.from({ length: 29 }, (_, i) => tf.mul(x, i + 1));
  const sum = tf.addN(terms);
  const err = tf.max(tf.abs(tf.sub(sum, tf.mul(x, (29 * 30) / 2))));
  const value = (await err.data())[0];
  tf.dispose([x, sum, err, ...terms]);
  return value;
}

/** The message of what `run` throws (`ok` when it does not). */
function errorOf(run: () => unknown, ok = "read without an error"): string {
  try {
    run();
    return ok;
  } catch (e) {
    return (e as Error).message;
  }
}

/**
 * dataSync() on a tensor made from an array (its values are still on the CPU) and on one a GPU kernel made;
 * quantizing to 4 bits a weight a GPU kernel made (what merging into a QLoRA base does).
 */
function syncReads(): { fromArray: number[]; computed: string; quantizeComputed: string } {
  const x = tf.tensor2d([1, 2, 3, 4], [2, 2]);
  const fromArray = Array.from(x.dataSync());
  const y = tf.matMul(x, x); // (small element-wise ops may run on the CPU; a product runs on the GPU)
  const computed = errorOf(() => y.dataSync());
  const w = tf.matMul(x, tf.ones([2, 64])) as tf.Tensor2D;
  const quantizeComputed = errorOf(() => Linear4bit.fromWeight(w).dispose());
  tf.dispose([x, y, w]);
  return { fromArray, computed, quantizeComputed };
}

/**
 * 4-bit quantization of a model that has already run (on webgpu its weights then live on the GPU only): the
 * synchronous quantizeLinears (an error on webgpu), and quantizeLinearsAsync, whose dequantized weights are
 * compared with wasm's.
 */
export async function quantizeAfterUse(backend: string): Promise<{ syncError: string; dequantized: number[] }> {
  await tf.setBackend("cpu");
  // Weights of 64 × 64: TensorFlow.js's webgpu backend runs small ops (under 1,000 values) on the CPU.
  const big = tinyBertConfig({ hiddenSize: 64, intermediateSize: 64 });
  const [a, b] = [0, 1].map(() => new BertForSequenceClassification(big, { numLabels: 3, rng: new Rng(7) }).eval());
  await tf.setBackend(backend);
  for (const model of [a, b]) tf.dispose(model.forward(tinyInputs()));
  const syncError = errorOf(() => quantizeLinears(a, targets, { ...QLORA_QUANTIZATION, blocksize: 16 }), "quantized");
  await quantizeLinearsAsync(b, targets, { ...QLORA_QUANTIZATION, blocksize: 16 });
  const w = (b.getSubmodule("bert.encoder.layer.0.attention.self.query") as Linear4bit).dequantizedWeight();
  const dequantized = await values(w);
  tf.dispose([w]);
  a.dispose();
  b.dispose();
  return { syncError, dequantized };
}

/** The read helpers the notebooks use (lib/util/read.ts) on tensors a GPU kernel made, and what they leave behind. */
async function asyncReads(): Promise<{ scalar: number; rows: number[][]; diff: number; leaked: number }> {
  const x = tf.tensor2d([1, 2, 3, 4], [2, 2]);
  const before = tf.memory().numTensors;
  const scalar = await readScalar(() => tf.sum(tf.matMul(x, x)));
  const rows = await readArray(() => tf.matMul(x, x) as tf.Tensor2D);
  const product = tf.matMul(x, x);
  const diff = await maxAbsDiff(product, x);
  product.dispose();
  const leaked = tf.memory().numTensors - before;
  x.dispose();
  return { scalar, rows, diff, leaked };
}

async function main(): Promise<void> {
  const info = await initBackend({ quiet: true });
  const out: Record<string, MethodResult> = {};
  for (const method of Object.keys(METHOD_CONFIGS)) out[method] = await methodResult(method, info.backend);
  const addN = await addNError();
  const training = await trainingRun(info.backend);
  process.stdout.write(
    `${JSON.stringify({ backend: info.backend, adapter: info.adapter ?? null, addN29Error: addN, training, results: out, syncReads: syncReads(), asyncReads: await asyncReads(), quantizeAfterUse: await quantizeAfterUse(info.backend) })}\n`,
  );
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
