/**
 * The lecture's "PEFTComparison": every method fine-tunes the same pretrained model on the same task with
 * the same data, epochs and seed, and we record what each costs and what it achieves — trainable
 * parameters, the bytes of what must be stored per task, training time, peak tensor memory, test accuracy
 * and macro-F1. Results come back as rows, a danfojs DataFrame, and plotly figures.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { loadBertForSequenceClassification } from "../io/hf-checkpoint";
import { writeSafetensors, TensorInput } from "../io/safetensors";
import { DatasetName, labelNames } from "../data/datasets";
import { loadTask } from "../data/task";
import { evaluateClassifier, finetuneClassifier } from "../train/finetune";
import { MethodOptions, prepareMethod, PreparedMethod, resolveMethod } from "./methods";
import { savePretrained } from "../peft/serialization";
import { ForgettingProbe } from "./forgetting";
import { rowsToDataFrame } from "../data/dataframe";
import type { Figure } from "../plot/plotly";

export interface ComparisonRow {
  task: string;
  method: string;
  description: string;
  trainableParams: number;
  totalParams: number;
  trainablePercent: number;
  /** Bytes stored per task: the adapter file (PEFT), the head's tensors (head-only), the whole model (full). */
  storedBytes: number;
  trainSeconds: number;
  stepsPerSecond: number;
  peakBytes: number;
  accuracy: number;
  macroF1: number;
  validationAccuracy: number;
  epochs: number;
  lr: number;
  /** With `forgetting`: the held-out masked-LM loss of the pre-trained model and of the fine-tuned encoder. */
  mlmLossBefore?: number;
  mlmLossAfter?: number;
}

export interface CompareOptions {
  task: DatasetName;
  methods: string[];
  checkpoint: string;
  epochs?: number;
  batchSize?: number;
  /** Cap every split (quick runs). */
  limit?: number;
  seed?: number;
  options?: Partial<Record<string, MethodOptions>>;
  progress?: "auto" | "terminal" | "silent";
  onResult?: (row: ComparisonRow) => void;
}

/** Bytes a method must store for one task, measured by writing the file. */
async function storedBytes(prepared: PreparedMethod, method: string): Promise<number> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "coursekit-size-"));
  try {
    if (prepared.peft) return (await savePretrained(prepared.peft, dir)).bytes;
    const tensors = new Map<string, TensorInput>();
    for (const [n, p] of prepared.model.namedParameters())
      if (method === "full" || p.trainable) tensors.set(n, { shape: p.shape, data: (await p.data()) as Float32Array });
    const file = path.join(dir, "model.safetensors");
    writeSafetensors(file, tensors, { format: "pt" });
    return fs.statSync(file).size;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** One training run: a method (or variant) fine-tuned on a task with one seed. */
export interface RunOptions {
  task: DatasetName;
  method: string;
  checkpoint: string;
  epochs?: number;
  batchSize?: number;
  /** Cap every split (quick runs). */
  limit?: number;
  /** Cap the training split only (validation and test stay whole). */
  trainLimit?: number;
  seed?: number;
  options?: MethodOptions;
  progress?: "auto" | "terminal" | "silent";
  /** Also measure forgetting: the held-out masked-LM loss before and after (lib/experiments/forgetting.ts). */
  forgetting?: boolean;
}

export interface MethodRun {
  row: ComparisonRow;
  /** 1 where the run's test prediction is right, per test example (for paired comparisons). */
  correct: Uint8Array;
}

/** Loads the checkpoint, prepares the method, fine-tunes, scores the test split and measures the stored bytes. */
export async function runMethod(o: RunOptions): Promise<MethodRun> {
  const epochs = o.epochs ?? 2;
  const seed = o.seed ?? 42;
  const { model, tokenizer } = loadBertForSequenceClassification(o.checkpoint, { labels: labelNames(o.task), seed });
  const task = loadTask(o.task, tokenizer, { limit: o.limit });
  const train = o.trainLimit ? task.splits.train.slice(0, o.trainLimit) : task.splits.train;
  if (o.forgetting && resolveMethod(o.method).method === "qlora")
    throw new Error("forgetting is measured on merged weights; QLoRA's base is 4-bit, so merging re-quantizes it (measure LoRA instead)");
  const probe = o.forgetting ? await ForgettingProbe.create(o.checkpoint) : null;
  const prepared = prepareMethod(o.method, model, o.options ?? {}, seed);
  /** Set when the adapters were merged and unloaded (which frees the adapters' tensors): the base model is left. */
  let unloaded = false;
  try {
    const r = await finetuneClassifier(prepared.model, train, task.splits.validation, {
      epochs,
      batchSize: o.batchSize ?? 16,
      lr: prepared.lr,
      lrScale: prepared.lrScale,
      seed,
      progress: o.progress,
    });
    const test = await evaluateClassifier(prepared.model, task.splits.test);
    const totalParams = prepared.peft ? prepared.peft.trainableParameterCounts().all : r.totalParams; // counts 4-bit weights too
    const row: ComparisonRow = {
      task: o.task,
      method: o.method,
      description: prepared.describe,
      trainableParams: r.trainableParams,
      totalParams,
      trainablePercent: (100 * r.trainableParams) / totalParams,
      storedBytes: await storedBytes(prepared, resolveMethod(o.method).method),
      trainSeconds: r.seconds,
      stepsPerSecond: r.stepsPerSecond,
      peakBytes: r.peakBytes,
      accuracy: test.accuracy,
      macroF1: test.macroF1,
      validationAccuracy: r.epochs[r.epochs.length - 1]?.validation?.accuracy ?? NaN,
      epochs,
      lr: prepared.lr,
    };
    if (probe) {
      row.mlmLossBefore = probe.before;
      unloaded = prepared.peft !== null;
      row.mlmLossAfter = await probe.after(prepared.peft ? prepared.peft.mergeAndUnload() : model);
    }
    const correct = Uint8Array.from(task.splits.test, (e, i) => (e.label === test.predictions[i] ? 1 : 0));
    return { row, correct };
  } finally {
    probe?.dispose();
    (unloaded ? model : (prepared.peft ?? model)).dispose();
  }
}

export async function compareMethods(o: CompareOptions): Promise<ComparisonRow[]> {
  const rows: ComparisonRow[] = [];
  for (const method of o.methods) {
    const { row } = await runMethod({ ...o, method, seed: o.seed ?? 42, options: o.options?.[method] ?? {} });
    rows.push(row);
    o.onResult?.(row);
  }
  return rows;
}

/** A Markdown table of the rows. */
export function comparisonTable(rows: ComparisonRow[]): string {
  const mb = (b: number) => (b >= 1e6 ? `${(b / 1e6).toFixed(2)} MB` : `${(b / 1e3).toFixed(1)} kB`);
  const lines = [
    "| task | method | trainable params | % of model | stored per task | train time | peak tensor memory | test accuracy | test macro-F1 |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.task} | ${r.method} | ${r.trainableParams.toLocaleString("en-US")} | ${r.trainablePercent.toFixed(2)}% | ${mb(r.storedBytes)} | ${r.trainSeconds.toFixed(0)} s | ${mb(r.peakBytes)} | ${(100 * r.accuracy).toFixed(2)}% | ${(100 * r.macroF1).toFixed(2)}% |`,
    );
  }
  return lines.join("\n");
}

/** The rows as a danfojs DataFrame (one column per field). */
export function comparisonFrame(rows: ComparisonRow[]) {
  return rowsToDataFrame(rows as unknown as Array<Record<string, string | number>>);
}

/**
 * Three plotly figures: accuracy against trainable parameters (log scale — the lecture's trade-off),
 * bytes stored per task, and training time with peak tensor memory.
 */
export function comparisonFigures(rows: ComparisonRow[]): Figure[] {
  const task = rows[0]?.task ?? "";
  const methods = rows.map((r) => r.method);
  return [
    {
      data: [
        {
          type: "scatter",
          mode: "markers+text",
          x: rows.map((r) => r.trainableParams),
          y: rows.map((r) => 100 * r.accuracy),
          text: methods,
          textposition: "top center",
          marker: { size: 12 },
        },
      ],
      layout: {
        title: { text: `${task}: test accuracy vs trainable parameters` },
        xaxis: { title: { text: "trainable parameters" }, type: "log" },
        yaxis: { title: { text: "test accuracy (%)" } },
      },
    },
    {
      data: [{ type: "bar", x: methods, y: rows.map((r) => r.storedBytes) }],
      layout: { title: { text: `${task}: bytes stored per task` }, yaxis: { title: { text: "bytes" }, type: "log" } },
    },
    {
      data: [
        // Bars on two y axes are drawn over each other unless each trace has its own offset group.
        { type: "bar", name: "training time (s)", x: methods, y: rows.map((r) => r.trainSeconds), offsetgroup: "time" },
        { type: "bar", name: "peak tensor memory (MB)", x: methods, y: rows.map((r) => r.peakBytes / 1e6), yaxis: "y2", offsetgroup: "memory" },
      ],
      layout: {
        title: { text: `${task}: cost of training` },
        barmode: "group",
        yaxis: { title: { text: "seconds" } },
        yaxis2: { title: { text: "MB" }, overlaying: "y", side: "right" },
      },
    },
  ];
}
