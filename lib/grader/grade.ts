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
 */
import { createHash, randomInt, randomUUID } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { CHECKPOINT_MIME, CheckpointRecord } from "../notebook/checkpoint";
import { CheckRecord, describeCheck, RESULT_MIME } from "../notebook/grading";
import { OBSERVATIONS_MIME, ObservationRecord } from "../notebook/observe";
import { cellName, cellSource, cloneNotebook, JsonObject, NbCell, NbOutput, Notebook, NotebookFormatError, outputText, readNotebook, serializeNotebook } from "../notebook/ipynb";
import { cellTimeoutS, gradeIdOf, isGraded, isLocked, isSolution, KERNEL_NAME, nbgraderChecksum, nbgraderMeta, notebookBudgetS, TestSpec, testSpecs } from "./cells";
import { DEFAULT_LIMITS, KernelLimits } from "./kernel-client";
import { asObservationRecord, compareRecords } from "./observations";
import { releaseCell } from "./release";
import { CellRun, CellStatus, describeLimit, runNotebookCells } from "./run-notebook";
import { sandboxUnavailableReason } from "./sandbox";

export type GradeMode = "student" | "instructor";
export type TestStatus = "passed" | "failed" | "error" | "timeout" | "not_run" | "not_attempted";

export interface TestResult {
  grade_id: string;
  score: number;
  max_score: number;
  status: TestStatus;
  visibility: "public" | "hidden";
  message: string;
}

export interface CellProblem {
  /** 1-based position in the notebook's cells. */
  cell: number;
  /** "In [k]", as the student sees it (see cellName). */
  name: string;
  grade_id?: string;
  status: CellStatus;
  message: string;
}

export interface GradeReport {
  notebook: string;
  mode: GradeMode;
  score: number;
  max_score: number;
  /** Student mode: points in hidden tests, not included in max_score. */
  hidden_max_score: number;
  tests: TestResult[];
  checkpoints: CheckpointRecord[];
  /** Cells that did not finish cleanly (errors, timeouts, kernel deaths, not run). */
  cell_problems: CellProblem[];
  warnings: string[];
  env: Record<string, string>;
  /** The seed the test inputs were drawn from (instructor mode: chosen at grading time). */
  seed: number;
  /** Whether the kernel ran in the sandbox. */
  sandboxed: boolean;
  /** The limits the kernel ran under. */
  limits: KernelLimits;
  duration_ms: number;
}

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
  interruptGraceMs?: number;
  /** Stop after the last graded cell (verify-release: later cells cannot change a verdict). */
  stopAfterLastTest?: boolean;
  /** The seed for the tests' inputs (default: one random seed per grading process, see gradingSeed()). */
  seed?: number;
  /** Instructor mode: grade even where the sandbox is unavailable (the report says so). */
  unsandboxed?: boolean;
  limits?: Partial<KernelLimits>;
}

/** Raised before running anything when a submission would have to run outside the sandbox. */
export class SandboxRequiredError extends Error {
  constructor(why: string) {
    super(`refusing to run a submission's code outside the sandbox: ${why}. Install bubblewrap, or pass --unsandboxed to grade anyway (each report then says it was unsandboxed).`);
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

/** The first error line a cell wrote to stderr ("Error: Not implemented"), for messages. */
function firstErrorLine(outputs: NbOutput[] | undefined): string {
  const stderr = (outputs ?? []).filter((o) => o.output_type === "stream" && o.name === "stderr").map(outputText).join("");
  const line = stderr.split("\n").find((l) => /^\w*(Error|Exception)\b|error TS\d+/.test(l.trim())) ?? stderr.split("\n").find((l) => l.trim() !== "");
  return (line ?? "").trim().slice(0, 300);
}

function recordsIn<T>(outputs: NbOutput[] | undefined, mime: string): T[] {
  return (outputs ?? []).flatMap((o) => (o.data && o.data[mime] !== undefined ? [o.data[mime] as unknown as T] : []));
}

const MAX_MESSAGE = 300;
const clip = (s: string): string => (s.length > MAX_MESSAGE ? `${s.slice(0, MAX_MESSAGE - 3)}...` : s);

function isCheckRecord(v: unknown): v is CheckRecord {
  const r = v as Partial<CheckRecord> | null;
  return !!r && typeof r.grade_id === "string" && typeof r.score === "number" && typeof r.max_score === "number" && ["passed", "failed", "error"].includes(String(r.status));
}

/**
 * Instructor mode: the notebook to run — the submission with every locked/graded cell of the source put
 * back by grade_id, in the source's order relative to the cells around it.
 */
export function restoreFromSource(submission: Notebook, source: Notebook): { notebook: Notebook; warnings: string[] } {
  const warnings: string[] = [];
  const nb = cloneNotebook(submission);
  nb.metadata = { ...source.metadata, ...nb.metadata, kernelspec: source.metadata.kernelspec, coursekit: source.metadata.coursekit ?? {} };
  const sourceIds = new Set(source.cells.map(gradeIdOf).filter((id): id is string => id !== undefined));
  // Cells that pretend to be tests the source does not have, and duplicates of real ones, count for nothing.
  const seen = new Set<string>();
  nb.cells.forEach((cell, i) => {
    const id = gradeIdOf(cell);
    if (!id) return;
    const duplicate = seen.has(id);
    seen.add(id);
    if (!duplicate && sourceIds.has(id)) return;
    if (isGraded(cell) || isLocked(cell)) {
      warnings.push(`${cellName(nb, i)} claims to be ${duplicate ? `a second copy of "${id}"` : `"${id}", which is not in the source`}: not counted`);
    }
    delete cell.metadata.nbgrader;
  });
  let anchor = -1; // index in nb.cells after which the next missing cell is inserted
  for (const [k, src] of source.cells.entries()) {
    const id = gradeIdOf(src);
    if (!id) continue;
    const at = nb.cells.findIndex((c) => gradeIdOf(c) === id);
    if (!(isLocked(src) || isGraded(src))) {
      if (at >= 0) {
        // The student's content stays; its role comes from the source (an exercise cannot become a test).
        nb.cells[at].metadata.nbgrader = JSON.parse(JSON.stringify(src.metadata.nbgrader)) as JsonObject;
        anchor = at;
      } else if (isSolution(src)) {
        warnings.push(`exercise cell "${id}" was deleted: it is re-inserted as the student version (stub)`);
        nb.cells.splice(anchor + 1, 0, releaseCell(src, k));
        anchor += 1;
      }
      continue;
    }
    const restored: NbCell = JSON.parse(JSON.stringify(src)) as NbCell;
    if (restored.cell_type === "code") {
      restored.outputs = [];
      restored.execution_count = null;
    }
    if (at < 0) {
      warnings.push(`${isGraded(src) ? "test" : "read-only"} cell "${id}" was deleted: re-inserted from the source`);
      nb.cells.splice(anchor + 1, 0, restored);
      anchor += 1;
      continue;
    }
    const released = releaseCell(src, k);
    const given = nb.cells[at];
    if (cellSource(given) !== cellSource(released) && cellSource(given) !== cellSource(src)) {
      warnings.push(`${isGraded(src) ? "test" : "read-only"} cell "${id}" was edited: restored from the source`);
    }
    nb.cells[at] = restored;
    anchor = at;
  }
  // nbformat 4.5 (what JupyterLab saves) requires an id on every cell, also the re-inserted ones.
  if (nb.nbformat_minor >= 5) for (const c of nb.cells) if (!c.id) c.id = randomUUID().slice(0, 8);
  return { notebook: nb, warnings };
}

/** Student mode: warnings for test cells whose content no longer matches the released checksum. */
function editedTestWarnings(nb: Notebook): string[] {
  return nb.cells.flatMap((cell) => {
    const m = nbgraderMeta(cell);
    if (!m || !(isGraded(cell) || isLocked(cell)) || !m.checksum) return [];
    return nbgraderChecksum(cell) === m.checksum ? [] : [`${isGraded(cell) ? "test" : "read-only"} cell "${m.grade_id}" was edited: your instructor grades with the original, so this result may differ`];
  });
}

/** Warnings for records printed outside their own test cell (they count for nothing). */
function strayRecordWarnings(nb: Notebook, tests: TestSpec[]): string[] {
  const warnings: string[] = [];
  const testIds = new Set(tests.map((t) => t.grade_id));
  nb.cells.forEach((cell, i) => {
    const id = gradeIdOf(cell);
    const records = [...recordsIn<unknown>(cell.outputs, RESULT_MIME), ...recordsIn<unknown>(cell.outputs, OBSERVATIONS_MIME)];
    if (records.length === 0) return;
    if (!id || !isGraded(cell) || !testIds.has(id)) {
      warnings.push(`${cellName(nb, i)} printed ${records.length} verdict record(s) but is not a graded test cell: ignored`);
      return;
    }
    const foreign = records.filter((r) => (r as { grade_id?: unknown } | null)?.grade_id !== id);
    if (foreign.length > 0) warnings.push(`test cell "${id}" printed ${foreign.length} verdict record(s) for another test: ignored`);
  });
  return warnings;
}

/** What every mode does first: a test that did not run, timed out or crashed scores 0. */
function runFailure(base: Omit<TestResult, "score" | "status" | "message">, cell: NbCell | undefined, run: CellRun | undefined): TestResult | undefined {
  if (!cell || !run || run.status === "not_run") return { ...base, score: 0, status: "not_run", message: run?.reason ? `not run: ${run.reason}` : "not run" };
  if (run.status === "timeout") return { ...base, score: 0, status: "timeout", message: `the test did not finish: ${describeLimit(run.limit, cellTimeoutS(cell))} — look for an endless loop or a very slow step` };
  if (run.status === "dead") return { ...base, score: 0, status: "error", message: `the kernel died while running this test${run.limit ? ` (${describeLimit(run.limit, 0)})` : ""}` };
  return undefined;
}

/** Student mode: the verdict check() printed in the cell (it can only fool its own author). */
function scoreByVerdict(test: TestSpec, cell: NbCell, base: Omit<TestResult, "score" | "status" | "message">, warnings: string[]): TestResult {
  const own = recordsIn<unknown>(cell.outputs, RESULT_MIME).filter((r): r is CheckRecord => isCheckRecord(r) && r.grade_id === test.grade_id);
  if (own.length === 0) {
    const why = firstErrorLine(cell.outputs);
    return { ...base, score: 0, status: "error", message: `the test produced no verdict${why ? `: ${why}` : ""}` };
  }
  if (own.length > 1) {
    warnings.push(`test cell "${test.grade_id}" printed ${own.length} verdict records (a forged one?): scored 0`);
    return { ...base, score: 0, status: "error", message: `the test cell printed ${own.length} verdicts for "${test.grade_id}" instead of one: not counted` };
  }
  const r = own[0];
  if (r.max_score !== test.points || !(r.score === 0 || r.score === test.points)) {
    return { ...base, score: 0, status: "error", message: `the verdict claims ${r.score}/${r.max_score} points; this test is worth ${test.points}: not counted` };
  }
  return { ...base, score: r.status === "passed" ? r.score : 0, status: r.status, message: clip(r.message) };
}

/** Instructor mode: the grader compares the cell's observations with the solution's (same seed). */
function scoreByObservations(test: TestSpec, cell: NbCell, base: Omit<TestResult, "score" | "status" | "message">, reference: Reference, warnings: string[]): TestResult {
  const own = recordsIn<unknown>(cell.outputs, OBSERVATIONS_MIME).filter((r) => (r as { grade_id?: unknown } | null)?.grade_id === test.grade_id);
  const hidden = test.visibility === "hidden";
  if (own.length === 0) {
    const why = firstErrorLine(cell.outputs);
    return { ...base, score: 0, status: "error", message: `the test produced no observations${why ? `: ${why}` : ""}` };
  }
  if (own.length > 1) {
    warnings.push(`test cell "${test.grade_id}" printed ${own.length} observation records (a forged one?): scored 0`);
    return { ...base, score: 0, status: "error", message: `the test cell printed ${own.length} observation records for "${test.grade_id}" instead of one: not counted` };
  }
  const got = asObservationRecord(own[0]);
  if (!got) return { ...base, score: 0, status: "error", message: "the test's observation record is malformed: not counted" };
  const want = reference.records.get(test.grade_id);
  if (!want) {
    warnings.push(`the solution produced no observations for "${test.grade_id}" (instructor: npm run grade -- --verify-solutions)`);
    return { ...base, score: 0, status: "error", message: "the solution produced no observations for this test: it could not be graded" };
  }
  const cmp = compareRecords(got, want, { hidden });
  const local = recordsIn<unknown>(cell.outputs, RESULT_MIME).find((r): r is CheckRecord => isCheckRecord(r) && r.grade_id === test.grade_id);
  if (cmp.ok) return { ...base, score: test.points, status: "passed", message: "" };
  if (local?.status === "passed") warnings.push(`test cell "${test.grade_id}" reported "passed" in the kernel, but its observations differ from the solution's: scored by the grader's comparison`);
  // The check's own message carries the instructor's hint; hidden tests show only what the grader found.
  const hint = !hidden && local && local.status !== "passed" ? `${local.message} — ` : "";
  const stopped = got.error && want.observations.some((w) => !got.observations.some((g) => g.name === w.name));
  return { ...base, score: 0, status: stopped ? "error" : "failed", message: clip(`${hint}${cmp.message}`) };
}

function scoreTests(nb: Notebook, tests: TestSpec[], runs: Map<number, CellRun>, mode: GradeMode, stubs: Map<string, string>, warnings: string[], reference?: Reference): TestResult[] {
  warnings.push(...strayRecordWarnings(nb, tests));
  const results: TestResult[] = [];
  for (const test of tests) {
    const index = nb.cells.findIndex((c) => isGraded(c) && gradeIdOf(c) === test.grade_id);
    const cell = nb.cells[index];
    const base = { grade_id: test.grade_id, max_score: test.points, visibility: test.visibility };
    if (mode === "student" && test.visibility === "hidden") {
      results.push({ ...base, score: 0, status: "not_run", message: "hidden test: it runs when your instructor grades this notebook" });
      continue;
    }
    let result = runFailure(base, cell, runs.get(index)) ?? (reference ? scoreByObservations(test, cell, base, reference, warnings) : scoreByVerdict(test, cell, base, warnings));
    const exercise = test.exercise ? nb.cells.find((c) => isSolution(c) && gradeIdOf(c) === test.exercise) : undefined;
    if (result.status !== "passed" && test.exercise && exercise && stubs.get(test.exercise) === cellSource(exercise)) {
      result = { ...result, status: "not_attempted", message: `exercise "${test.exercise}" has not been attempted yet (it is still the stub)` };
    }
    results.push(result);
  }
  return results;
}

function problemsOf(nb: Notebook, runs: CellRun[]): CellProblem[] {
  return runs
    .filter((r) => r.status !== "ok")
    .map((r) => ({ cell: r.index + 1, name: r.name, grade_id: gradeIdOf(nb.cells[r.index]), status: r.status, message: r.reason ?? firstErrorLine(nb.cells[r.index].outputs) }));
}

/** A report for a submission that could not be run at all (wrong format): every test scores 0. */
function failedReport(file: string, mode: GradeMode, tests: TestSpec[], warning: string, root: string, started: number, seed: number, sandboxed: boolean, limits: KernelLimits): GradeReport {
  return {
    notebook: file,
    mode,
    score: 0,
    max_score: tests.reduce((s, t) => s + t.points, 0),
    hidden_max_score: 0,
    tests: tests.map((t) => ({ grade_id: t.grade_id, score: 0, max_score: t.points, status: "not_run" as const, visibility: t.visibility, message: "the notebook could not be graded" })),
    checkpoints: [],
    cell_problems: [],
    warnings: [warning],
    env: envInfo(root, mode),
    seed,
    sandboxed,
    limits,
    duration_ms: Date.now() - started,
  };
}

/** The solution's run of its own tests for one seed: what every submission's observations are compared with. */
export interface Reference {
  seed: number;
  /** The observation record of each test, by grade_id. */
  records: Map<string, ObservationRecord>;
  /** The verdict each test's own assertions gave on the solution (verify-solutions wants them all passed). */
  verdicts: Map<string, CheckRecord>;
  runs: CellRun[];
  warnings: string[];
  /** The executed source. */
  notebook: Notebook;
}

const references = new Map<string, Promise<Reference>>();

/** Runs the source notebook in a fresh kernel (once per source, seed and sandbox in a grading process). */
export function referenceFor(source: Notebook, opts: Pick<GradeOptions, "root" | "onCell" | "timeoutMsFor" | "interruptGraceMs" | "limits"> & { seed: number; sandbox: boolean; cwd: string }): Promise<Reference> {
  const key = createHash("sha256").update(serializeNotebook(source)).update(`\0${opts.seed}\0${opts.sandbox}`).digest("hex");
  let ref = references.get(key);
  if (!ref) {
    ref = (async () => {
      const nb = cloneNotebook(source);
      const { runs, warnings } = await runNotebookCells(nb, {
        root: opts.root,
        cwd: opts.cwd,
        budgetMs: notebookBudgetS(nb) * 1000,
        onCell: opts.onCell,
        timeoutMsFor: opts.timeoutMsFor,
        interruptGraceMs: opts.interruptGraceMs,
        sandbox: opts.sandbox,
        env: { COURSEKIT_GRADING_SEED: String(opts.seed) },
        limits: opts.limits,
      });
      const records = new Map<string, ObservationRecord>();
      const verdicts = new Map<string, CheckRecord>();
      for (const cell of nb.cells.filter(isGraded)) {
        const id = gradeIdOf(cell) as string;
        const rec = recordsIn<unknown>(cell.outputs, OBSERVATIONS_MIME).map(asObservationRecord).find((r) => r?.grade_id === id);
        if (rec) records.set(id, rec);
        const verdict = recordsIn<unknown>(cell.outputs, RESULT_MIME).find((r): r is CheckRecord => isCheckRecord(r) && r.grade_id === id);
        if (verdict) verdicts.set(id, verdict);
      }
      return { seed: opts.seed, records, verdicts, runs, warnings, notebook: nb };
    })();
    references.set(key, ref);
    ref.catch(() => references.delete(key));
  }
  return ref;
}

/** The executed copy handed back: each test cell ends with the grader's verdict; hidden tests show nothing else. */
function feedbackCopy(nb: Notebook, results: TestResult[], mode: GradeMode): Notebook {
  const copy = cloneNotebook(nb);
  const byId = new Map(results.map((r) => [r.grade_id, r]));
  for (const cell of copy.cells) {
    const id = gradeIdOf(cell);
    const result = id && isGraded(cell) ? byId.get(id) : undefined;
    if (!result || cell.cell_type !== "code") continue;
    const line = describeCheck({ grade_id: result.grade_id, score: result.score, max_score: result.max_score, status: result.status === "passed" ? "passed" : result.status === "failed" ? "failed" : "error", message: result.status === "passed" ? "" : `${result.status}: ${result.message}` });
    const verdict: NbOutput = { output_type: "display_data", data: { "text/plain": `grader (${mode} mode): ${line}` }, metadata: {} };
    if (result.visibility === "hidden" && mode === "instructor") {
      cell.source = `// Hidden test "${result.grade_id}" (${result.max_score} point${result.max_score === 1 ? "" : "s"}): its code is not handed back; the grader's verdict is below.`;
      cell.outputs = [verdict];
    } else {
      cell.outputs = [...(cell.outputs ?? []), verdict];
    }
  }
  return copy;
}

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
    return { report: failedReport(file, opts.mode, opts.source ? testSpecs(opts.source) : [], e.message, opts.root, started, seed, sandbox, limits) };
  }
  const warnings: string[] = [];
  if (!sandbox) warnings.push(`the kernel ran without the sandbox (${sandboxUnavailableReason()})`);
  let nb: Notebook;
  let tests: TestSpec[];
  const stubs = new Map<string, string>();
  let reference: Reference | undefined;
  if (opts.mode === "instructor" && opts.source) {
    const restored = restoreFromSource(submission, opts.source);
    nb = restored.notebook;
    warnings.push(...restored.warnings);
    tests = testSpecs(opts.source);
    opts.source.cells.forEach((c, k) => {
      if (isSolution(c)) stubs.set(gradeIdOf(c) as string, cellSource(releaseCell(c, k)));
    });
    reference = await referenceFor(opts.source, { ...opts, seed, sandbox, cwd: path.dirname(path.resolve(opts.sourcePath ?? file)) });
  } else {
    nb = cloneNotebook(submission);
    warnings.push(...editedTestWarnings(nb));
    // A released test cell carries the release's checksum; a cell that only claims to be a test does not.
    nb.cells.forEach((c, i) => {
      if (isGraded(c) && !nbgraderMeta(c)?.checksum) {
        warnings.push(`${cellName(nb, i)} claims to be test "${gradeIdOf(c)}" but was not released as one: not counted`);
        delete c.metadata.nbgrader;
      }
    });
    tests = testSpecs(nb);
    // An exercise cell whose content still matches the release's checksum is the untouched stub.
    for (const c of nb.cells) {
      const m = nbgraderMeta(c);
      if (m && isSolution(c) && m.checksum && nbgraderChecksum(c) === m.checksum) stubs.set(m.grade_id, cellSource(c));
    }
  }
  const { runs, warnings: runWarnings } = await runNotebookCells(nb, {
    root: opts.root,
    cwd: path.dirname(path.resolve(file)),
    budgetMs: notebookBudgetS(nb) * 1000,
    onCell: opts.onCell,
    timeoutMsFor: opts.timeoutMsFor,
    interruptGraceMs: opts.interruptGraceMs,
    lastIndex: opts.stopAfterLastTest ? nb.cells.reduce((last, c, i) => (isGraded(c) ? i : last), -1) : undefined,
    sandbox,
    env: { COURSEKIT_GRADING_SEED: String(seed) },
    limits,
  });
  warnings.push(...runWarnings);
  const byIndex = new Map(runs.map((r) => [r.index, r]));
  const results = scoreTests(nb, tests, byIndex, opts.mode, stubs, warnings, reference);
  const counted = results.filter((r) => !(opts.mode === "student" && r.visibility === "hidden"));
  const checkpoints = nb.cells.flatMap((c) => recordsIn<CheckpointRecord>(c.outputs, CHECKPOINT_MIME));
  const executed = feedbackCopy(nb, results, opts.mode);
  if (opts.executedPath) writeFileAtomic(opts.executedPath, serializeNotebook(executed));
  const report: GradeReport = {
    notebook: file,
    mode: opts.mode,
    score: counted.reduce((s, r) => s + r.score, 0),
    max_score: counted.reduce((s, r) => s + r.max_score, 0),
    hidden_max_score: results.filter((r) => opts.mode === "student" && r.visibility === "hidden").reduce((s, r) => s + r.max_score, 0),
    tests: results,
    checkpoints,
    cell_problems: problemsOf(nb, runs),
    warnings,
    env: envInfo(opts.root, opts.mode),
    seed,
    sandboxed: sandbox,
    limits,
    duration_ms: Date.now() - started,
  };
  return { report, executed };
}

/** Writes a file so that a reader sees the old content or the new, never a part (temp file + rename). */
export function writeFileAtomic(file: string, text: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`);
  try {
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, file);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}
