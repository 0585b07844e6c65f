/**
 * Grading one notebook (the format: solutions/README.md), in two modes:
 *   - student: runs the notebook as it is, counts the public tests, warns about edited test cells and
 *     reports hidden tests as "runs when your instructor grades";
 *   - instructor: first restores every locked and graded cell from the source by grade_id (re-inserting
 *     deleted ones, overwriting edited ones, each with a warning), hidden tests included, then runs it.
 * Where the points come from:
 *   - instructor mode: from a comparison the grader makes itself, outside the student's kernel. Each test
 *     cell records observations (lib/notebook/observe.ts) of the student's code on inputs drawn from a
 *     seed chosen now; the source notebook (the solution) runs the same tests with the same seed in a
 *     separate kernel (the reference, computed once per source and seed); the grader compares the two
 *     (lib/grader/observations.ts). Whatever the student's code does inside its own kernel (patching
 *     check(), assert, JSON.stringify, tslab's display) it cannot produce the solution's values on inputs
 *     it has never seen without computing them. Kernels run in the sandbox (lib/grader/sandbox.ts): the
 *     solutions are not there to read, the repository is read-only, the grader cannot be signalled;
 *   - student mode: from the verdict record check() prints (lib/notebook/grading.ts), which can only fool
 *     the notebook's own author.
 * In both, a record counts only in the outputs of its own graded cell (one record, the cell's grade_id);
 * records printed anywhere else are ignored (with a warning); a missing record, a timeout or a crash scores 0.
 *
 * gradeNotebook is a pipeline of small steps, one file each:
 *   prepare.ts           the notebook to run, its tests and stubs, per mode; in instructor mode also the
 *                        feedback run's notebook (hidden tests' code left out) and the graded run's (only
 *                        setup cells, the student's cells and the tests, tests in strict mode)
 *   reference.ts         instructor mode: the solution run with the same seed (once per batch)
 *   verdict-library.ts   the graded run's lib/: the code the exercises imitate removed
 *   run-notebook.ts      execute every cell in the (sandboxed) kernel, within the time and output limits
 *   forbidden-names.ts   the library names an exercise's own code may not use (read from the syntax tree)
 *   verdicts.ts          each test's score from the executed cells
 *   report.ts            the report, the feedback copy, the readable summary and the CSV row
 */
import { randomInt } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { CHECKPOINT_MIME, CheckpointRecord } from "../notebook/checkpoint";
import { JsonObject, NbCell, Notebook, NotebookFormatError, readNotebook, serializeNotebook } from "../notebook/ipynb";
import { writeFileAtomic } from "../util/files";
import { gradeIdOf, isGraded, KERNEL_NAME, notebookBudgetS, TestSpec, testSpecs, usesVerdictRun } from "./cells";
import { DEFAULT_LIMITS, KernelLimits, LimitEnforcement } from "./kernel-client";
import { feedbackRunNotebook, prepareForInstructor, prepareForStudent, verdictRunNotebook } from "./prepare";
import { referenceFor } from "./reference";
import { feedbackCopy, GradeReport } from "./report";
import { CellRun, RunOptions, runNotebookCells } from "./run-notebook";
import { verdictLibrary } from "./verdict-library";
import { sandboxUnavailableReason } from "./sandbox";
import { CellProblem, GradeMode, mergeVerdicts, problemsOf, scoreTests, withoutReferenceUses } from "./verdicts";
import { recordsIn } from "./records";
import { referenceUses } from "./forbidden-names";

export type { CellProblem, GradeMode, TestResult, TestStatus } from "./verdicts";

export type { GradeReport } from "./report";

export interface GradeOptions {
  mode: GradeMode;
  /** Repository root (kernel launcher). */
  root: string;
  /** The source notebook (instructor mode). */
  source?: Notebook;
  sourcePath?: string;
  /** Where the executed copy is written (optional). */
  executedPath?: string;
  onCell?: (run: CellRun, cell: NbCell) => void;
  /** Tests: override time limits. */
  timeoutMsFor?: (cell: NbCell) => number;
  /** Multiplies every cell's time limit and the notebook's budget (a slow machine; default 1). */
  timeScale?: number;
  interruptGraceMs?: number;
  /** Stop after the last graded cell (verify-release: later cells cannot change a verdict). */
  stopAfterLastTest?: boolean;
  /** The seed for the tests' inputs (default: one random seed per grading process, see gradingSeed()). */
  seed?: number;
  /** Instructor mode: grade even where the sandbox is unavailable (the report says so). */
  unsandboxed?: boolean;
  limits?: Partial<KernelLimits>;
}

/** The index of a notebook's last test cell (-1 without one): later cells cannot change a verdict. */
const lastTestIndex = (nb: Notebook): number => nb.cells.reduce((last, c, i) => (isGraded(c) ? i : last), -1);

/** Raised before running anything when a submission would have to run outside the sandbox. */
export class SandboxRequiredError extends Error {
  constructor(why: string) {
    super(
      `refusing to run a submission's code outside the sandbox: ${why}. Install bubblewrap, or pass --unsandboxed to grade anyway (each report then says it was unsandboxed).`,
    );
    this.name = "SandboxRequiredError";
  }
}

let processSeed: number | undefined;
/** The seed this grading process uses unless told otherwise: random, chosen once (a batch shares it). */
export function defaultSeed(): number {
  processSeed ??= randomInt(1, 2 ** 31 - 1);
  return processSeed;
}

/** Whether kernels run sandboxed; throws SandboxRequiredError when a submission may not run otherwise. */
export function sandboxDecision(mode: GradeMode, unsandboxed = false): boolean {
  const why = sandboxUnavailableReason();
  if (!why) return true;
  if (mode === "instructor" && !unsandboxed) throw new SandboxRequiredError(why);
  return false;
}

function packageVersion(root: string, pkg: string): string {
  try {
    const file = pkg === "." ? path.join(root, "package.json") : path.join(root, "node_modules", pkg, "package.json");
    return String((JSON.parse(fs.readFileSync(file, "utf8")) as { version?: string }).version ?? "?");
  } catch {
    return "?";
  }
}

function envInfo(root: string, mode: GradeMode): Record<string, string> {
  return {
    grader: `peft-course-kit ${packageVersion(root, ".")}`,
    mode,
    kernel: KERNEL_NAME,
    tslab: packageVersion(root, "tslab"),
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
    cpus: String(os.cpus().length),
    date: new Date().toISOString(),
  };
}

/** What a report for a notebook that was never run says. */
export interface FailedReportOptions {
  mode: GradeMode;
  /** The tests it would have had (each scores 0). */
  tests: TestSpec[];
  /** Why it was not graded (the report's only warning). */
  why: string;
  root: string;
  started: number;
  seed: number;
  sandboxed: boolean;
  limits: KernelLimits;
  timeScale: number;
}

/** A report for a submission that could not be run at all (wrong format, the grader stopped): every test scores 0. */
export function failedReport(file: string, o: FailedReportOptions): GradeReport {
  return {
    notebook: file,
    mode: o.mode,
    score: 0,
    max_score: o.tests.reduce((s, t) => s + t.points, 0),
    hidden_max_score: 0,
    tests: o.tests.map((t) => ({
      grade_id: t.grade_id,
      score: 0,
      max_score: t.points,
      status: "not_run" as const,
      visibility: t.visibility,
      message: "the notebook could not be graded",
    })),
    checkpoints: [],
    cell_problems: [],
    warnings: [o.why],
    env: envInfo(o.root, o.mode),
    seed: o.seed,
    sandboxed: o.sandboxed,
    limits: o.limits,
    enforcement: NOT_RUN,
    time_scale: o.timeScale,
    duration_ms: Date.now() - o.started,
  };
}

/** The enforcement of a notebook that never reached a kernel. */
export const NOT_RUN: LimitEnforcement = { memory: "watched", processes: "watched", cpu: "watched", reason: "no kernel ran" };

/** Grades one notebook file. Never throws for anything in the submission; the report says what happened. */
export async function gradeNotebook(file: string, opts: GradeOptions): Promise<{ report: GradeReport; executed?: Notebook }> {
  const started = Date.now();
  if (opts.mode === "instructor" && !opts.source) throw new Error("instructor mode needs the source notebook (--source)");
  const sandbox = sandboxDecision(opts.mode, opts.unsandboxed);
  const seed = opts.seed ?? defaultSeed();
  const limits: KernelLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  let submission: Notebook;
  try {
    submission = readNotebook(file);
    const kernel = (submission.metadata.kernelspec as JsonObject | undefined)?.name;
    if (opts.mode === "student" && kernel !== KERNEL_NAME) {
      throw new NotebookFormatError(file, `is not a course notebook (its kernel is ${JSON.stringify(kernel ?? null)}, not "${KERNEL_NAME}")`);
    }
  } catch (e) {
    if (!(e instanceof NotebookFormatError)) throw e;
    return {
      report: failedReport(file, {
        mode: opts.mode,
        tests: opts.source ? testSpecs(opts.source) : [],
        why: e.message,
        root: opts.root,
        started,
        seed,
        sandboxed: sandbox,
        limits,
        timeScale: opts.timeScale ?? 1,
      }),
    };
  }
  const warnings: string[] = [];
  if (!sandbox) warnings.push(`the kernel ran without the sandbox (${sandboxUnavailableReason()})`);
  // 1. prepare (per mode)
  const prepared = opts.mode === "instructor" && opts.source ? prepareForInstructor(submission, opts.source) : prepareForStudent(submission);
  const { notebook: nb, tests, stubs } = prepared;
  warnings.push(...prepared.warnings);
  const reference =
    opts.mode === "instructor" && opts.source
      ? await referenceFor(opts.source, { ...opts, seed, sandbox, cwd: path.dirname(path.resolve(opts.sourcePath ?? file)) })
      : undefined;
  // 2. execute: one run, or (instructor mode, a notebook that asks for it, in the sandbox) a feedback run
  // and a verdict run whose library lacks what the exercises imitate.
  const asksTwoRuns = opts.mode === "instructor" && !!opts.source && usesVerdictRun(opts.source);
  if (asksTwoRuns && !sandbox)
    warnings.push("graded in one run (the verdict run needs the sandbox): the library code the exercises imitate was within the student code's reach");
  const run = (notebook: Notebook, extra: Partial<RunOptions> = {}) =>
    runNotebookCells(notebook, {
      root: opts.root,
      cwd: path.dirname(path.resolve(file)),
      budgetMs: notebookBudgetS(notebook) * 1000,
      onCell: opts.onCell,
      timeoutMsFor: opts.timeoutMsFor,
      timeScale: opts.timeScale,
      interruptGraceMs: opts.interruptGraceMs,
      lastIndex: opts.stopAfterLastTest ? lastTestIndex(notebook) : undefined,
      sandbox,
      env: { COURSEKIT_GRADING_SEED: String(seed) },
      limits,
      ...extra,
    });
  const twoRuns = asksTwoRuns && sandbox && !!reference;
  const shown = twoRuns ? feedbackRunNotebook(nb, opts.source as Notebook) : nb;
  const { runs, warnings: runWarnings, enforcement } = await run(shown);
  warnings.push(...runWarnings);
  // 3. verdicts
  const uses = referenceUses(nb, prepared.studentCells, prepared.references);
  const shownScores = scoreTests(shown, { tests, runs: new Map(runs.map((r) => [r.index, r])), mode: opts.mode, stubs, reference });
  // With two runs the feedback run's scores give only the words (its warnings would repeat the verdict run's).
  if (!twoRuns) warnings.push(...shownScores.warnings);
  let scored = shownScores.results;
  let verdictProblems: CellProblem[] = [];
  if (twoRuns && reference) {
    const library = verdictLibrary(opts.root, [...prepared.references.values()].flat());
    const graded = verdictRunNotebook(nb, prepared.studentCells);
    const verdictRun = await run(graded, { libDir: library.dir, lastIndex: lastTestIndex(graded), onCell: undefined });
    // What the graded run adds (the same output flood in both runs is said once).
    warnings.push(...verdictRun.warnings.filter((w) => !runWarnings.includes(w)).map((w) => `graded run: ${w}`));
    const verdicts = scoreTests(graded, { tests, runs: new Map(verdictRun.runs.map((r) => [r.index, r])), mode: opts.mode, stubs, reference });
    warnings.push(...verdicts.warnings);
    scored = mergeVerdicts(verdicts.results, scored);
    // Test cells that did not finish in the graded run, said in the grader's words only (not the cell's output).
    verdictProblems = verdictRun.runs
      .filter((r) => r.status !== "ok" && tests.some((t) => t.grade_id === gradeIdOf(graded.cells[r.index])))
      .map((r) => ({
        cell: r.index + 1,
        name: r.name,
        grade_id: gradeIdOf(graded.cells[r.index]),
        status: r.status,
        message: `graded run: ${r.reason ?? r.status}`,
      }));
  }
  const results = withoutReferenceUses(scored, tests, uses, warnings);
  const counted = results.filter((r) => !(opts.mode === "student" && r.visibility === "hidden"));
  const checkpoints = shown.cells.flatMap((c) => recordsIn<CheckpointRecord>(c.outputs, CHECKPOINT_MIME));
  // 4. report and feedback
  const executed = feedbackCopy(shown, results, opts.mode);
  if (opts.executedPath) writeFileAtomic(opts.executedPath, serializeNotebook(executed));
  const report: GradeReport = {
    notebook: file,
    mode: opts.mode,
    score: counted.reduce((s, r) => s + r.score, 0),
    max_score: counted.reduce((s, r) => s + r.max_score, 0),
    hidden_max_score: results.filter((r) => opts.mode === "student" && r.visibility === "hidden").reduce((s, r) => s + r.max_score, 0),
    tests: results,
    checkpoints,
    cell_problems: [...problemsOf(shown, runs), ...verdictProblems],
    warnings,
    env: envInfo(opts.root, opts.mode),
    seed,
    sandboxed: sandbox,
    limits,
    enforcement: enforcement ?? NOT_RUN,
    time_scale: opts.timeScale ?? 1,
    duration_ms: Date.now() - started,
  };
  return { report, executed };
}
