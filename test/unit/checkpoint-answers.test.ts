/** Checkpoint self-checks: hashed answers, normalisation, and what a student sees. */
import { strict as assert } from "node:assert";
import { createHash } from "node:crypto";
import { checkpointHash, evaluateCheckpoint, normalizeAnswer } from "../../lib/notebook/checkpoint";

describe("checkpoint questions", () => {
  it("normalises answers: whole numbers exactly, others to 3 significant digits, text case-insensitive", () => {
    assert.equal(normalizeAnswer(12288), "12288");
    assert.equal(normalizeAnswer(27.98), "28");
    assert.equal(normalizeAnswer(0.12345), "0.123");
    assert.equal(normalizeAnswer(4.127), "4.13");
    assert.equal(normalizeAnswer("  B "), "b");
    assert.equal(normalizeAnswer("Normal  Quantiles"), "normal quantiles");
    assert.throws(() => normalizeAnswer(Number.NaN), /finite number/);
  });

  it("the hash is sha256 of 'id:normalized', first 16 hex digits (so the answer is not in the notebook)", () => {
    const expected = createHash("sha256").update("lora-1024:32768").digest("hex").slice(0, 16);
    assert.equal(checkpointHash("lora-1024", 32768), expected);
    assert.notEqual(checkpointHash("other-id", 32768), expected, "the id salts the hash");
  });

  it("says correct, incorrect or not answered yet", async () => {
    const hash = checkpointHash("q", 28);
    assert.equal((await evaluateCheckpoint("q", () => 28.01, hash)).status, "correct");
    assert.equal((await evaluateCheckpoint("q", async () => 28, hash)).status, "correct");
    const wrong = await evaluateCheckpoint("q", () => 32, hash);
    assert.equal(wrong.status, "incorrect");
    assert.match(wrong.message, /32 is not it yet/);
    const stub = await evaluateCheckpoint(
      "q",
      () => {
        throw new Error("Not implemented");
      },
      hash,
    );
    assert.deepEqual(stub, { id: "q", status: "unanswered", message: "not answered yet (Not implemented)" });
    assert.equal((await evaluateCheckpoint("q", () => undefined as unknown as number, hash)).status, "incorrect");
  });

  it("a declared tolerance: accepted within ±tolerance, refused beyond 1.25·tolerance, the hash made with it", async () => {
    const tolerance = 0.05;
    const hash = checkpointHash("lora-cp-1024", 96.875, { tolerance });
    const status = async (x: number | string) => (await evaluateCheckpoint("lora-cp-1024", () => x, hash, { tolerance })).status;
    for (const x of [96.875, 96.87, 96.88, 96.9, 96.85, 96.826, 96.924]) assert.equal(await status(x), "correct", `${x}`);
    for (const x of [97, 96.8, 96.81, 96.94, 96.95, -96.875, 9687.5]) assert.equal(await status(x), "incorrect", `${x}`);
    assert.equal(await status("96.875"), "incorrect", "a number is expected");
    // Every answer within ±tolerance passes and none beyond 1.25·tolerance, wherever the expected value falls on the grid.
    for (let i = 0; i < 200; i++) {
      const want = 100 * Math.sin(i) + i / 7;
      const h = checkpointHash("q", want, { tolerance });
      const ok = async (x: number) => (await evaluateCheckpoint("q", () => x, h, { tolerance })).status === "correct";
      const near = want + tolerance * Math.cos(3 * i);
      const far = want + 1.26 * tolerance * Math.sign(Math.cos(5 * i) || 1);
      assert.ok(await ok(near), `${near} is within ${tolerance} of ${want}`);
      assert.ok(!(await ok(far)), `${far} is further than 1.25·${tolerance} from ${want}`);
    }
    assert.notEqual(hash, checkpointHash("lora-cp-1024", 96.875), "the tolerance is part of the hash");
    assert.throws(() => checkpointHash("q", 1, { tolerance: 0 }), /tolerance must be a number > 0/);
    assert.throws(() => checkpointHash("q", "b", { tolerance: 1 }), /takes a number/);
  });
});
