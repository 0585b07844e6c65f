/**
 * What a graded test cell records for the autograder: *observations*, the values the student's code
 * produced on inputs drawn from a seed. When the instructor grades, the seed is chosen by the grader at
 * grading time (COURSEKIT_GRADING_SEED), the same test runs on the instructor's solution in a separate,
 * trusted kernel, and the grader compares the two sets of observations itself (lib/grader/observations.ts).
 * Nothing in the student's process decides the verdict: a right answer can only be "forged" by computing it.
 *
 *   await check("test-lora-delta", 2, (t) => {
 *     const A = t.normal([4, 6]);                          // seeded: new values at every grading
 *     const d = t.observe("ΔW for random A, B", loraDelta(A, B, 8), { atol: 1e-5 });
 *     assert.deepEqual(d.shape, [5, 6]);                   // local feedback for the student
 *   });
 *
 * Values are encoded as JSON: numbers (NaN and ±Infinity as {"$num": "NaN"}), strings, booleans, null,
 * arrays and typed arrays, plain objects, tensors ({"$tensor": {shape, dtype, values}}), sets (sorted) and
 * errors ({"$error": message}).
 */
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../util/random";

export const OBSERVATIONS_MIME = "application/vnd.coursekit.observations+json";

/** The seed local runs use; the grader injects a fresh one (COURSEKIT_GRADING_SEED) every time it grades. */
export const LOCAL_SEED = 20260101;

/** How an observation is compared with the solution's (the solution's tolerance is the one that counts). */
export interface Tolerance {
  /** Absolute tolerance for numbers (default 1e-5). */
  atol?: number;
  /** Relative tolerance for numbers (default 1e-4): |got − want| ≤ atol + rtol·|want|. */
  rtol?: number;
  /** Compare arrays as multisets (order does not matter). */
  unordered?: boolean;
}

export type Encoded = null | boolean | number | string | Encoded[] | { [key: string]: Encoded };

export interface Observation {
  name: string;
  value: Encoded;
  tolerance: Tolerance;
  /** The part of the test (t.part) the value was observed in; none: it counts for every part. */
  part?: string;
}

/** A part of a test worth some of its points (t.part), and how it went in this kernel. */
export interface PartRecord {
  name: string;
  points: number;
  status: "passed" | "failed" | "error";
  /** What went wrong (empty when passed). */
  message: string;
}

export interface ObservationRecord {
  grade_id: string;
  seed: number;
  observations: Observation[];
  /** The test's parts in the order they ran (absent when the test has none: all or nothing). */
  parts?: { name: string; points: number }[];
  /** Set when the test stopped early (an exception from the student's code, usually). */
  error?: string;
}

function isAssertionFailure(e: unknown): boolean {
  const name = (e as { name?: string; code?: string })?.name ?? "";
  return name === "AssertionError" || (e as { code?: string })?.code === "ERR_ASSERTION";
}

/** An error's message on one line (node's assert puts the values on later lines), at most 300 characters. */
export function oneLine(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  const joined = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.length > 0)
    .join(" ");
  return joined.length > 300 ? `${joined.slice(0, 297)}...` : joined;
}

/** "failed" for an assertion that did not hold, "error" for anything else thrown (a stub's "Not implemented"). */
export function failureStatus(e: unknown): "failed" | "error" {
  return isAssertionFailure(e) ? "failed" : "error";
}

/** The grading seed in force: the grader's (COURSEKIT_GRADING_SEED) or the local one. */
export function gradingSeed(): number {
  const raw = process.env.COURSEKIT_GRADING_SEED;
  const n = raw === undefined ? NaN : Number(raw);
  return Number.isInteger(n) && n >= 0 ? n : LOCAL_SEED;
}

/** FNV-1a of a string: gives each test its own random stream, whatever order the tests run in. */
function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

type Snapshot =
  | { kind: "tensor"; tensor: tf.Tensor }
  | { kind: "array"; items: Snapshot[] }
  | { kind: "object"; entries: [string, Snapshot][] }
  | { kind: "set"; items: Snapshot[] }
  | { kind: "plain"; value: Encoded };

const MAX_DEPTH = 8;

/** A copy of a value that survives the test disposing its tensors (tensors are cloned). */
function snapshot(value: unknown, depth = 0): Snapshot {
  if (depth > MAX_DEPTH) return { kind: "plain", value: { $error: "value nested too deeply" } };
  if (value instanceof tf.Tensor) {
    if (value.isDisposed) return { kind: "plain", value: { $error: "the tensor was already disposed" } };
    return { kind: "tensor", tensor: value.clone() };
  }
  if (value === null || value === undefined) return { kind: "plain", value: null };
  if (typeof value === "number") return { kind: "plain", value: encodeNumber(value) };
  if (typeof value === "string" || typeof value === "boolean") return { kind: "plain", value };
  if (typeof value === "bigint") return { kind: "plain", value: Number(value) };
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    return { kind: "plain", value: Array.from(value as unknown as ArrayLike<number>, encodeNumber) };
  }
  if (Array.isArray(value)) return { kind: "array", items: value.map((v) => snapshot(v, depth + 1)) };
  if (value instanceof Set) return { kind: "set", items: [...value].map((v) => snapshot(v, depth + 1)) };
  if (value instanceof Map) return { kind: "object", entries: [...value.entries()].map(([k, v]) => [String(k), snapshot(v, depth + 1)]) };
  if (value instanceof Error) return { kind: "plain", value: { $error: value.message } };
  if (typeof value === "object") {
    return {
      kind: "object",
      entries: Object.keys(value as object)
        .sort()
        .map((k) => [k, snapshot((value as Record<string, unknown>)[k], depth + 1)]),
    };
  }
  return { kind: "plain", value: { $error: `cannot observe a ${typeof value}` } };
}

function encodeNumber(x: number): Encoded {
  return Number.isFinite(x) ? x : { $num: String(x) };
}

/** Reads a snapshot into JSON (tensor values read asynchronously) and disposes its clones. */
async function encode(s: Snapshot): Promise<Encoded> {
  switch (s.kind) {
    case "plain":
      return s.value;
    case "tensor": {
      const values = await s.tensor.data();
      const out: Encoded = {
        $tensor: {
          shape: s.tensor.shape,
          dtype: s.tensor.dtype,
          values: Array.from(values as ArrayLike<number | string>, (v) => (typeof v === "number" ? encodeNumber(v) : String(v))),
        },
      };
      s.tensor.dispose();
      return out;
    }
    case "array":
      return Promise.all(s.items.map(encode));
    case "set": {
      const items = await Promise.all(s.items.map(encode));
      return { $set: items.sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1)) };
    }
    case "object": {
      const out: { [key: string]: Encoded } = {};
      for (const [k, v] of s.entries) out[k] = await encode(v);
      return out;
    }
  }
}

function dispose(s: Snapshot): void {
  if (s.kind === "tensor") s.tensor.dispose();
  else if (s.kind === "array" || s.kind === "set") s.items.forEach(dispose);
  else if (s.kind === "object") s.entries.forEach(([, v]) => dispose(v));
}

/**
 * What a test function receives: seeded inputs and `observe`. The random inputs are the same in the
 * student's kernel and in the solution's kernel (same seed, same test), and different at every grading.
 */
export class TestContext {
  readonly seed: number;
  private readonly rng: Rng;
  private readonly pending: { name: string; value: Snapshot; tolerance: Tolerance; part?: string }[] = [];
  /** The parts run so far (t.part), with their outcome. */
  readonly parts: PartRecord[] = [];
  private currentPart: string | undefined;

  constructor(
    readonly gradeId: string,
    seed = gradingSeed(),
  ) {
    this.seed = seed;
    this.rng = new Rng((hashString(gradeId) ^ seed) >>> 0);
  }

  /** Records a value the student's code produced, for the grader to compare; returns it unchanged. */
  observe<T>(name: string, value: T, tolerance: Tolerance = {}): T {
    if (this.pending.some((p) => p.name === name)) throw new Error(`observe("${name}"): this test already observed a value with that name`);
    this.pending.push({ name, value: snapshot(value), tolerance: { ...tolerance }, part: this.currentPart });
    return value;
  }

  /**
   * A part of the test worth `points` of its points (partial credit): `fn` runs now; an assertion that fails
   * or an error inside it loses this part's points only, and the next part still runs. The parts' points
   * must add up to the test's. Values observed inside count for this part; those observed outside any
   * part count for all of them.
   */
  async part(name: string, points: number, fn: () => void | Promise<void>): Promise<void> {
    if (this.currentPart !== undefined) throw new Error(`t.part("${name}"): parts cannot be nested (inside "${this.currentPart}")`);
    if (this.parts.some((p) => p.name === name)) throw new Error(`t.part("${name}"): this test already has a part with that name`);
    if (!(Number.isInteger(points) && points > 0)) throw new Error(`t.part("${name}"): points must be a whole number > 0, got ${points}`);
    this.currentPart = name;
    try {
      await fn();
      this.parts.push({ name, points, status: "passed", message: "" });
    } catch (e) {
      this.parts.push({ name, points, status: failureStatus(e), message: oneLine(e) });
    } finally {
      this.currentPart = undefined;
    }
  }

  /** Observes whether `fn` throws (true) or returns (false), e.g. for a clear error on bad input. */
  throws(name: string, fn: () => unknown): boolean {
    let threw = false;
    try {
      fn();
    } catch {
      threw = true;
    }
    this.observe(name, threw);
    return threw;
  }

  /** A seeded integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + this.rng.int(hi - lo + 1);
  }

  /** A seeded number, uniform in [lo, hi). */
  uniform(lo = 0, hi = 1): number {
    return lo + (hi - lo) * this.rng.next();
  }

  /** Seeded numbers, uniform in [lo, hi). */
  uniforms(n: number, lo = 0, hi = 1): number[] {
    return Array.from({ length: n }, () => this.uniform(lo, hi));
  }

  /** A seeded standard-normal float32 tensor (generated in JavaScript: identical on every backend). */
  normal<R extends tf.Rank = tf.Rank>(shape: number[], std = 1): tf.Tensor<R> {
    const size = shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(size);
    for (let i = 0; i < size; i++) values[i] = std * this.rng.normal();
    const t: tf.Tensor = tf.tensor(values, shape.slice(), "float32");
    return t as tf.Tensor<R>;
  }

  /** One element of `items`, chosen by the seed. */
  pick<T>(items: readonly T[]): T {
    return items[this.rng.int(items.length)];
  }

  /** The record: every observation encoded (tensors read now, their copies disposed). */
  async finish(error?: string): Promise<ObservationRecord> {
    const observations: Observation[] = [];
    try {
      for (const p of this.pending) {
        const o: Observation = { name: p.name, value: await encode(p.value), tolerance: p.tolerance };
        if (p.part !== undefined) o.part = p.part;
        observations.push(o);
      }
    } finally {
      this.pending.forEach((p) => dispose(p.value));
      this.pending.length = 0;
    }
    const record: ObservationRecord = { grade_id: this.gradeId, seed: this.seed, observations };
    if (this.parts.length > 0) record.parts = this.parts.map((p) => ({ name: p.name, points: p.points }));
    if (error) record.error = error;
    return record;
  }
}
