/**
 * Grading one notebook (shared/notebook-spec.md), in two modes:
 *   - student: runs the notebook as it is, counts the public tests, warns about edited test cells and
 *     reports hidden tests as "runs when your instructor grades";
 *   - instructor: first restores every locked and graded cell from the source by grade_id (re-inserting
 *     deleted ones, overwriting edited ones, each with a warning), hidden tests included, then runs it.
 * Points come only from verdict records (lib/notebook/grading.ts): one record, with the cell's own grade_id
 * and points, in the outputs of the graded cell itself. Records printed anywhere else are ignored (with a
 * warning); a missing record, a timeout, or a crash scores 0.
 */
import { randomUUID } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { CHECKPOINT_MIME, CheckpointRecord } from "../notebook/checkpoint";
import { CheckRecord, RESULT_MIME } from "../notebook/grading";
import { cellSource, cloneNotebook, JsonObject, NbCell, NbOutput, Notebook, NotebookFormatError, outputText, readNotebook, writeNotebook } from "../notebook/ipynb";
import { cellTimeoutS, gradeIdOf, isGraded, isLocked, isSolution, KERNEL_NAME, nbgraderChecksum, nbgraderMeta, notebookBudgetS, TestSpec, testSpecs } from "./cells";
import { releaseCell } from "./release";
import { CellRun, CellStatus, runNotebookCells } from "./run-notebook";

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
  cell: number;
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
      warnings.push(`cell ${i + 1} claims to be ${duplicate ? `a second copy of "${id}"` : `"${id}", which is not in the source`}: not counted`);
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

function scoreTests(nb: Notebook, tests: TestSpec[], runs: Map<number, CellRun>, mode: GradeMode, stubs: Map<string, string>, warnings: string[]): TestResult[] {
  const results: TestResult[] = [];
  const testIds = new Set(tests.map((t) => t.grade_id));
  nb.cells.forEach((cell, i) => {
    const id = gradeIdOf(cell);
    const records = recordsIn<unknown>(cell.outputs, RESULT_MIME);
    if (records.length === 0) return;
    if (!id || !isGraded(cell) || !testIds.has(id)) {
      warnings.push(`cell ${i + 1} printed ${records.length} verdict record(s) but is not a graded test cell: ignored`);
      return;
    }
    const foreign = records.filter((r) => !isCheckRecord(r) || r.grade_id !== id);
    if (foreign.length > 0) warnings.push(`test cell "${id}" printed ${foreign.length} verdict record(s) for another test: ignored`);
  });
  for (const test of tests) {
    const index = nb.cells.findIndex((c) => isGraded(c) && gradeIdOf(c) === test.grade_id);
    const cell = nb.cells[index];
    const base = { grade_id: test.grade_id, max_score: test.points, visibility: test.visibility };
    if (mode === "student" && test.visibility === "hidden") {
      results.push({ ...base, score: 0, status: "not_run", message: "hidden test: it runs when your instructor grades this notebook" });
      continue;
    }
    const run = runs.get(index);
    const own = recordsIn<unknown>(cell?.outputs, RESULT_MIME).filter((r): r is CheckRecord => isCheckRecord(r) && r.grade_id === test.grade_id);
    let result: TestResult;
    if (!cell || !run || run.status === "not_run") {
      result = { ...base, score: 0, status: "not_run", message: run?.reason ? `not run: ${run.reason}` : "not run" };
    } else if (run.status === "timeout") {
      result = { ...base, score: 0, status: "timeout", message: `the test did not finish within its time limit (${cellTimeoutS(cell)} s) — look for an endless loop or a very slow step` };
    } else if (run.status === "dead") {
      result = { ...base, score: 0, status: "error", message: "the kernel died while running this test" };
    } else if (own.length === 0) {
      const why = firstErrorLine(cell.outputs);
      result = { ...base, score: 0, status: "error", message: `the test produced no verdict${why ? `: ${why}` : ""}` };
    } else if (own.length > 1) {
      result = { ...base, score: 0, status: "error", message: `the test cell printed ${own.length} verdicts for "${test.grade_id}" instead of one: not counted` };
      warnings.push(`test cell "${test.grade_id}" printed ${own.length} verdict records (a forged one?): scored 0`);
    } else {
      const r = own[0];
      if (r.max_score !== test.points || !(r.score === 0 || r.score === test.points)) {
        result = { ...base, score: 0, status: "error", message: `the verdict claims ${r.score}/${r.max_score} points; this test is worth ${test.points}: not counted` };
      } else {
        result = { ...base, score: r.status === "passed" ? r.score : 0, status: r.status, message: r.message };
      }
    }
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
    .map((r) => ({ cell: r.index + 1, grade_id: gradeIdOf(nb.cells[r.index]), status: r.status, message: r.reason ?? firstErrorLine(nb.cells[r.index].outputs) }));
}

/** A report for a submission that could not be run at all (wrong format): every test scores 0. */
function failedReport(file: string, mode: GradeMode, tests: TestSpec[], warning: string, root: string, started: number): GradeReport {
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
    duration_ms: Date.now() - started,
  };
}

/** Grades one notebook file. Never throws for anything in the submission; the report says what happened. */
export async function gradeNotebook(file: string, opts: GradeOptions): Promise<{ report: GradeReport; executed?: Notebook }> {
  const started = Date.now();
  if (opts.mode === "instructor" && !opts.source) throw new Error("instructor mode needs the source notebook (--source)");
  let submission: Notebook;
  try {
    submission = readNotebook(file);
    const kernel = (submission.metadata.kernelspec as JsonObject | undefined)?.name;
    if (opts.mode === "student" && kernel !== KERNEL_NAME) {
      throw new NotebookFormatError(file, `is not a course notebook (its kernel is ${JSON.stringify(kernel ?? null)}, not "${KERNEL_NAME}")`);
    }
  } catch (e) {
    if (!(e instanceof NotebookFormatError)) throw e;
    return { report: failedReport(file, opts.mode, opts.source ? testSpecs(opts.source) : [], e.message, opts.root, started) };
  }
  const warnings: string[] = [];
  let nb: Notebook;
  let tests: TestSpec[];
  const stubs = new Map<string, string>();
  if (opts.mode === "instructor" && opts.source) {
    const restored = restoreFromSource(submission, opts.source);
    nb = restored.notebook;
    warnings.push(...restored.warnings);
    tests = testSpecs(opts.source);
    opts.source.cells.forEach((c, k) => {
      if (isSolution(c)) stubs.set(gradeIdOf(c) as string, cellSource(releaseCell(c, k)));
    });
  } else {
    nb = cloneNotebook(submission);
    warnings.push(...editedTestWarnings(nb));
    // A released test cell carries the release's checksum; a cell that only claims to be a test does not.
    nb.cells.forEach((c, i) => {
      if (isGraded(c) && !nbgraderMeta(c)?.checksum) {
        warnings.push(`cell ${i + 1} claims to be test "${gradeIdOf(c)}" but was not released as one: not counted`);
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
  });
  warnings.push(...runWarnings);
  const byIndex = new Map(runs.map((r) => [r.index, r]));
  const results = scoreTests(nb, tests, byIndex, opts.mode, stubs, warnings);
  const counted = results.filter((r) => !(opts.mode === "student" && r.visibility === "hidden"));
  const checkpoints = nb.cells.flatMap((c) => recordsIn<CheckpointRecord>(c.outputs, CHECKPOINT_MIME));
  if (opts.executedPath) {
    fs.mkdirSync(path.dirname(opts.executedPath), { recursive: true });
    writeNotebook(opts.executedPath, nb);
  }
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
    duration_ms: Date.now() - started,
  };
  return { report, executed: nb };
}
