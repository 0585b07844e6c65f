/**
 * The records a kernel printed into a notebook's outputs, found by their MIME type: verdicts
 * (`application/vnd.coursekit.result+json`), observations, checkpoints. Read by the reference run, the
 * grading and the verification alike.
 */
import type { CheckRecord } from "../notebook/grading";
import type { NbOutput } from "../notebook/ipynb";

/** Every record of one MIME type in a cell's outputs, in order. */
export function recordsIn<T>(outputs: NbOutput[] | undefined, mime: string): T[] {
  return (outputs ?? []).flatMap((o) => (o.data && o.data[mime] !== undefined ? [o.data[mime] as unknown as T] : []));
}

/** Is this a verdict record as check() prints it (whatever printed it)? */
export function isCheckRecord(v: unknown): v is CheckRecord {
  const r = v as Partial<CheckRecord> | null;
  return (
    !!r &&
    typeof r.grade_id === "string" &&
    typeof r.score === "number" &&
    typeof r.max_score === "number" &&
    ["passed", "failed", "error"].includes(String(r.status))
  );
}
