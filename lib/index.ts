/**
 * The course kit's library, in one import (notebooks: `import * as kit from "./lib"`).
 * Each folder is one concern; the files are meant to be read alongside the notebooks.
 */
import * as path from "node:path";

export { initBackend, describeBackend, backendInfo } from "./backend";
export type { BackendInfo, BackendChoice } from "./backend";
export { matMul, matMulBT, linear } from "./ops/matmul";
export { productThreads, setProductThreads } from "./ops/wasm-threads";
export { Module, ModuleDict } from "./nn/module";
export { Linear } from "./nn/linear";
export { Embedding } from "./nn/embedding";
export { LayerNorm } from "./nn/layernorm";
export { Dropout } from "./nn/dropout";
export { gelu, geluTanh, activation } from "./nn/activations";
export { bertConfig, configFromHF, configToHF } from "./models/bert-config";
export type { BertConfig } from "./models/bert-config";
export { BertModel, BertForMaskedLM, BertForSequenceClassification } from "./models/bert";
export type { BertInputs } from "./models/bert";
export * from "./io/safetensors";
export { loadBertForMaskedLM, loadBertForSequenceClassification, saveBertCheckpoint, readConfig, listCheckpointTensors } from "./io/hf-checkpoint";
export { BertTokenizer } from "./tokenizer/bert-tokenizer";
export { trainWordPiece } from "./tokenizer/train-wordpiece";
export { loadSplit, labelNames, labelIds, loadTextCorpus, SHIPPED_CHECKPOINT_DIR } from "./data/datasets";
import { SHIPPED_CHECKPOINT_DIR } from "./data/datasets";
export type { DatasetName, Split, Example } from "./data/datasets";
export { toDataFrame } from "./data/dataframe";
export { loadTask, encodeTexts } from "./data/task";
export { AdamW, clipGradNorm } from "./train/adamw";
export { learningRate } from "./train/schedule";
export { accuracy, macroF1, perClass } from "./train/metrics";
export { trainStep } from "./train/step";
export { makeBatch, crossEntropy } from "./train/batching";
export { finetuneClassifier, evaluateClassifier } from "./train/finetune";
export { progress } from "./train/progress";
export { Rng } from "./util/random";

/** Where the shipped pretrained checkpoint lives. */
export const SHIPPED_CHECKPOINT = path.resolve(__dirname, "..", SHIPPED_CHECKPOINT_DIR);

// Parameter-efficient fine-tuning (peft's names and file layout)
export * from "./peft/builtin-methods"; // each method's config function and type (loraConfig, LoraConfig, …)
export { getPeftModel, PeftModel } from "./peft/peft-model";
export type { PeftConfig } from "./peft/peft-model";
export { savePretrained, fromPretrained, readAdapterConfig } from "./peft/serialization";
export { countAdapterParameters, llamaSkeleton, LinearShape } from "./peft/count";
export { quantizeLinears, quantizeLinearsAsync, QLORA_QUANTIZATION } from "./peft/qlora";
export { METHODS, VARIANTS, DEFAULT_LR, resolveMethod, prepareMethod, ENCODER_LINEARS, HEAD_MODULES } from "./experiments/methods";
export { compareMethods, comparisonTable, comparisonFrame, comparisonFigures } from "./experiments/compare";
export * as seedStudy from "./experiments/seeds";
export { candidatesOf, chooseMethod, fitsBudget, shownBetterIn, choiceFigure } from "./experiments/choose";
export type { Candidate, Budget, Choice } from "./experiments/choose";
export { ForgettingProbe } from "./experiments/forgetting";
export { traceMagnitudeDirection, traceCorrelations, traceFigure, magnitudeDirectionChange, magnitudePerDirection } from "./experiments/magnitude-direction";
export type { TracePoint } from "./experiments/magnitude-direction";
export { mean, sampleStd, tInterval95, tQuantile975, pearson } from "./util/stats";
export { readScalar, readValues, readArray, maxAbsDiff } from "./util/read";
export type { TensorSource } from "./util/read";
export { LoraLayer } from "./peft/lora/layer";
export { VBLoraLayer } from "./peft/vblora/layer";
export { WaveFTLayer } from "./peft/waveft/layer";
export * as qrAdaptor from "./peft/qr-adaptor/index";
export { bertLayerInfos, measureImportances, cheapEvaluator, configuredModel } from "./experiments/qr-adaptor-bert";
export * as quant from "./quant/index";
export * as wavelets from "./wavelets/index";
export { showFigure, writeFiguresHtml } from "./plot/plotly";
export type { Figure } from "./plot/plotly";
export { heatmapGrid } from "./plot/heatmap";
export type { HeatmapPanel, HeatmapGridOptions } from "./plot/heatmap";
export { showFrame, printRows, fitColumns, frameHtml } from "./notebook/frame";

// Linear algebra TensorFlow.js lacks (ranks of weight updates)
export { singularValues, singularValuesOf, numericalRank } from "./linalg/singular-values";

// Graded test cells (the format: solutions/README.md)
export { check, runCheck, describeCheck, RESULT_MIME } from "./notebook/grading";
export type { CheckRecord } from "./notebook/grading";
export { checkpoint, checkpointHash, evaluateCheckpoint, normalizeAnswer, CHECKPOINT_MIME } from "./notebook/checkpoint";
export type { CheckpointRecord, CheckpointAnswer } from "./notebook/checkpoint";
