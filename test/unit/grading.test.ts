/** The graded-cell helper: an explicit verdict for passing, failing and crashing tests. */
import { strict as assert } from "node:assert";
import { check, describeCheck, runCheck } from "../../lib/notebook/grading";

async function quietly<T>(f: () => Promise<T>): Promise<{ value: T; printed: string[] }> {
  const printed: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => printed.push(a.join(" "));
  try {
    return { value: await f(), printed };
  } finally {
    console.log = log;
  }
}

describe("graded cells: check()", () => {
  it("a passing test earns its points and prints one line", async () => {
    assert.deepEqual(await runCheck("ex1", 2, () => assert.equal(1 + 1, 2)), { grade_id: "ex1", score: 2, max_score: 2, status: "passed", message: "" });
    const { value, printed } = await quietly(() => check("ex1", 2, () => assert.equal(1 + 1, 2)));
    assert.equal(value, undefined, "check() returns nothing, so a notebook cell prints only the verdict");
    assert.deepEqual(printed, ["✔ ex1: 2/2 points"]);
  });

  it("a failed assertion scores 0 with the hint first", async () => {
    const value = await runCheck("ex2", 3, () => assert.equal(2 + 2, 5, "sum is wrong"), { failure: "Add the numbers." });
    assert.equal(value.status, "failed");
    assert.equal(value.score, 0);
    assert.match(value.message, /^Add the numbers\. — sum is wrong/);
    assert.ok(describeCheck(value).startsWith("✘ ex2: 0/3 points — failed: Add the numbers. — sum is wrong"));
    const plain = await runCheck("ex2b", 1, () => assert.equal(1, 2));
    assert.equal(plain.message, "Expected values to be strictly equal: 1 !== 2", "node's multi-line message on one line");
  });

  it("a crash (e.g. an unfinished stub) is an error, also for async tests, and check() itself never throws", async () => {
    const value = await runCheck("ex3", 1, async () => {
      await new Promise((r) => setTimeout(r, 1));
      throw new Error("Not implemented");
    });
    const { printed } = await quietly(() =>
      check("ex3", 1, () => {
        throw new Error("Not implemented");
      }),
    );
    assert.deepEqual(printed, ["✘ ex3: 0/1 point — error: Not implemented"]);
    assert.deepEqual([value.status, value.score, value.message], ["error", 0, "Not implemented"]);
  });

  it("rejects a missing grade id or a negative point value", async () => {
    await assert.rejects(() => runCheck("", 1, () => undefined), /grade_id is required/);
    await assert.rejects(() => runCheck("x", -1, () => undefined), /points must be a number ≥ 0/);
  });
});
