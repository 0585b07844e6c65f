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

/** The hash a checkpoint cell stores for its expected answer (sha256 of "id:normalized", first 16 hex). */
export function checkpointHash(id: string, answer: CheckpointAnswer): string {
  return createHash("sha256")
    .update(`${id}:${normalizeAnswer(answer)}`)
    .digest("hex")
    .slice(0, 16);
}

/** Evaluates the student's answer against the stored hash without showing anything. */
export async function evaluateCheckpoint(
  id: string,
  answer: () => CheckpointAnswer | Promise<CheckpointAnswer>,
  expectedHash: string,
): Promise<CheckpointRecord> {
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
  return checkpointHash(id, value) === expectedHash
    ? { id, status: "correct", message: `${normalized} is right` }
    : { id, status: "incorrect", message: `${normalized} is not it yet — re-read the section and try again` };
}

/** What a checkpoint cell calls: checks the answer and shows one line (plus a record the grader can read). */
export async function checkpoint(id: string, answer: () => CheckpointAnswer | Promise<CheckpointAnswer>, expectedHash: string): Promise<void> {
  const record = await evaluateCheckpoint(id, answer, expectedHash);
  const mark = record.status === "correct" ? "✔" : record.status === "unanswered" ? "…" : "✘";
  const line = `${mark} checkpoint ${id}: ${record.message}`;
  if (!notebookDisplayBundle({ [CHECKPOINT_MIME]: record, "text/plain": line })) console.log(line);
}
