/**
 * Graded test cells (solutions/README.md): under tslab a cell that prints no error proves nothing, so
 * every graded cell calls `check(...)`, which runs the test, catches everything, and emits one output with
 *   - the local verdict (RESULT_MIME): what the student's own notebook shows, and what grading in student
 *     mode counts (it can only fool its own author);
 *   - the observations (OBSERVATIONS_MIME, lib/notebook/observe.ts): the values the student's code produced
 *     on seeded inputs. When the instructor grades, only these count: the grader compares them, outside the
 *     student's kernel, with what the solution produces on the same seed;
 *   - a readable line.
 *
 *   await check("lora-forward", 2, (t) => {
 *     const y = t.observe("output", forward(t.normal([2, 8])), { atol: 1e-5 });
 *     assert.equal(...);
 *   }, { failure: "Did you scale by alpha / r?" });
 */
import { failureStatus, ObservationRecord, OBSERVATIONS_MIME, oneLine, PartRecord, TestContext } from "./observe";
import { notebookDisplayBundle } from "./tslab";

export const RESULT_MIME = "application/vnd.coursekit.result+json";

export type CheckStatus = "passed" | "failed" | "error";

export interface CheckRecord {
  grade_id: string;
  score: number;
  max_score: number;
  /** passed; failed (an assertion did not hold); error (the test itself crashed, e.g. a stub threw). */
  status: CheckStatus;
  /** The instructor's hint first, then what went wrong. Empty when passed. */
  message: string;
  /**
   * The test's parts (t.part), each with its points and outcome; the score is the sum of the passed ones.
   * Absent when the test has no parts, or when it stopped outside them (then it scores 0 as a whole).
   */
  parts?: PartRecord[];
  /** The instructor's hint (the check's `failure` option), when the check did not pass. */
  hint?: string;
}

/** A graded test: runs the student's code on seeded inputs, observes what it produced, asserts for feedback. */
export type TestFn = (t: TestContext) => void | Promise<void>;

export interface CheckOptions {
  /** Shown to the student when the check does not pass (before any error text). */
  failure?: string;
}

/** The readable one-line summary of a record. */
export function describeCheck(r: CheckRecord): string {
  const mark = r.status === "passed" ? "✔" : "✘";
  const head = `${mark} ${r.grade_id}: ${r.score}/${r.max_score} point${r.max_score === 1 ? "" : "s"}`;
  return r.status === "passed" ? head : `${head} — ${r.status}: ${r.message}`;
}

/**
 * Runs `fn` (sync or async) and returns the verdict without showing it: full points if it returns without
 * throwing, 0 otherwise; with parts (t.part), the points of the parts that passed. Never throws for a
 * failing test.
 */
export async function runCheck(gradeId: string, points: number, fn: TestFn, opts: CheckOptions = {}, context = new TestContext(gradeId)): Promise<CheckRecord> {
  if (!gradeId) throw new Error("check: a grade_id is required (it must match the cell's nbgrader grade_id)");
  if (!(points >= 0)) throw new Error(`check("${gradeId}"): points must be a number ≥ 0, got ${points}`);
  const fail = (status: CheckStatus, detail: string): CheckRecord => ({
    grade_id: gradeId,
    score: 0,
    max_score: points,
    status,
    message: [opts.failure, detail].filter((m) => m && m.length > 0).join(" — "),
    ...(opts.failure ? { hint: opts.failure } : {}),
  });
  try {
    await fn(context);
  } catch (e) {
    return fail(failureStatus(e), oneLine(e));
  }
  const parts = context.parts;
  if (parts.length === 0) return { grade_id: gradeId, score: points, max_score: points, status: "passed", message: "" };
  const total = parts.reduce((sum, p) => sum + p.points, 0);
  if (total !== points) return fail("error", `the test's parts are worth ${total} points in all, the test ${points} (a mistake in the test)`);
  const lost = parts.filter((p) => p.status !== "passed");
  const score = points - lost.reduce((sum, p) => sum + p.points, 0);
  if (lost.length === 0) return { grade_id: gradeId, score, max_score: points, status: "passed", message: "", parts: parts.slice() };
  const detail = lost
    .map((p) => `part "${p.name}" (${p.points} pt${p.points === 1 ? "" : "s"}) ${p.status === "failed" ? "failed" : "stopped"}: ${p.message}`)
    .join("; ");
  const record = fail(lost.every((p) => p.status === "error") && score === 0 ? "error" : "failed", detail);
  return { ...record, score, parts: parts.slice() };
}

/**
 * Runs the test (runCheck) and reads what it observed: the verdict and the observation record, which says the
 * test stopped when it crashed outside its parts. What check() prints, without printing it.
 */
export async function runObserved(
  gradeId: string,
  points: number,
  fn: TestFn,
  opts: CheckOptions = {},
  context = new TestContext(gradeId),
): Promise<{ record: CheckRecord; observations: ObservationRecord }> {
  const record = await runCheck(gradeId, points, fn, opts, context);
  const stopped = record.status === "error" && !record.parts;
  return { record, observations: await context.finish(stopped ? record.message : undefined) };
}

/**
 * What a graded test cell calls: runs the test and shows its verdict — in a notebook as one output holding
 * the record (RESULT_MIME, what the autograder counts) and the readable line; elsewhere as the line.
 * Returns nothing, so the cell prints nothing else. Never throws for a failing test, so the cells after it
 * still run.
 */
export async function check(gradeId: string, points: number, fn: TestFn, opts: CheckOptions = {}): Promise<void> {
  const { record, observations } = await runObserved(gradeId, points, fn, opts);
  const line = describeCheck(record);
  if (!notebookDisplayBundle({ [RESULT_MIME]: record, [OBSERVATIONS_MIME]: observations, "text/plain": line })) console.log(line);
}
