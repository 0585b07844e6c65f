/** Shared test helpers: backend start-up, tensor comparisons, a tiny BERT and its inputs. */
import * as tf from "@tensorflow/tfjs";
import { strict as assert } from "node:assert";
import { initBackend } from "../lib/backend";
import { BertConfig, bertConfig } from "../lib/models/bert-config";
import type { TestSpec } from "../lib/grader/cells";
import type { Reference } from "../lib/grader/reference";
import type { CellRun } from "../lib/grader/run-notebook";
import { GradeMode, scoreTests, TestResult } from "../lib/grader/verdicts";
import { NbCell, NbOutput, Notebook } from "../lib/notebook/ipynb";
import type { ObservationRecord } from "../lib/notebook/observe";
import { loadBertForSequenceClassification } from "../lib/io/hf-checkpoint";
import { labelNames } from "../lib/data/datasets";
import { prepareMethod } from "../lib/experiments/methods";
import * as path from "node:path";

/** The shipped pretrained checkpoint. */
export const SHIPPED = path.resolve(__dirname, "../datasets/checkpoints/bert-tiny-peft");

/** Trainable adapter parameters of a method (or variant) on the shipped model: the head (pooler, classifier) not counted. */
export function adapterParams(name: string): number {
  const { model } = loadBertForSequenceClassification(SHIPPED, { labels: labelNames("spam") });
  const prepared = prepareMethod(name, model);
  const count = prepared.model
    .namedParameters()
    .filter(([k, p]) => p.trainable && !k.includes("classifier") && !k.includes("pooler"))
    .reduce((s, [, p]) => s + p.size, 0);
  (prepared.peft ?? model).dispose();
  return count;
}

export async function setupBackend(): Promise<void> {
  await initBackend({ quiet: true });
}

/** Largest absolute difference between two tensors (or arrays) of the same shape. */
export function maxAbsDiff(a: tf.Tensor | ArrayLike<number>, b: tf.Tensor | ArrayLike<number>): number {
  const x = a instanceof tf.Tensor ? a.dataSync() : a;
  const y = b instanceof tf.Tensor ? b.dataSync() : b;
  assert.equal(x.length, y.length, "size mismatch");
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  return m;
}

export function assertClose(a: tf.Tensor | ArrayLike<number>, b: tf.Tensor | ArrayLike<number>, tol: number, what = "values"): void {
  const d = maxAbsDiff(a, b);
  assert.ok(d <= tol, `${what}: max |difference| ${d} > ${tol}`);
}

/** A two-layer BERT small enough for unit tests (hidden 8, MLP 16, vocabulary 40, no dropout); `overrides` changes any field. */
export function tinyBertConfig(overrides: Partial<BertConfig> = {}): BertConfig {
  return bertConfig({
    vocabSize: 40,
    hiddenSize: 8,
    numHiddenLayers: 2,
    numAttentionHeads: 2,
    intermediateSize: 16,
    maxPositionEmbeddings: 16,
    hiddenDropoutProb: 0,
    attentionProbsDropoutProb: 0,
    ...overrides,
  });
}

/** Two sequences of five token ids for a tiny BERT, the second one padded. */
export function tinyInputs(): { inputIds: tf.Tensor2D; attentionMask: tf.Tensor2D } {
  return {
    inputIds: tf.tensor2d(
      [
        [2, 11, 12, 13, 3],
        [2, 20, 21, 3, 0],
      ],
      [2, 5],
      "int32",
    ),
    attentionMask: tf.tensor2d(
      [
        [1, 1, 1, 1, 1],
        [1, 1, 1, 1, 0],
      ],
      [2, 5],
      "int32",
    ),
  };
}

/** One display output carrying `data` (what check() prints in a kernel). */
export const displayOutput = (data: Record<string, unknown>): NbOutput => ({ output_type: "display_data", data, metadata: {} }) as unknown as NbOutput;

/**
 * Scores one executed graded cell with the grader's verdict step, without a kernel: the cell `gradeId` worth
 * `points` with these outputs; instructor mode compares with the solution's record `want` (same seed).
 */
export function scoreTestCell(
  outputs: NbOutput[],
  opts: { gradeId: string; points: number; mode: GradeMode; want?: ObservationRecord; visibility?: TestSpec["visibility"] },
): TestResult {
  const cell: NbCell = {
    cell_type: "code",
    metadata: { nbgrader: { grade: true, solution: false, locked: true, points: opts.points, grade_id: opts.gradeId, schema_version: 3 } },
    source: `await check("${opts.gradeId}", ${opts.points}, (t) => {});`,
    outputs,
    execution_count: 1,
  };
  const nb = { cells: [cell], metadata: {}, nbformat: 4, nbformat_minor: 5 } as unknown as Notebook;
  const runs = new Map<number, CellRun>([[0, { index: 0, name: "In [1]", status: "ok", durationMs: 1 } as CellRun]]);
  const want = opts.want;
  const reference =
    opts.mode === "instructor" && want
      ? ({ seed: want.seed, records: new Map([[opts.gradeId, want]]), verdicts: new Map(), runs: [], warnings: [], notebook: nb } as Reference)
      : undefined;
  const tests = [{ grade_id: opts.gradeId, points: opts.points, visibility: opts.visibility ?? "public" }];
  return scoreTests(nb, { tests, runs, mode: opts.mode, stubs: new Map(), reference }).results[0];
}
