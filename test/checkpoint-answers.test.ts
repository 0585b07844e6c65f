/** Checkpoint self-checks: hashed answers, normalisation, and what a student sees. */
import { strict as assert } from "node:assert";
import { createHash } from "node:crypto";
import { checkpointHash, evaluateCheckpoint, normalizeAnswer } from "../lib/notebook/checkpoint";

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
});
