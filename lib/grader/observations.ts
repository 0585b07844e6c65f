/**
 * The grader's own comparison (instructor mode): the observations a test cell recorded in the student's
 * kernel against those the same test recorded on the solution, same seed, in a separate kernel
 * (lib/notebook/observe.ts). This runs in the grader's process; the tolerances are the solution's.
 *
 * Rules: every observation of the solution must be there with the same name and an equal value; two
 * whole numbers (counts, sizes) exactly unless the test declares a tolerance; other numbers and tensor
 * values within atol + rtol·|want|; tensors need the same shape (dtype: float vs int is not held against
 * anyone); arrays the same length (as multisets with `unordered`); objects need the solution's keys (an
 * extra key is fine); strings and booleans exactly.
 */
import type { Encoded, Observation, ObservationRecord, Tolerance } from "../notebook/observe";

export const DEFAULT_ATOL = 1e-5;
export const DEFAULT_RTOL = 1e-4;

export interface Comparison {
  ok: boolean;
  /** What differs, for the report ("" when ok). Expected values are left out for hidden tests. */
  message: string;
  /** What differs, one line per observation of the solution's that the student's did not match, by name. */
  failures: Map<string, string>;
}

type Obj = { [key: string]: Encoded };
const isObj = (v: Encoded): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** A number from an encoded value ({"$num": "NaN"} included), or undefined. */
function asNumber(v: Encoded): number | undefined {
  if (typeof v === "number") return v;
  if (isObj(v) && typeof v.$num === "string" && Object.keys(v).length === 1) return Number(v.$num);
  return undefined;
}

function short(v: Encoded): string {
  const s = JSON.stringify(v) ?? "undefined";
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function numbersClose(got: number, want: number, tol: Required<Pick<Tolerance, "atol" | "rtol">>): boolean {
  if (Number.isNaN(want)) return Number.isNaN(got);
  if (!Number.isFinite(want)) return got === want;
  return Number.isFinite(got) && Math.abs(got - want) <= tol.atol + tol.rtol * Math.abs(want);
}

const canonical = (v: Encoded): string => JSON.stringify(v);

/** Where `got` differs from `want` (a path and what), or null when equal within the tolerance. */
export function difference(got: Encoded, want: Encoded, tolerance: Tolerance = {}, where = "", inTensor = false): string | null {
  const tol = { atol: tolerance.atol ?? DEFAULT_ATOL, rtol: tolerance.rtol ?? DEFAULT_RTOL };
  const at = where || "the value";
  const wantNum = asNumber(want);
  if (wantNum !== undefined) {
    const gotNum = asNumber(got);
    if (gotNum === undefined) return `${at}: expected a number, got ${short(got)}`;
    const declared = tolerance.atol !== undefined || tolerance.rtol !== undefined;
    const exact = !inTensor && !declared && Number.isInteger(wantNum) && Number.isInteger(gotNum);
    return (exact ? gotNum === wantNum : numbersClose(gotNum, wantNum, tol)) ? null : `${at}: got ${gotNum}, expected ${wantNum}`;
  }
  if (want === null || typeof want === "string" || typeof want === "boolean") {
    return got === want ? null : `${at}: got ${short(got)}, expected ${short(want)}`;
  }
  if (Array.isArray(want)) {
    if (!Array.isArray(got)) return `${at}: expected an array of ${want.length}, got ${short(got)}`;
    if (got.length !== want.length) return `${at}: expected ${want.length} elements, got ${got.length}`;
    if (tolerance.unordered) {
      const left = got.slice();
      for (const w of want) {
        const i = left.findIndex((g) => difference(g, w, tolerance, "", inTensor) === null);
        if (i < 0) return `${at}: ${short(w)} is missing (order does not matter here)`;
        left.splice(i, 1);
      }
      return null;
    }
    for (let i = 0; i < want.length; i++) {
      const d = difference(got[i], want[i], tolerance, `${where}[${i}]`, inTensor);
      if (d) return d;
    }
    return null;
  }
  // Objects: tensors, sets, errors, plain objects.
  if (!isObj(want)) return `${at}: cannot compare ${short(want)}`;
  if (!isObj(got)) return `${at}: expected ${short(want)}, got ${short(got)}`;
  if (isObj(want.$tensor as Encoded)) {
    const w = want.$tensor as Obj;
    const g = got.$tensor;
    if (!isObj(g as Encoded)) return `${at}: expected a tensor of shape [${String(w.shape)}], got ${short(got)}`;
    const gShape = canonical((g as Obj).shape);
    if (gShape !== canonical(w.shape)) return `${at}: expected shape [${String(w.shape)}], got shape [${String((g as Obj).shape)}]`;
    return difference((g as Obj).values, w.values, { ...tolerance, unordered: false }, `${where}`, true);
  }
  if (Array.isArray(want.$set)) {
    if (!Array.isArray(got.$set)) return `${at}: expected a set, got ${short(got)}`;
    return difference(got.$set, want.$set, { ...tolerance, unordered: true }, where);
  }
  for (const key of Object.keys(want)) {
    if (!(key in got)) return `${at}: the field "${key}" is missing`;
    const d = difference(got[key], want[key], tolerance, `${where}.${key}`, inTensor);
    if (d) return d;
  }
  return null;
}

function isEncoded(v: unknown, depth = 0): v is Encoded {
  if (depth > 64) return false;
  if (v === null || typeof v === "string" || typeof v === "boolean" || typeof v === "number") return true;
  if (Array.isArray(v)) return v.every((x) => isEncoded(x, depth + 1));
  if (typeof v === "object") return Object.values(v as object).every((x) => isEncoded(x, depth + 1));
  return false;
}

/** A record from a cell's outputs, if it has the record's shape (it came from an untrusted kernel). */
export function asObservationRecord(v: unknown): ObservationRecord | undefined {
  const r = v as Partial<ObservationRecord> | null;
  if (!r || typeof r !== "object" || typeof r.grade_id !== "string" || typeof r.seed !== "number" || !Array.isArray(r.observations)) return undefined;
  const ok = r.observations.every(
    (o: Partial<Observation>) =>
      !!o &&
      typeof o.name === "string" &&
      isEncoded(o.value) &&
      typeof o.tolerance === "object" &&
      o.tolerance !== null &&
      (o.part === undefined || typeof o.part === "string"),
  );
  if (!ok) return undefined;
  if (r.error !== undefined && typeof r.error !== "string") return undefined;
  if (r.parts !== undefined && !(Array.isArray(r.parts) && r.parts.every((p) => !!p && typeof p.name === "string" && typeof p.points === "number")))
    return undefined;
  return r as ObservationRecord;
}

/**
 * The verdict on one test: the student's record against the solution's. Names and order of the solution's
 * observations decide; the student's tolerances are ignored.
 */
export function compareRecords(got: ObservationRecord, want: ObservationRecord, opts: { hidden?: boolean } = {}): Comparison {
  if (got.seed !== want.seed) {
    const message = `the observations were made with seed ${got.seed}, not the grading seed ${want.seed}`;
    return { ok: false, message, failures: new Map(want.observations.map((w) => [w.name, message])) };
  }
  const failures = new Map<string, string>();
  for (const w of want.observations) {
    const matches = got.observations.filter((g) => g.name === w.name);
    if (matches.length === 0) {
      failures.set(w.name, `"${w.name}" was not observed${got.error ? ` (the test stopped: ${got.error})` : ""}`);
      continue;
    }
    if (matches.length > 1) {
      failures.set(w.name, `"${w.name}" was observed ${matches.length} times`);
      continue;
    }
    const d = difference(matches[0].value, w.value, w.tolerance);
    if (d) failures.set(w.name, opts.hidden ? `"${w.name}" differs from the solution's` : `"${w.name}" differs from the solution's — ${d}`);
  }
  return { ok: failures.size === 0, message: summarize([...failures.values()]), failures };
}

/** At most three failures, then how many more. */
export function summarize(failures: string[]): string {
  const shown = failures.slice(0, 3).join("; ");
  return failures.length > 3 ? `${shown}; and ${failures.length - 3} more` : shown;
}
