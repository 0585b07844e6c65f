/**
 * QR-Adaptor on this kit's BERT: the two measurements the search needs, and the cheap evaluation.
 *
 * - Layers: one (bits, rank) choice per transformer layer, shared by its six linear layers
 *   (query, key, value, attention.output.dense, intermediate.dense, output.dense).
 * - I_q (sensitivity to quantization): how much the pretrained model's masked-LM loss on calibration text
 *   rises when that layer alone is stored at the lowest bit-width of the ladder.
 * - I_r (value of LoRA capacity): the task loss's mean squared gradient (a Fisher-information estimate)
 *   with respect to that layer's weights, after a few steps that fit the new classifier head.
 * - Cheap evaluation: a short fine-tune on a subset (bits applied as 4-bit NF4 / 8-bit absmax / fp32 kept,
 *   ranks as per-layer LoRA ranks, rank 0 = no adapter), scored by validation accuracy.
 * Bit-widths other than 4, 8 and 16 have no quantizer here: such a ladder is an error.
 */
import * as tf from "@tensorflow/tfjs";
import { BertConfig } from "../models/bert-config";
import { BertForSequenceClassification } from "../models/bert";
import { loadBertForMaskedLM, loadBertForSequenceClassification, readConfig } from "../io/hf-checkpoint";
import { BertTokenizer } from "../tokenizer/bert-tokenizer";
import { Module } from "../nn/module";
import { quantizeLinears } from "../peft/qlora";
import { DatasetName, labelNames, loadTextCorpus } from "../data/datasets";
import { loadTask } from "../data/task";
import { maskBatch, mlmLoss, disposeMaskedBatch } from "../train/mlm";
import { crossEntropy, disposeBatch, makeBatch, EncodedExample } from "../train/batching";
import { evaluateClassifier, finetuneClassifier } from "../train/finetune";
import { Rng } from "../util/random";
import { loraConfig } from "../peft/lora/config";
import { getPeftModel } from "../peft/peft-model";
import { HEAD_MODULES, freezeAllButHead } from "./methods";
import { Configuration, Ladders, LayerInfo } from "../peft/qr-adaptor/memory";

export const LAYER_LINEARS = [
  "attention.self.query",
  "attention.self.key",
  "attention.self.value",
  "attention.output.dense",
  "intermediate.dense",
  "output.dense",
];

/** One LayerInfo per transformer layer, from the model's real shapes. */
export function bertLayerInfos(config: BertConfig): LayerInfo[] {
  const d = config.hiddenSize;
  const m = config.intermediateSize;
  const shapes: Array<[number, number]> = [
    [d, d],
    [d, d],
    [d, d],
    [d, d],
    [d, m],
    [m, d],
  ];
  return Array.from({ length: config.numHiddenLayers }, (_, l) => ({
    name: `bert.encoder.layer.${l}`,
    weightParams: shapes.reduce((s, [i, o]) => s + i * o, 0),
    loraParamsPerRank: shapes.reduce((s, [i, o]) => s + i + o, 0),
  }));
}

function checkBits(ladders: Ladders): void {
  const bad = ladders.bits.filter((b) => ![4, 8, 16].includes(b));
  if (bad.length) throw new Error(`QR-Adaptor on BERT: no quantizer for ${bad.join(", ")} bits here; use bit-widths from {4, 8, 16}`);
}

/** Stores layer `l`'s six linears at `bits` (4: NF4 + double quantization, 8: int8 absmax, 16: left in fp32). */
function quantizeLayer(model: Module, layer: number, bits: number): void {
  if (bits >= 16) return;
  const target = `bert\\.encoder\\.layer\\.${layer}\\.(${LAYER_LINEARS.map((p) => p.replace(/\./g, "\\.")).join("|")})`;
  quantizeLinears(model, target, bits === 4 ? { quantType: "nf4", doubleQuant: true } : { quantType: "int8", doubleQuant: false });
}

export interface ImportanceOptions {
  checkpoint: string;
  task: DatasetName;
  ladders: Ladders;
  /** Calibration texts / examples (default 128). */
  calibration?: number;
  seed?: number;
}

/** Measures I_q and I_r per transformer layer (see the module comment). */
export async function measureImportances(o: ImportanceOptions): Promise<{ iq: number[]; ir: number[] }> {
  checkBits(o.ladders);
  const n = o.calibration ?? 128;
  const lowest = Math.min(...o.ladders.bits);
  // I_q: rise of the masked-LM loss when one layer is quantized to the lowest bit-width. One fixed masked
  // calibration batch; a fresh fp32 model per measurement (quantizing replaces layers in place).
  const config = readConfig(o.checkpoint);
  const tokenizer = BertTokenizer.fromFolder(o.checkpoint);
  const texts = loadTextCorpus({ splits: ["validation"], limit: Math.ceil(n / 2) });
  const seqs = texts.map((t) => tokenizer.encode(t, { maxLength: 48, truncation: true }).inputIds);
  const special = [tokenizer.padId, tokenizer.unkId, tokenizer.clsId, tokenizer.sepId, tokenizer.maskId];
  const calibration = maskBatch(
    seqs,
    tokenizer.padId,
    { maskId: tokenizer.maskId, vocabSize: config.vocabSize, specialIds: special, firstRegularId: Math.max(...special) + 1 },
    new Rng(o.seed ?? 7),
  );
  const mlmLossOf = async (quantizedLayer: number | null): Promise<number> => {
    const { model } = loadBertForMaskedLM(o.checkpoint);
    if (quantizedLayer !== null) quantizeLayer(model, quantizedLayer, lowest);
    const loss = mlmLoss(model, calibration);
    const value = (await loss.data())[0];
    tf.dispose(loss);
    model.dispose();
    return value;
  };
  const base = await mlmLossOf(null);
  const iq: number[] = [];
  for (let l = 0; l < config.numHiddenLayers; l++) iq.push((await mlmLossOf(l)) - base);
  disposeMaskedBatch(calibration);
  const numLayers = config.numHiddenLayers;

  // I_r: mean squared gradient of the task loss w.r.t. each layer's weights, after fitting the head briefly.
  const { model } = loadBertForSequenceClassification(o.checkpoint, { labels: labelNames(o.task), seed: o.seed ?? 42 });
  const task = loadTask(o.task, tokenizer, { limit: n });
  freezeAllButHead(model);
  await finetuneClassifier(model, task.splits.train, [], { epochs: 3, batchSize: 16, lr: 3e-3, progress: "silent", seed: o.seed ?? 42 });
  const ir = new Array<number>(numLayers).fill(0);
  const vars = model.namedParameters().filter(([name]) => /encoder\.layer\.\d+\..*\.weight$/.test(name) && !name.includes("LayerNorm"));
  for (const [, v] of vars) v.trainable = true;
  const batch = makeBatch(task.splits.train as EncodedExample[], task.splits.train.map((_, i) => i).slice(0, 64), tokenizer.padId);
  const { grads } = tf.variableGrads(
    () => crossEntropy(model.forward(batch), batch.labels),
    vars.map(([, v]) => v),
  );
  for (const [name, v] of vars) {
    const layer = Number((name.match(/encoder\.layer\.(\d+)\./) as RegExpMatchArray)[1]);
    const meanSquare = tf.tidy(() => tf.mean(tf.square(grads[v.name])));
    ir[layer] += (await meanSquare.data())[0];
    meanSquare.dispose();
  }
  tf.dispose(Object.values(grads));
  disposeBatch(batch);
  model.dispose();
  return { iq, ir };
}

/** A classifier set up as `config` says: per-layer storage bits and LoRA ranks, head trainable. */
export function configuredModel(checkpoint: string, labels: string[], config: Configuration, seed = 42) {
  const { model } = loadBertForSequenceClassification(checkpoint, { labels, seed });
  config.forEach((c, l) => quantizeLayer(model, l, c.bits));
  const adapted = config.map((c, l) => [c, l] as const).filter(([c]) => c.rank > 0);
  if (adapted.length === 0) {
    freezeAllButHead(model);
    return model as BertForSequenceClassification;
  }
  const layerIds = adapted.map(([, l]) => l).join("|");
  const target = `bert\\.encoder\\.layer\\.(${layerIds})\\.(${LAYER_LINEARS.map((p) => p.replace(/\./g, "\\.")).join("|")})`;
  const rankPattern = Object.fromEntries(adapted.map(([c, l]) => [`bert\\.encoder\\.layer\\.${l}\\..*`, c.rank]));
  const alphaPattern = Object.fromEntries(adapted.map(([c, l]) => [`bert\\.encoder\\.layer\\.${l}\\..*`, 2 * c.rank]));
  return getPeftModel(
    model,
    loraConfig({
      targetModules: target,
      r: adapted[0][0].rank,
      loraAlpha: 2 * adapted[0][0].rank,
      rankPattern,
      alphaPattern,
      modulesToSave: HEAD_MODULES,
      taskType: "SEQ_CLS",
    }),
    { seed },
  );
}

export interface CheapEvaluationOptions {
  checkpoint: string;
  task: DatasetName;
  trainExamples?: number;
  validationExamples?: number;
  epochs?: number;
  lr?: number;
  seed?: number;
}

/** evaluate(config) = validation accuracy after a short fine-tune on a subset (QR-Adaptor's phase II). */
export function cheapEvaluator(o: CheapEvaluationOptions): (config: Configuration) => Promise<number> {
  const labels = labelNames(o.task);
  const { model, tokenizer } = loadBertForSequenceClassification(o.checkpoint, { labels });
  model.dispose();
  const task = loadTask(o.task, tokenizer, { limit: Math.max(o.trainExamples ?? 320, o.validationExamples ?? 256) });
  const train = task.splits.train.slice(0, o.trainExamples ?? 320);
  const validation = task.splits.validation.slice(0, o.validationExamples ?? 256);
  return async (config) => {
    const m = configuredModel(o.checkpoint, labels, config, o.seed ?? 42);
    await finetuneClassifier(m, train, [], { epochs: o.epochs ?? 2, batchSize: 16, lr: o.lr ?? 2e-3, progress: "silent", seed: o.seed ?? 42 });
    const score = (await evaluateClassifier(m, validation)).accuracy;
    m.dispose();
    return score;
  };
}
