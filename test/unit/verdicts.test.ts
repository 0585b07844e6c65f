/**
 * The verdicts step without a kernel: executed cells built by hand (the outputs a test cell prints), scored
 * as the instructor's grader scores them.
 */
import { strict as assert } from "node:assert";
import { TestResult } from "../../lib/grader/verdicts";
import { describeLimit } from "../../lib/grader/run-notebook";
import type { TestSpec } from "../../lib/grader/cells";
import { CheckRecord, RESULT_MIME, runCheck, runObserved } from "../../lib/notebook/grading";
import { NbOutput } from "../../lib/notebook/ipynb";
import { displayOutput, scoreTestCell } from "../helpers";
import { ObservationRecord, OBSERVATIONS_MIME, TestContext } from "../../lib/notebook/observe";

const ID = "test-delta";
const SEED = 11;
const observed = (value: number): ObservationRecord => ({ grade_id: ID, seed: SEED, observations: [{ name: "ΔW", value, tolerance: {} }] });
const verdict = (status: CheckRecord["status"]): CheckRecord => ({
  grade_id: ID,
  score: status === "passed" ? 2 : 0,
  max_score: 2,
  status,
  message: `${status} by hand`,
});
const bundle = displayOutput;

/** Scores one executed test cell as the grader does: instructor mode against `want`, or student mode. */
function grade(
  outputs: NbOutput[],
  opts: { visibility?: TestSpec["visibility"]; want?: ObservationRecord; points?: number; mode?: "student" | "instructor" } = {},
): TestResult {
  const mode = opts.mode ?? "instructor";
  return scoreTestCell(outputs, {
    gradeId: ID,
    points: opts.points ?? 2,
    mode,
    want: mode === "instructor" ? (opts.want ?? observed(4)) : undefined,
    visibility: opts.visibility,
  });
}
const score = (outputs: NbOutput[], visibility: TestSpec["visibility"] = "public"): TestResult => grade(outputs, { visibility });

/** What check() prints for a test run in this process with the grading seed SEED. */
async function printed(points: number, fn: (t: TestContext) => void | Promise<void>): Promise<NbOutput> {
  const { record, observations } = await runObserved(ID, points, fn, { failure: "the hint" }, new TestContext(ID, SEED));
  return bundle({ [RESULT_MIME]: record, [OBSERVATIONS_MIME]: observations });
}
const recordOf = (o: NbOutput) => (o as unknown as { data: Record<string, unknown> }).data;

describe("the limit a cell ran over, in words", () => {
  it("names the cell's own limit, or what was left of the notebook's budget when that was less", () => {
    assert.equal(describeLimit("cpu", 30), "it used more than 30 s of CPU time");
    assert.equal(describeLimit("cpu", 2, 120), "it used more than 2 s of CPU time, what was left of the notebook's 120 s time budget");
    assert.equal(describeLimit(undefined, 3, 60), "it ran over its time limit (3 s), what was left of the notebook's 60 s time budget");
    assert.equal(describeLimit("memory", 2, 120), "the kernel went over its memory limit", "memory is not a time limit");
  });
});

describe("verdicts (instructor mode, no kernel)", () => {
  it("observations equal to the solution's and the test's own checks held: full points", () => {
    assert.deepEqual([score([bundle({ [RESULT_MIME]: verdict("passed"), [OBSERVATIONS_MIME]: observed(4) })]).score], [2]);
  });

  it("observations that differ score 0, whatever the kernel said", () => {
    const r = score([bundle({ [RESULT_MIME]: verdict("passed"), [OBSERVATIONS_MIME]: observed(5) })]);
    assert.equal(r.score, 0);
    assert.equal(r.status, "failed");
  });

  it("equal observations but a hand-calculated check that failed in the kernel: 0, not turned into a pass", () => {
    const r = score([bundle({ [RESULT_MIME]: verdict("failed"), [OBSERVATIONS_MIME]: observed(4) })]);
    assert.deepEqual([r.score, r.status], [0, "failed"]);
    assert.match(r.message, /^failed by hand \(the observed values match the solution's\)$/);
    const hidden = score([bundle({ [RESULT_MIME]: verdict("error"), [OBSERVATIONS_MIME]: observed(4) })], "hidden");
    assert.deepEqual([hidden.score, hidden.status], [0, "error"]);
    assert.doesNotMatch(hidden.message, /by hand/, "a hidden test's own message is not shown");
  });

  it("a forged passing verdict printed before the real failing one does not hide it", () => {
    const r = score([bundle({ [RESULT_MIME]: verdict("passed") }), bundle({ [RESULT_MIME]: verdict("failed"), [OBSERVATIONS_MIME]: observed(4) })]);
    assert.equal(r.score, 0);
  });
});

describe("partial credit: a test in parts (t.part)", () => {
  // The solution's run: three parts worth 1, 2 and 1 point; "shape" is observed outside the parts (it counts for all).
  const solution = (answers: { a: number; b: number; c: number; shape?: number; failC?: boolean; stopAfterA?: boolean }) => async (t: TestContext) => {
    t.observe("shape", answers.shape ?? 3);
    await t.part("a", 1, () => {
      t.observe("a", answers.a);
    });
    if (answers.stopAfterA) throw new Error("Not implemented");
    await t.part("b", 2, () => {
      t.observe("b", answers.b);
    });
    await t.part("c", 1, () => {
      t.observe("c", answers.c);
      if (answers.failC) throw Object.assign(new Error("c by hand"), { name: "AssertionError" });
    });
  };
  const right = { a: 1, b: 2, c: 3 };
  let want: ObservationRecord;
  before(async () => {
    want = recordOf(await printed(4, solution(right)))[OBSERVATIONS_MIME] as ObservationRecord;
  });

  it("the kernel's verdict: the points of the parts that passed; each part's observations carry its name", async () => {
    const out = await printed(4, solution({ ...right, b: 9, failC: true }));
    const r = recordOf(out)[RESULT_MIME] as CheckRecord;
    assert.deepEqual([r.score, r.max_score, r.status], [3, 4, "failed"], "the kernel does not know b's answer; c's own check failed");
    assert.deepEqual(
      r.parts?.map((p) => `${p.name}:${p.points}:${p.status}`),
      ["a:1:passed", "b:2:passed", "c:1:failed"],
    );
    assert.match(r.message, /^the hint — part "c" \(1 pt\) failed: c by hand$/);
    const o = recordOf(out)[OBSERVATIONS_MIME] as ObservationRecord;
    assert.deepEqual(
      o.observations.map((x) => `${x.name}@${x.part ?? "-"}`),
      ["shape@-", "a@a", "b@b", "c@c"],
    );
    assert.deepEqual(o.parts, [
      { name: "a", points: 1 },
      { name: "b", points: 2 },
      { name: "c", points: 1 },
    ]);
  });

  it("parts whose points do not add up to the test's are a mistake in the test; nested parts are refused", async () => {
    const r = await runCheck(ID, 5, solution(right), {}, new TestContext(ID, SEED));
    assert.deepEqual([r.score, r.status], [0, "error"]);
    assert.match(r.message, /parts are worth 4 points in all, the test 5/);
    const nested = await runCheck(ID, 1, async (t) => t.part("x", 1, () => t.part("y", 1, () => undefined)), {}, new TestContext(ID, SEED));
    assert.equal(nested.parts?.[0].status, "error");
    assert.match(nested.parts?.[0].message ?? "", /cannot be nested/);
  });

  it("the grader: a part scores when its observations equal the solution's and its own checks held", async () => {
    const g = async (answers: Parameters<typeof solution>[0], visibility: TestSpec["visibility"] = "public") =>
      grade([await printed(4, solution(answers))], { want, points: 4, visibility });
    assert.deepEqual([(await g(right)).score, (await g(right)).status], [4, "passed"]);
    const wrongB = await g({ ...right, b: 9 });
    assert.deepEqual([wrongB.score, wrongB.status], [2, "failed"]);
    assert.match(wrongB.message, /^part "b" \(2 pts\): "b" differs from the solution's — the value: got 9, expected 2$/);
    assert.equal((await g({ ...right, failC: true })).score, 3, "a hand check that failed loses its part");
    assert.equal((await g({ ...right, a: 0, b: 0, c: 0 })).score, 0);
    assert.equal((await g({ ...right, shape: 4 })).score, 0, "a value observed outside the parts counts for all of them");
    const stopped = await g({ ...right, stopAfterA: true });
    assert.deepEqual([stopped.score, stopped.status], [0, "error"], "stopped outside the parts: 0");
    const hidden = await g({ ...right, b: 9 }, "hidden");
    assert.equal(hidden.score, 2);
    assert.doesNotMatch(hidden.message, /expected/);
  });

  it("the grader counts the solution's parts and points, not the student's", async () => {
    // A kernel that claims the test has one part worth everything, with its own value for "a" only.
    const forged = await printed(4, async (t) => {
      t.observe("shape", 3);
      await t.part("a", 4, () => {
        t.observe("a", 1);
      });
    });
    assert.equal(grade([forged], { want, points: 4 }).score, 1);
  });

  it("student mode takes a partial score from the kernel's verdict, and refuses one out of range", async () => {
    const out = await printed(4, solution({ ...right, failC: true }));
    assert.deepEqual([grade([out], { mode: "student", points: 4 }).score], [3]);
    const data = { ...recordOf(out) };
    data[RESULT_MIME] = { ...(data[RESULT_MIME] as CheckRecord), score: 7 };
    const r = grade([bundle(data)], { mode: "student", points: 4 });
    assert.deepEqual([r.score, r.status], [0, "error"]);
  });
});
