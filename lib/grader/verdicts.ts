/**
 * The verdicts step of grading: each test's score from the executed notebook.
 *   - a test that did not run, timed out or crashed scores 0 (every mode);
 *   - student mode: the verdict record check() printed in the test's own cell;
 *   - instructor mode: the cell's observations compared with the solution's (the reference, same seed),
 *     and the test's own checks must have held in the kernel (a forged "passed" gains nothing);
 *   - a failing test whose exercise is still the released stub is "not attempted".
 * Records printed anywhere but their own graded cell count for nothing (with a warning).
 */
import { CheckRecord, RESULT_MIME } from "../notebook/grading";
import { OBSERVATIONS_MIME, ObservationRecord } from "../notebook/observe";
import { cellName, cellSource, NbCell, NbOutput, Notebook, outputText } from "../notebook/ipynb";
import { cellTimeoutS, gradeIdOf, isGraded, isSolution, TestSpec } from "./cells";
import { asObservationRecord, compareRecords, Comparison, summarize } from "./observations";
import type { Reference } from "./reference";
import type { ReferenceUse } from "./forbidden-names";
import { CellRun, CellStatus, describeLimit } from "./run-notebook";
import { isCheckRecord, recordsIn } from "./records";

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

/** The first error line a cell wrote to stderr ("Error: Not implemented"), for messages. */
function firstErrorLine(outputs: NbOutput[] | undefined): string {
  const stderr = (outputs ?? [])
    .filter((o) => o.output_type === "stream" && o.name === "stderr")
    .map(outputText)
    .join("");
  const line = stderr.split("\n").find((l) => /^\w*(Error|Exception)\b|error TS\d+/.test(l.trim())) ?? stderr.split("\n").find((l) => l.trim() !== "");
  return (line ?? "").trim().slice(0, 300);
}

const MAX_MESSAGE = 300;
const clip = (s: string): string => (s.length > MAX_MESSAGE ? `${s.slice(0, MAX_MESSAGE - 3)}...` : s);

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
  if (run.status === "timeout")
    return {
      ...base,
      score: 0,
      status: "timeout",
      message: `the test did not finish: ${describeLimit(run.limit, run.limitS ?? cellTimeoutS(cell), run.budgetS)} — look for an endless loop or a very slow step`,
    };
  if (run.status === "dead")
    return { ...base, score: 0, status: "error", message: `the kernel died while running this test${run.limit ? ` (${describeLimit(run.limit, 0)})` : ""}` };
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
  // With parts (t.part) a failed test may keep some points; without, all or nothing.
  const partial = Array.isArray(r.parts) && r.status === "failed";
  const validScore = partial ? Number.isInteger(r.score) && r.score >= 0 && r.score < test.points : r.score === 0 || r.score === test.points;
  if (r.max_score !== test.points || !validScore) {
    return {
      ...base,
      score: 0,
      status: "error",
      message: `the verdict claims ${r.score}/${r.max_score} points; this test is worth ${test.points}: not counted`,
    };
  }
  return { ...base, score: r.status === "passed" || partial ? r.score : 0, status: r.status, message: clip(r.message) };
}

/**
 * Instructor mode, a test in parts (the solution's record lists them): each part scores its points when every
 * value observed in it (and every value observed outside the parts) equals the solution's and its own checks
 * held in the kernel. A test that stopped outside its parts scores 0.
 */
function scoreParts(
  test: TestSpec,
  base: Omit<TestResult, "score" | "status" | "message">,
  got: ObservationRecord,
  want: ObservationRecord,
  cmp: Comparison,
  locals: CheckRecord[],
  hint: string,
): TestResult {
  const hidden = test.visibility === "hidden";
  const parts = want.parts ?? [];
  const commonFailures = want.observations.filter((w) => w.part === undefined && cmp.failures.has(w.name)).map((w) => cmp.failures.get(w.name) as string);
  const wholeFailure = locals.find((r) => r.status !== "passed" && !Array.isArray(r.parts));
  if (commonFailures.length > 0 || got.error || wholeFailure) {
    const why =
      commonFailures.length > 0
        ? summarize(commonFailures)
        : hidden
          ? "the hidden test stopped before its parts were done"
          : (wholeFailure?.message ?? `the test stopped: ${got.error}`);
    return { ...base, score: 0, status: got.error || wholeFailure?.status === "error" ? "error" : "failed", message: clip(`${hint}${why}`) };
  }
  const lost: string[] = [];
  let score = 0;
  for (const part of parts) {
    const differ = want.observations.filter((w) => w.part === part.name && cmp.failures.has(w.name)).map((w) => cmp.failures.get(w.name) as string);
    const local = locals.flatMap((r) => r.parts ?? []).find((p) => p && p.name === part.name && p.status !== "passed");
    if (differ.length === 0 && !local) {
      score += part.points;
      continue;
    }
    const why = differ.length > 0 ? summarize(differ) : hidden ? "one of its own checks did not hold" : `its own check: ${local?.message ?? ""}`;
    lost.push(`part "${part.name}" (${part.points} pt${part.points === 1 ? "" : "s"}): ${why}`);
  }
  if (lost.length === 0) return { ...base, score: test.points, status: "passed", message: "" };
  return { ...base, score, status: "failed", message: clip(`${hint}${lost.join("; ")}`) };
}

/** Instructor mode: the grader compares the cell's observations with the solution's (same seed). */
function scoreByObservations(
  test: TestSpec,
  cell: NbCell,
  base: Omit<TestResult, "score" | "status" | "message">,
  reference: Reference,
  warnings: string[],
): TestResult {
  const own = recordsIn<unknown>(cell.outputs, OBSERVATIONS_MIME).filter((r) => (r as { grade_id?: unknown } | null)?.grade_id === test.grade_id);
  const hidden = test.visibility === "hidden";
  if (own.length === 0) {
    const why = firstErrorLine(cell.outputs);
    return { ...base, score: 0, status: "error", message: `the test produced no observations${why ? `: ${why}` : ""}` };
  }
  if (own.length > 1) {
    warnings.push(`test cell "${test.grade_id}" printed ${own.length} observation records (a forged one?): scored 0`);
    return {
      ...base,
      score: 0,
      status: "error",
      message: `the test cell printed ${own.length} observation records for "${test.grade_id}" instead of one: not counted`,
    };
  }
  const got = asObservationRecord(own[0]);
  if (!got) return { ...base, score: 0, status: "error", message: "the test's observation record is malformed: not counted" };
  const want = reference.records.get(test.grade_id);
  if (!want) {
    warnings.push(`the solution produced no observations for "${test.grade_id}" (instructor: npm run grade -- --verify-solutions)`);
    return { ...base, score: 0, status: "error", message: "the solution produced no observations for this test: it could not be graded" };
  }
  const cmp = compareRecords(got, want, { hidden });
  const locals = recordsIn<unknown>(cell.outputs, RESULT_MIME).filter((r): r is CheckRecord => isCheckRecord(r) && r.grade_id === test.grade_id);
  const local = locals[0];
  if (want.parts && want.parts.length > 0) {
    // The instructor's hint (the check's `failure` option) leads a public test's message.
    const hint = !hidden && local && local.status !== "passed" && typeof local.hint === "string" && local.hint ? `${local.hint} — ` : "";
    return scoreParts(test, base, got, want, cmp, locals, hint);
  }
  if (cmp.ok) {
    // The test's own checks (hand-computed cases the observations may not cover) failed in the kernel: the
    // student saw ✘, and the grader does not turn it into a pass. (A forged "passed" gains nothing: the
    // observations must still equal the solution's.)
    const failed = locals.find((r) => r.status !== "passed");
    if (failed) {
      const why = hidden ? "one of the hidden test's own checks did not hold" : failed.message || "the test's own checks did not hold";
      return { ...base, score: 0, status: failed.status, message: clip(`${why} (the observed values match the solution's)`) };
    }
    return { ...base, score: test.points, status: "passed", message: "" };
  }
  if (local?.status === "passed")
    warnings.push(
      `test cell "${test.grade_id}" reported "passed" in the kernel, but its observations differ from the solution's: scored by the grader's comparison`,
    );
  // The check's own message carries the instructor's hint; hidden tests show only what the grader found.
  const hint = !hidden && local && local.status !== "passed" ? `${local.message} — ` : "";
  const stopped = got.error && want.observations.some((w) => !got.observations.some((g) => g.name === w.name));
  return { ...base, score: 0, status: stopped ? "error" : "failed", message: clip(`${hint}${cmp.message}`) };
}

/** What scoring an executed notebook needs besides the notebook. */
export interface ScoreInputs {
  tests: TestSpec[];
  /** Each cell's run, by cell index. */
  runs: Map<number, CellRun>;
  mode: GradeMode;
  /** Each exercise's released stub, by grade_id (an exercise still equal to it is "not attempted"). */
  stubs: Map<string, string>;
  /** Instructor mode: the solution's run, whose observations the tests are compared with. */
  reference?: Reference;
}

/** Every test's result, in the order of `tests`, and warnings about stray or forged records. */
export function scoreTests(nb: Notebook, { tests, runs, mode, stubs, reference }: ScoreInputs): { results: TestResult[]; warnings: string[] } {
  const warnings = strayRecordWarnings(nb, tests);
  const results: TestResult[] = [];
  for (const test of tests) {
    const index = nb.cells.findIndex((c) => isGraded(c) && gradeIdOf(c) === test.grade_id);
    const cell = nb.cells[index];
    const base = { grade_id: test.grade_id, max_score: test.points, visibility: test.visibility };
    if (mode === "student" && test.visibility === "hidden") {
      results.push({ ...base, score: 0, status: "not_run", message: "hidden test: it runs when your instructor grades this notebook" });
      continue;
    }
    let result =
      runFailure(base, cell, runs.get(index)) ??
      (reference ? scoreByObservations(test, cell, base, reference, warnings) : scoreByVerdict(test, cell, base, warnings));
    const exercise = test.exercise ? nb.cells.find((c) => isSolution(c) && gradeIdOf(c) === test.exercise) : undefined;
    if (result.status !== "passed" && test.exercise && exercise && stubs.get(test.exercise) === cellSource(exercise)) {
      result = { ...result, status: "not_attempted", message: `exercise "${test.exercise}" has not been attempted yet (it is still the stub)` };
    }
    results.push(result);
  }
  return { results, warnings };
}

/** The cells that did not finish cleanly, for the report. */
export function problemsOf(nb: Notebook, runs: CellRun[]): CellProblem[] {
  return runs
    .filter((r) => r.status !== "ok")
    .map((r) => ({
      cell: r.index + 1,
      name: r.name,
      grade_id: gradeIdOf(nb.cells[r.index]),
      status: r.status,
      message: r.reason ?? firstErrorLine(nb.cells[r.index].outputs),
    }));
}

/**
 * An exercise whose code uses the library code it asks the student to write (forbidden-names.ts): its tests score 0,
 * with a message that names what was used and where, and one warning per use.
 */
export function withoutReferenceUses(results: TestResult[], tests: TestSpec[], uses: ReferenceUse[], warnings: string[]): TestResult[] {
  for (const u of uses) warnings.push(`${u.where} uses ${u.what}, which exercise "${u.exercise}" asks you to write yourself: its tests score 0`);
  return results.map((r, i) => {
    const exercise = tests[i]?.exercise;
    const used = uses.filter((u) => u.exercise === exercise);
    if (!exercise || used.length === 0) return r;
    const what = [...new Set(used.map((u) => `${u.what} (${u.where})`))].join(", ");
    return {
      ...r,
      score: 0,
      status: "error",
      message: clip(`exercise "${exercise}" uses ${what}: this exercise asks you to write that yourself, so its tests count 0`),
    };
  });
}

/** What a public test says when the student's notebook passed it and the graded run did not. */
export const PASSED_ONLY_IN_NOTEBOOK =
  "it passed when your notebook ran, but not in the graded run, which runs only your own code (the exercises and the cells you added), the setup cell and the tests: does your code use a variable that a demo cell made, or the library code this exercise asks you to write?";

/**
 * Instructor mode in two runs: the score of each test from the verdict run, the words from the feedback run.
 * Text the verdict run's kernel produced (error lines, observed values, its checks' messages) never reaches
 * the report: that kernel held the hidden tests, so it could have put their code there. A public test's
 * message is the one its feedback run gave (a kernel without hidden tests); a hidden test's says only what
 * the grader found, in words of its own or the solution's.
 */
export function mergeVerdicts(verdicts: TestResult[], feedback: TestResult[]): TestResult[] {
  return verdicts.map((v, i) => {
    const f = feedback[i];
    if (v.status === "passed") return { ...v, message: "" };
    if (v.visibility === "hidden") return { ...v, message: hiddenMessage(v) };
    if (f?.grade_id === v.grade_id && f.status === "passed") return { ...v, message: PASSED_ONLY_IN_NOTEBOOK };
    return { ...v, message: f?.grade_id === v.grade_id ? f.message : v.status };
  });
}

/** A hidden test's message, keeping only what does not come from the kernel's own output. */
function hiddenMessage(r: TestResult): string {
  if (r.status === "not_attempted" || r.status === "timeout" || r.status === "not_run") return r.message;
  if (/^the test produced no observations/.test(r.message)) return "the hidden test stopped before it recorded anything";
  if (/differs from the solution's|hidden test|the kernel died|not counted|could not be graded/.test(r.message)) return r.message;
  return r.status === "failed" ? "the hidden test's observations differ from the solution's" : "the hidden test did not complete";
}
