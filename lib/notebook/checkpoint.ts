/**
 * Self-check for the lecture's checkpoint questions (solutions/README.md): numeric and multiple-choice
 * questions the student answers in a cell and checks at once. Not graded. The expected answer is stored only
 * as a hash, so the notebook does not print it next to the question:
 *
 *   checkpoint("lora-768", () => {
 *     // ### BEGIN SOLUTION
 *     return 2 * 768 * 8;
 *     // ### END SOLUTION
 *   }, "5f1c…");               // the hash: checkpointHash("lora-768", 12288)  (npm run checkpoint-hash)
 *
 * Whole numbers are compared exactly (12288 ≠ 12290); other numbers to 3 significant digits (so 28 and
 * 27.98 are the same answer); text answers ignore case and surrounding spaces ("B" = "b").
 *
 * A numeric question can declare its tolerance instead (`{ tolerance: 0.05 }`, the same in the hash): an
 * answer within ±tolerance of the expected one is accepted, one further than 1.25·tolerance is not. The hash
 * is then of the answer's index on a grid of tolerance/4, and the student's answer is checked against the
 * nine grid points around it, so the expected value still never appears in the notebook.
 */
import { createHash } from "node:crypto";
import { notebookDisplayBundle } from "./tslab";

export const CHECKPOINT_MIME = "application/vnd.coursekit.checkpoint+json";

export type CheckpointAnswer = number | string;

export interface CheckpointRecord {
  id: string;
  /** correct; incorrect; unanswered (the answer function threw, e.g. the stub's "Not implemented"). */
  status: "correct" | "incorrect" | "unanswered";
  message: string;
}

/** The canonical text of an answer: whole numbers as they are, others to 3 significant digits, text trimmed and lower-cased. */
export function normalizeAnswer(answer: CheckpointAnswer, significantDigits = 3): string {
  if (typeof answer === "number") {
    if (!Number.isFinite(answer)) throw new Error(`checkpoint answer must be a finite number, got ${answer}`);
    if (Number.isInteger(answer)) return answer.toString();
    return Number(answer.toPrecision(significantDigits)).toString();
  }
  return answer.trim().toLowerCase().replace(/\s+/g, " ");
}

export interface CheckpointOptions {
  /** Accept numeric answers within ±tolerance (absolute) of the expected one; the hash must be made with it. */
  tolerance?: number;
}

/** Grid points per tolerance: an answer is accepted within `GRID` points of the expected one's. */
const GRID = 4;

function checkTolerance(tolerance: number): void {
  if (!(Number.isFinite(tolerance) && tolerance > 0)) throw new Error(`checkpoint tolerance must be a number > 0, got ${tolerance}`);
}

const sha = (text: string): string => createHash("sha256").update(text).digest("hex").slice(0, 16);

/** Where a numeric answer falls on the tolerance's grid (tolerance / 4 apart). */
function gridIndex(answer: number, tolerance: number): number {
  if (!Number.isFinite(answer)) throw new Error(`checkpoint answer must be a finite number, got ${answer}`);
  return Math.round(answer / (tolerance / GRID));
}

const gridHash = (id: string, tolerance: number, index: number): string => sha(`${id}:±${tolerance}:${index}`);

/**
 * The hash a checkpoint cell stores for its expected answer (sha256 of "id:normalized", first 16 hex; with a
 * tolerance, of "id:±tolerance:grid index").
 */
export function checkpointHash(id: string, answer: CheckpointAnswer, opts: CheckpointOptions = {}): string {
  if (opts.tolerance === undefined) return sha(`${id}:${normalizeAnswer(answer)}`);
  checkTolerance(opts.tolerance);
  if (typeof answer !== "number") throw new Error(`a checkpoint with a tolerance takes a number, got ${JSON.stringify(answer)}`);
  return gridHash(id, opts.tolerance, gridIndex(answer, opts.tolerance));
}

/** Whether `answer` matches the stored hash (within the declared tolerance, if any). */
function matches(id: string, answer: CheckpointAnswer, expectedHash: string, opts: CheckpointOptions): boolean {
  if (opts.tolerance === undefined) return checkpointHash(id, answer) === expectedHash;
  if (typeof answer !== "number") return false;
  const tolerance = opts.tolerance;
  const k = gridIndex(answer, tolerance);
  for (let d = -GRID; d <= GRID; d++) if (gridHash(id, tolerance, k + d) === expectedHash) return true;
  return false;
}

/** Evaluates the student's answer against the stored hash without showing anything. */
export async function evaluateCheckpoint(
  id: string,
  answer: () => CheckpointAnswer | Promise<CheckpointAnswer>,
  expectedHash: string,
  opts: CheckpointOptions = {},
): Promise<CheckpointRecord> {
  if (opts.tolerance !== undefined) checkTolerance(opts.tolerance);
  let value: CheckpointAnswer;
  try {
    value = await answer();
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    return { id, status: "unanswered", message: `not answered yet (${why})` };
  }
  if (typeof value !== "number" && typeof value !== "string") {
    return { id, status: "incorrect", message: `the answer must be a number or a short text, got ${typeof value}` };
  }
  let normalized: string;
  try {
    normalized = normalizeAnswer(value);
  } catch (e) {
    return { id, status: "incorrect", message: e instanceof Error ? e.message : String(e) };
  }
  if (opts.tolerance !== undefined && typeof value !== "number") {
    return { id, status: "incorrect", message: `the answer must be a number, got ${JSON.stringify(value)}` };
  }
  const shown = opts.tolerance !== undefined ? String(value) : normalized;
  return matches(id, value, expectedHash, opts)
    ? { id, status: "correct", message: `${shown} is right${opts.tolerance !== undefined ? ` (within ±${opts.tolerance})` : ""}` }
    : { id, status: "incorrect", message: `${shown} is not it yet — re-read the section and try again` };
}

/** What a checkpoint cell calls: checks the answer and shows one line (plus a record the grader can read). */
export async function checkpoint(
  id: string,
  answer: () => CheckpointAnswer | Promise<CheckpointAnswer>,
  expectedHash: string,
  opts: CheckpointOptions = {},
): Promise<void> {
  const record = await evaluateCheckpoint(id, answer, expectedHash, opts);
  const mark = record.status === "correct" ? "✔" : record.status === "unanswered" ? "…" : "✘";
  const line = `${mark} checkpoint ${id}: ${record.message}`;
  if (!notebookDisplayBundle({ [CHECKPOINT_MIME]: record, "text/plain": line })) console.log(line);
}
