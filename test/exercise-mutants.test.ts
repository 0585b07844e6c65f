/**
 * Exercises that build a method, against plausible wrong implementations ("mutants"): each mutant is the
 * solution with one mistake a student could make, and the exercise's graded test must take points from it —
 * in the kernel's own verdict (what the student sees) and in the grader's comparison with the solution's
 * observations (what the instructor's grade counts). The solution itself must score full points.
 *
 * The cells are read from the source notebook, their TypeScript stripped (typescript's transpileModule), and run
 * in this process with the test's own seed; no kernel is needed.
 */
import { strict as assert } from "node:assert";
import * as nodeAssert from "node:assert";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import * as ts from "typescript";
import { gradeIdOf } from "../lib/grader/cells";
import type { Reference } from "../lib/grader/reference";
import type { CellRun } from "../lib/grader/run-notebook";
import { scoreTests } from "../lib/grader/verdicts";
import { CheckOptions, CheckRecord, RESULT_MIME, runCheck, TestFn } from "../lib/notebook/grading";
import { cellSource, NbOutput, Notebook, readNotebook } from "../lib/notebook/ipynb";
import { ObservationRecord, OBSERVATIONS_MIME, TestContext } from "../lib/notebook/observe";
import * as quant from "../lib/quant/index";

const ROOT = path.resolve(__dirname, "..");
const SEED = 777;

interface Exercise {
  notebook: string;
  /** The exercise cell (the solution) and its graded test cell. */
  solution: string;
  test: string;
  points: number;
  /** What the notebook's setup cell imports that the cells use, besides tf, assert and check. */
  globals?: Record<string, unknown>;
  /** Each wrong implementation: what it gets wrong, the edit of the solution's source that makes it, and the score it must get if exact. */
  mutants: { what: string; find: string; replace: string; score?: number }[];
}

const EXERCISES: Exercise[] = [
  {
    notebook: "solutions/week03/02-lora.ipynb",
    solution: "lora-layer-impl",
    test: "lora-layer",
    points: 3,
    mutants: [
      {
        what: "forward adds the adapter term after merging too (counted twice)",
        find: "if (!this.merged) y = tf.add(",
        replace: "y = tf.add(",
      },
      {
        what: "merge adds B·A without alpha / r",
        find: "this.W = tf.tidy(() => tf.add(old, tf.mul(tf.matMul(this.B, this.A), this.scale)) as tf.Tensor2D);",
        replace: "this.W = tf.tidy(() => tf.add(old, tf.matMul(this.B, this.A)) as tf.Tensor2D);",
      },
      { what: "unmerge adds instead of subtracting", find: "tf.sub(old,", replace: "tf.add(old," },
      { what: "merging twice is not refused", find: 'if (this.merged) throw new Error("merge(): the adapter is already merged");', replace: "" },
      { what: "unmerge does not mark the layer unmerged", find: "this.merged = false;", replace: "" },
      { what: "the bias is dropped", find: "if (this.bias) y = tf.add(y, this.bias);", replace: "" },
      { what: "scaled by r / alpha", find: "this.B, false, true), this.scale)", replace: "this.B, false, true), 1 / this.scale)" },
      {
        what: "A and B swapped: (x·Bᵀ)·Aᵀ",
        find: "tf.matMul(tf.matMul(x, this.A, false, true), this.B, false, true)",
        replace: "tf.matMul(tf.matMul(x, this.B, false, true), this.A, false, true)",
      },
    ],
  },
  {
    notebook: "solutions/week03/07-qlora-nf4.ipynb",
    solution: "nf4-blockwise",
    test: "nf4-blockwise-hand",
    points: 3,
    globals: { quant },
    mutants: [
      // Partial credit: only the part about ties is lost.
      { what: "exact ties go to the upper code", find: "< Math.abs(s - code[best])) best = j;", replace: "<= Math.abs(s - code[best])) best = j;", score: 2 },
      { what: "an all-zero block divides by zero (NaN)", find: "const r = m > 0 ? Math.fround(1 / m) : 0;", replace: "const r = Math.fround(1 / m);" },
      {
        what: "dequantize forgets the block's absmax",
        find: "out[i] = code[codes[i]] * absmax[Math.floor(i / blocksize)];",
        replace: "out[i] = code[codes[i]];",
      },
      {
        what: "one absmax for the whole tensor",
        find: "for (let i = start; i < end; i++) m = Math.max(m, Math.abs(x[i]));",
        replace: "for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]));",
      },
    ],
  },
];

/** TypeScript → JavaScript (types stripped), as one async function body. */
function transpile(source: string): string {
  return ts.transpileModule(source, { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.None } }).outputText;
}

type Printed = { record: CheckRecord; observations: ObservationRecord };

/** Runs the exercise cell and its test cell in this process, as check() would in a kernel; returns what the cell printed. */
async function runCells(exerciseSource: string, testSource: string, opts: { leakFree?: boolean; globals?: Record<string, unknown> } = {}): Promise<Printed> {
  let printed: Printed | undefined;
  const check = async (gradeId: string, points: number, fn: TestFn, opts: CheckOptions = {}) => {
    const context = new TestContext(gradeId, SEED);
    const record = await runCheck(gradeId, points, fn, opts, context);
    const observations = await context.finish(record.status === "error" && !record.parts ? record.message : undefined);
    printed = { record, observations };
  };
  const AsyncFunction = Object.getPrototypeOf(async () => undefined).constructor as new (...args: string[]) => (...a: unknown[]) => Promise<void>;
  const body = transpile(`${exerciseSource}\n${testSource}`);
  const before = tf.memory().numTensors;
  const globals = { tf, assert: nodeAssert.strict, check, ...opts.globals };
  await new AsyncFunction(...Object.keys(globals), body)(...Object.values(globals));
  if (opts.leakFree) assert.equal(tf.memory().numTensors, before, "the solution and its test leave no tensor behind");
  if (!printed) throw new Error("the test cell printed no verdict");
  return printed;
}

/** The instructor's grade: the printed records scored against the solution's observations. */
function instructorScore(test: string, points: number, got: Printed, want: ObservationRecord): number {
  const output = {
    output_type: "display_data",
    data: { [RESULT_MIME]: got.record, [OBSERVATIONS_MIME]: got.observations },
    metadata: {},
  } as unknown as NbOutput;
  const nb = {
    cells: [
      {
        cell_type: "code",
        metadata: { nbgrader: { grade: true, solution: false, locked: true, points, grade_id: test, schema_version: 3 } },
        source: "",
        outputs: [output],
        execution_count: 1,
      },
    ],
    metadata: {},
    nbformat: 4,
    nbformat_minor: 5,
  } as unknown as Notebook;
  const runs = new Map<number, CellRun>([[0, { index: 0, name: "In [1]", status: "ok", durationMs: 1 } as CellRun]]);
  const reference = { seed: SEED, records: new Map([[test, want]]), verdicts: new Map(), runs: [], warnings: [], notebook: nb } as Reference;
  return scoreTests(nb, [{ grade_id: test, points, visibility: "public" }], runs, "instructor", new Map(), [], reference)[0].score;
}

describe("exercises that build a method fail plausible wrong implementations", () => {
  for (const ex of EXERCISES) {
    describe(`${path.basename(ex.notebook)}: ${ex.solution}`, () => {
      const nb = readNotebook(path.join(ROOT, ex.notebook));
      const sourceOf = (id: string) => {
        const cell = nb.cells.find((c) => gradeIdOf(c) === id);
        if (!cell) throw new Error(`${ex.notebook} has no cell ${id}`);
        return cellSource(cell);
      };
      const solution = sourceOf(ex.solution);
      const test = sourceOf(ex.test);
      let reference: Printed;
      before(async () => {
        reference = await runCells(solution, test, { leakFree: true, globals: ex.globals });
      });

      it(`the solution scores ${ex.points}/${ex.points}`, () => {
        assert.equal(reference.record.score, ex.points, reference.record.message);
        assert.equal(instructorScore(ex.test, ex.points, reference, reference.observations), ex.points);
      });

      for (const m of ex.mutants) {
        it(`loses points: ${m.what}`, async () => {
          assert.ok(solution.includes(m.find), `the mutant's edit no longer applies: ${m.find}`);
          const got = await runCells(solution.replace(m.find, m.replace), test, { globals: ex.globals });
          const instructor = instructorScore(ex.test, ex.points, got, reference.observations);
          assert.ok(got.record.score < ex.points, `the kernel's verdict gave it ${got.record.score}/${ex.points}`);
          assert.ok(instructor < ex.points, `the grader gave it ${instructor}/${ex.points}`);
          if (m.score !== undefined)
            assert.deepEqual([got.record.score, instructor], [m.score, m.score], "partial credit: the parts it gets right still count");
        });
      }
    });
  }
});
