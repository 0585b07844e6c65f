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
import { OBSERVATIONS_MIME, TestContext } from "./observe";
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
}

/** A graded test: runs the student's code on seeded inputs, observes what it produced, asserts for feedback. */
export type TestFn = (t: TestContext) => void | Promise<void>;

export interface CheckOptions {
  /** Shown to the student when the check does not pass (before any error text). */
  failure?: string;
}

function isAssertionFailure(e: unknown): boolean {
  const name = (e as { name?: string; code?: string })?.name ?? "";
  return name === "AssertionError" || (e as { code?: string })?.code === "ERR_ASSERTION";
}

/** The readable one-line summary of a record. */
export function describeCheck(r: CheckRecord): string {
  const mark = r.status === "passed" ? "✔" : "✘";
  const head = `${mark} ${r.grade_id}: ${r.score}/${r.max_score} point${r.max_score === 1 ? "" : "s"}`;
  return r.status === "passed" ? head : `${head} — ${r.status}: ${r.message}`;
}

/** The error's message on one line (node's assert puts the values on later lines), at most 300 characters. */
function oneLine(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  const joined = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.length > 0)
    .join(" ");
  return joined.length > 300 ? `${joined.slice(0, 297)}...` : joined;
}

/**
 * Runs `fn` (sync or async) and returns the verdict without showing it: full points if it returns without
 * throwing, 0 otherwise. Never throws for a failing test.
 */
export async function runCheck(gradeId: string, points: number, fn: TestFn, opts: CheckOptions = {}, context = new TestContext(gradeId)): Promise<CheckRecord> {
  if (!gradeId) throw new Error("check: a grade_id is required (it must match the cell's nbgrader grade_id)");
  if (!(points >= 0)) throw new Error(`check("${gradeId}"): points must be a number ≥ 0, got ${points}`);
  let record: CheckRecord;
  try {
    await fn(context);
    record = { grade_id: gradeId, score: points, max_score: points, status: "passed", message: "" };
  } catch (e) {
    const detail = oneLine(e);
    const message = [opts.failure, detail].filter((m) => m && m.length > 0).join(" — ");
    record = { grade_id: gradeId, score: 0, max_score: points, status: isAssertionFailure(e) ? "failed" : "error", message };
  }
  return record;
}

/**
 * What a graded test cell calls: runs the test and shows its verdict — in a notebook as one output holding
 * the record (RESULT_MIME, what the autograder counts) and the readable line; elsewhere as the line.
 * Returns nothing, so the cell prints nothing else. Never throws for a failing test, so the cells after it
 * still run.
 */
export async function check(gradeId: string, points: number, fn: TestFn, opts: CheckOptions = {}): Promise<void> {
  const context = new TestContext(gradeId);
  const record = await runCheck(gradeId, points, fn, opts, context);
  const observations = await context.finish(record.status === "error" ? record.message : undefined);
  const line = describeCheck(record);
  if (!notebookDisplayBundle({ [RESULT_MIME]: record, [OBSERVATIONS_MIME]: observations, "text/plain": line })) console.log(line);
}
