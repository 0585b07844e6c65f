/**
 * Exercises that build a method, against plausible wrong implementations ("mutants"): each mutant is the
 * solution with one mistake a student could make, and the exercise's graded tests must take points from it —
 * in the kernel's own verdicts (what the student sees) and in the grader's comparison with the solution's
 * observations (what the instructor's grade counts). The solution itself must score full points.
 *
 * The notebook's setup cells, the exercise cells and the test cells are read from the source notebook,
 * compiled with typescript's transpileModule (imports become require calls) and run in this process with one
 * seed; `./lib/index`'s check() is replaced by one that keeps what a test printed. No kernel is needed.
 */
import { strict as assert } from "node:assert";
import { createRequire } from "node:module";
import * as path from "node:path";
import * as ts from "typescript";
import { gradeIdOf } from "../../lib/grader/cells";
import * as lib from "../../lib/index";
import { CheckOptions, CheckRecord, RESULT_MIME, runObserved, TestFn } from "../../lib/notebook/grading";
import { cellSource, readNotebook } from "../../lib/notebook/ipynb";
import { ObservationRecord, OBSERVATIONS_MIME, TestContext } from "../../lib/notebook/observe";
import { displayOutput, scoreTestCell } from "../helpers";

const ROOT = path.resolve(__dirname, "..", "..");
const SEED = 777;
const requireFromRoot = createRequire(path.join(ROOT, "package.json"));

interface Mutant {
  what: string;
  /** The exercise cell to edit, the text to find in it and its replacement. */
  cell: string;
  find: string;
  replace: string;
  /** The exact score the mutant must get, where some of its parts are right (partial credit). */
  score?: number;
}

interface Exercise {
  notebook: string;
  /** Cells run first (the imports and the helpers the tests use): a cell index, or a text the cell contains. */
  setup: Array<number | string>;
  /** The exercise cells (solutions), in notebook order. */
  exercises: string[];
  /** The graded test cells, with their points. */
  tests: Record<string, number>;
  mutants: Mutant[];
}

const EXERCISES: Exercise[] = [
  {
    notebook: "solutions/week03/02-lora.ipynb",
    setup: [1],
    exercises: ["lora-layer-impl"],
    tests: { "lora-layer": 3 },
    mutants: [
      {
        what: "forward adds the adapter term after merging too (counted twice)",
        cell: "lora-layer-impl",
        find: "if (!this.merged) y = tf.add(",
        replace: "y = tf.add(",
      },
      {
        what: "merge adds B·A without alpha / r",
        cell: "lora-layer-impl",
        find: "this.W = tf.tidy(() => tf.add(old, tf.mul(tf.matMul(this.B, this.A), this.scale)) as tf.Tensor2D);",
        replace: "this.W = tf.tidy(() => tf.add(old, tf.matMul(this.B, this.A)) as tf.Tensor2D);",
      },
      { what: "unmerge adds instead of subtracting", cell: "lora-layer-impl", find: "tf.sub(old,", replace: "tf.add(old," },
      {
        what: "merging twice is not refused",
        cell: "lora-layer-impl",
        find: 'if (this.merged) throw new Error("merge(): the adapter is already merged");',
        replace: "",
      },
      { what: "unmerge does not mark the layer unmerged", cell: "lora-layer-impl", find: "this.merged = false;", replace: "" },
      { what: "the bias is dropped", cell: "lora-layer-impl", find: "if (this.bias) y = tf.add(y, this.bias);", replace: "" },
      { what: "scaled by r / alpha", cell: "lora-layer-impl", find: "this.B, false, true), this.scale)", replace: "this.B, false, true), 1 / this.scale)" },
      {
        what: "A and B swapped: (x·Bᵀ)·Aᵀ",
        cell: "lora-layer-impl",
        find: "tf.matMul(tf.matMul(x, this.A, false, true), this.B, false, true)",
        replace: "tf.matMul(tf.matMul(x, this.B, false, true), this.A, false, true)",
      },
    ],
  },
  {
    notebook: "solutions/week03/03-waveft.ipynb",
    setup: [1],
    exercises: ["wft-haar-1d"],
    tests: { "wft-haar-1d-hand": 2 },
    mutants: [
      {
        what: "averages instead of the orthonormal 1/√2",
        cell: "wft-haar-1d",
        find: "(x[2 * k] + x[2 * k + 1]) * Math.SQRT1_2",
        replace: "(x[2 * k] + x[2 * k + 1]) * 0.5",
      },
      { what: "the detail's sign flipped", cell: "wft-haar-1d", find: "(x[2 * k] - x[2 * k + 1])", replace: "(x[2 * k + 1] - x[2 * k])" },
      { what: "overlapping pairs (k, k + 1)", cell: "wft-haar-1d", find: "approx.push((x[2 * k] + x[2 * k + 1])", replace: "approx.push((x[k] + x[k + 1])" },
    ],
  },
  {
    notebook: "solutions/week03/03-waveft.ipynb",
    setup: [1],
    exercises: ["wft-update"],
    tests: { "wft-update-hand": 2, "wft-update-library": 3 },
    mutants: [
      { what: "the scaling is forgotten", cell: "wft-update", find: "return tf.mul(dW, scaling) as tf.Tensor2D;", replace: "return dW as tf.Tensor2D;" },
      {
        what: "c_H and c_V swapped (quadrants read column-major)",
        cell: "wft-update",
        find: "const cH = tf.slice(C, [0, w], [h, w]);",
        replace: "const cH = tf.slice(C, [h, 0], [h, w]);",
      },
      { what: "the checkerboard's sign flipped", cell: "wft-update", find: "tf.mul(cD, sH * sV)", replace: "tf.mul(cD, -sH * sV)" },
      { what: "1/√2 instead of ½ (one axis' normalisation only)", cell: "wft-update", find: "]), 0.5);", replace: "]), Math.SQRT1_2);" },
      {
        what: "blocks concatenated instead of interleaved (columns j and j + w/2 side by side)",
        cell: "wft-update",
        find: "tf.reshape(tf.stack([entry(sH, 1), entry(sH, -1)], 2), [h, inFeatures])",
        replace: "tf.concat([entry(sH, 1), entry(sH, -1)], 1)",
      },
      {
        what: "the values read out with dataSync (the right numbers, but no gradient reaches the spectrum)",
        cell: "wft-update",
        find: "const C = tf.scatterND(positions, values,",
        replace: "const C = tf.scatterND(positions, tf.tensor1d(values.dataSync()),",
        score: 4,
      },
    ],
  },
  {
    notebook: "solutions/week03/04-dora.ipynb",
    setup: [1, "function perturbedDoraLayer("],
    exercises: ["dora-row-norm", "dora-merged"],
    tests: { "dora-row-norm-check": 2, "dora-merged-library": 2, "dora-merged-merge": 2 },
    mutants: [
      { what: "norms of the columns (axis 0)", cell: "dora-row-norm", find: "tf.sum(tf.square(w), 1)", replace: "tf.sum(tf.square(w), 0)" },
      { what: "squared norms (no square root)", cell: "dora-row-norm", find: "tf.sqrt(tf.sum(tf.square(w), 1))", replace: "tf.sum(tf.square(w), 1)" },
      {
        what: "one Frobenius norm (the lecture's simplification)",
        cell: "dora-merged",
        find: "tf.div(m, rowNorm(combined))",
        replace: "tf.div(m, tf.norm(combined))",
      },
      { what: "normalised by W's norms instead of (W + ΔW)'s", cell: "dora-merged", find: "tf.div(m, rowNorm(combined))", replace: "tf.div(m, rowNorm(W))" },
      { what: "the magnitude m left out", cell: "dora-merged", find: "tf.div(m, rowNorm(combined))", replace: "tf.div(tf.onesLike(m), rowNorm(combined))" },
    ],
  },
  {
    notebook: "solutions/week03/05-vb-lora.ipynb",
    setup: [1],
    exercises: ["vbl-admixture"],
    tests: { "vbl-admixture-hand": 2, "vbl-admixture-library": 2 },
    mutants: [
      { what: "softmax over every logit, not the top k", cell: "vbl-admixture", find: ".slice(0, k)", replace: ".slice(0)" },
      {
        what: "the k smallest logits",
        cell: "vbl-admixture",
        find: "sort((p, q) => q.z - p.z || p.i - q.i)",
        replace: "sort((p, q) => p.z - q.z || p.i - q.i)",
      },
      { what: "no max subtraction (exp overflows for large logits)", cell: "vbl-admixture", find: "Math.exp(z - max)", replace: "Math.exp(z)" },
      { what: "weights not normalised", cell: "vbl-admixture", find: "(exps[j] / total) * v", replace: "exps[j] * v" },
    ],
  },
  {
    notebook: "solutions/week03/06-qr-adaptor.ipynb",
    setup: [1],
    exercises: ["qr-dominates", "qr-front"],
    tests: { "qr-dominates-hand": 2, "qr-front-hand": 2, "qr-front-lib": 3 },
    mutants: [
      { what: "identical points dominate each other", cell: "qr-dominates", find: "return strictlyBetter;", replace: "return true;" },
      {
        what: "strictly better in every objective required",
        cell: "qr-dominates",
        find: "if (a[k] > b[k]) return false;",
        replace: "if (a[k] >= b[k]) return false;",
      },
      { what: "a point is removed when it dominates another", cell: "qr-front", find: "dominatesMin(q, points[i])", replace: "dominatesMin(points[i], q)" },
      {
        what: "duplicates collapse to one",
        cell: "qr-front",
        find: "j !== i && dominatesMin(q, points[i])",
        replace: "(j < i && q.every((v, k) => v === points[i][k])) || (j !== i && dominatesMin(q, points[i]))",
      },
    ],
  },
  {
    notebook: "solutions/week03/07-qlora-nf4.ipynb",
    setup: [1],
    exercises: ["nf4-blockwise"],
    tests: { "nf4-blockwise-hand": 3 },
    mutants: [
      // Partial credit: only the part about ties is lost.
      {
        what: "exact ties go to the upper code",
        cell: "nf4-blockwise",
        find: "< Math.abs(s - code[best])) best = j;",
        replace: "<= Math.abs(s - code[best])) best = j;",
        score: 2,
      },
      {
        what: "an all-zero block divides by zero (NaN)",
        cell: "nf4-blockwise",
        find: "const r = m > 0 ? Math.fround(1 / m) : 0;",
        replace: "const r = Math.fround(1 / m);",
      },
      {
        what: "dequantize forgets the block's absmax",
        cell: "nf4-blockwise",
        find: "out[i] = code[codes[i]] * absmax[Math.floor(i / blocksize)];",
        replace: "out[i] = code[codes[i]];",
      },
      {
        what: "one absmax for the whole tensor",
        cell: "nf4-blockwise",
        find: "for (let i = start; i < end; i++) m = Math.max(m, Math.abs(x[i]));",
        replace: "for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]));",
      },
    ],
  },
  {
    notebook: "solutions/week03/09-capstone.ipynb",
    setup: [1],
    exercises: ["cap-interval"],
    tests: { "cap-interval-hand": 2, "cap-interval-library": 1 },
    mutants: [
      { what: "population standard deviation (n, not n − 1)", cell: "cap-interval", find: "/ (n - 1));", replace: "/ n);" },
      { what: "the normal's 1.96 instead of Student's t", cell: "cap-interval", find: "tQuantile975(n - 1)", replace: "1.96" },
      { what: "n degrees of freedom instead of n − 1", cell: "cap-interval", find: "tQuantile975(n - 1)", replace: "tQuantile975(n)" },
      { what: "s / n instead of s / √n", cell: "cap-interval", find: "/ Math.sqrt(n);", replace: "/ n;" },
    ],
  },
  {
    notebook: "solutions/week03/09-capstone.ipynb",
    setup: [1],
    exercises: ["cap-choose"],
    tests: { "cap-choose-hand": 3, "cap-choose-library": 2 },
    mutants: [
      {
        what: "the best mean wins (differences the data does not show count)",
        cell: "cap-choose",
        find: "return { method: cheapest.method,",
        replace: "return { method: best.method,",
      },
      {
        what: "the cheapest feasible, even when shown worse",
        cell: "cap-choose",
        find: "const indistinguishable = feasible.filter((c) => c === best || !shownBetter(best.method, c.method));",
        replace: "const indistinguishable = feasible;",
      },
      {
        what: "the relation read backwards (shownBetter(c, best))",
        cell: "cap-choose",
        find: "!shownBetter(best.method, c.method)",
        replace: "!shownBetter(c.method, best.method)",
      },
      {
        what: "a candidate at the storage limit is refused",
        cell: "cap-choose",
        find: "c.storedBytes <= budget.storageBytes",
        replace: "c.storedBytes < budget.storageBytes",
      },
      { what: "the memory limit ignored", cell: "cap-choose", find: " && c.peakBytes <= budget.memoryBytes", replace: "" },
      {
        what: "memory before bytes when breaking cost ties",
        cell: "cap-choose",
        find: "a.storedBytes - b.storedBytes || a.peakBytes - b.peakBytes",
        replace: "a.peakBytes - b.peakBytes || a.storedBytes - b.storedBytes",
      },
      {
        what: "the last of equal means is the best",
        cell: "cap-choose",
        find: "if (c.accuracy.mean > best.accuracy.mean) best = c;",
        replace: "if (c.accuracy.mean >= best.accuracy.mean) best = c;",
      },
    ],
  },
];

type Printed = Map<string, { record: CheckRecord; observations: ObservationRecord }>;

/** A stand-in for tslab outside a kernel: every display call does nothing. */
const quietTslab = { display: new Proxy({}, { get: () => () => undefined }), newDisplay: () => new Proxy({}, { get: () => () => undefined }) };

/** Runs the cells in this process, as one kernel would; returns what each graded test printed. */
async function runCells(sources: string[]): Promise<Printed> {
  const printed: Printed = new Map();
  const check = async (gradeId: string, points: number, fn: TestFn, opts: CheckOptions = {}) => {
    printed.set(gradeId, await runObserved(gradeId, points, fn, opts, new TestContext(gradeId, SEED)));
  };
  const notebookRequire = (id: string): unknown => {
    if (id === "./lib/index") return { ...lib, check, showFigure: () => undefined };
    if (id === "tslab") return quietTslab;
    return requireFromRoot(id);
  };
  const js = ts.transpileModule(sources.join("\n;\n"), {
    compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS, esModuleInterop: true },
  }).outputText;
  const AsyncFunction = Object.getPrototypeOf(async () => undefined).constructor as new (...args: string[]) => (...a: unknown[]) => Promise<void>;
  const log = console.log;
  console.log = () => undefined; // the setup cells' banners and tables
  try {
    await new AsyncFunction("require", "exports", "module", js)(notebookRequire, {}, { exports: {} });
  } finally {
    console.log = log;
  }
  return printed;
}

/** The instructor's grade of one test: its printed records scored against the solution's observations. */
function instructorScore(test: string, points: number, got: Printed, want: Printed): number {
  const mine = got.get(test);
  const solution = want.get(test);
  if (!solution) throw new Error(`the solution's run printed nothing for ${test}`);
  const output = displayOutput(mine ? { [RESULT_MIME]: mine.record, [OBSERVATIONS_MIME]: mine.observations } : {});
  return scoreTestCell([output], { gradeId: test, points, mode: "instructor", want: solution.observations }).score;
}

describe("exercises that build a method fail plausible wrong implementations", function () {
  this.timeout(300000);
  before(async () => {
    await lib.initBackend({ quiet: true });
  });
  for (const ex of EXERCISES) {
    describe(`${path.basename(ex.notebook)}: ${ex.exercises.join(", ")}`, () => {
      const nb = readNotebook(path.join(ROOT, ex.notebook));
      const byId = (id: string) => {
        const cell = nb.cells.find((c) => gradeIdOf(c) === id);
        if (!cell) throw new Error(`${ex.notebook} has no cell ${id}`);
        return cellSource(cell);
      };
      const setup = ex.setup.map((s) => {
        const cell = typeof s === "number" ? nb.cells[s] : nb.cells.find((c) => c.cell_type === "code" && cellSource(c).includes(s));
        if (!cell) throw new Error(`${ex.notebook}: no setup cell ${s}`);
        return cellSource(cell);
      });
      const tests = Object.keys(ex.tests).map(byId);
      const total = Object.values(ex.tests).reduce((a, b) => a + b, 0);
      const run = (exercises: Record<string, string>) => runCells([...setup, ...ex.exercises.map((id) => exercises[id]), ...tests]);
      const solution = Object.fromEntries(ex.exercises.map((id) => [id, byId(id)]));
      const kernelScore = (p: Printed) => Object.keys(ex.tests).reduce((s, id) => s + (p.get(id)?.record.score ?? 0), 0);
      const gradedScore = (p: Printed, want: Printed) => Object.entries(ex.tests).reduce((s, [id, pts]) => s + instructorScore(id, pts, p, want), 0);
      let reference: Printed;
      before(async () => {
        reference = await run(solution);
      });

      it(`the solution scores ${total}/${total}`, () => {
        for (const id of Object.keys(ex.tests)) assert.equal(reference.get(id)?.record.status, "passed", `${id}: ${reference.get(id)?.record.message}`);
        assert.equal(kernelScore(reference), total);
        assert.equal(gradedScore(reference, reference), total);
      });

      for (const m of ex.mutants) {
        it(`loses points: ${m.what}`, async () => {
          assert.ok(solution[m.cell].includes(m.find), `the mutant's edit no longer applies: ${m.find}`);
          const got = await run({ ...solution, [m.cell]: solution[m.cell].replace(m.find, m.replace) });
          const [kernel, graded] = [kernelScore(got), gradedScore(got, reference)];
          assert.ok(kernel < total, `the kernel's verdicts gave it ${kernel}/${total}`);
          assert.ok(graded < total, `the grader gave it ${graded}/${total}`);
          if (m.score !== undefined) assert.deepEqual([kernel, graded], [m.score, m.score], "partial credit: the parts it gets right still count");
        });
      }
    });
  }
});
