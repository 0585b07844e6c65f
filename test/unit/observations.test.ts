/**
 * The grader's comparison of observations (lib/grader/observations.ts) and what a test cell records
 * (lib/notebook/observe.ts): values computed by hand, encoded and compared.
 */
import * as tf from "@tensorflow/tfjs";
import { strict as assert } from "node:assert";
import { asObservationRecord, compareRecords, difference } from "../../lib/grader/observations";
import { runCheck } from "../../lib/notebook/grading";
import { ObservationRecord, TestContext } from "../../lib/notebook/observe";

const rec = (observations: ObservationRecord["observations"], seed = 7): ObservationRecord => ({ grade_id: "t", seed, observations });

describe("observations: what a test records", () => {
  it("encodes numbers, non-finite numbers, typed arrays, sets, maps, errors and tensors (read after the test disposed them)", async () => {
    const t = new TestContext("enc", 5);
    const x = tf.tensor2d([
      [1, 2],
      [3, 4],
    ]);
    t.observe("tensor", x);
    x.dispose();
    t.observe("mixed", {
      b: [1, NaN, -Infinity],
      a: new Float32Array([0.5]),
      s: new Set([3, 1, 2]),
      m: new Map([["k", true]]),
      e: new Error("boom"),
      u: undefined,
    });
    const before = tf.memory().numTensors;
    const r = await t.finish();
    assert.equal(tf.memory().numTensors, before - 1, "the tensor's copy is disposed once read");
    assert.deepEqual(r.observations[0].value, { $tensor: { shape: [2, 2], dtype: "float32", values: [1, 2, 3, 4] } });
    assert.deepEqual(r.observations[1].value, {
      a: [0.5],
      b: [1, { $num: "NaN" }, { $num: "-Infinity" }],
      e: { $error: "boom" },
      m: { k: true },
      s: { $set: [1, 2, 3] },
      u: null,
    });
  });

  it("seeded inputs: the same grade_id and seed give the same values, another seed other values", () => {
    const a = new TestContext("x", 1);
    const b = new TestContext("x", 1);
    const c = new TestContext("x", 2);
    const d = new TestContext("y", 1);
    const draw = (t: TestContext) => [t.int(0, 1000), t.uniform(), ...Array.from(t.normal([3]).dataSync())];
    assert.deepEqual(draw(a), draw(b));
    assert.notDeepEqual(draw(new TestContext("x", 1)), draw(c));
    assert.notDeepEqual(draw(new TestContext("x", 1)), draw(d), "each test has its own stream");
    for (let i = 0; i < 200; i++) {
      const n = a.int(3, 5);
      assert.ok(n >= 3 && n <= 5 && Number.isInteger(n));
    }
  });

  it("a name observed twice is an error in the test (the check reports it)", async () => {
    const r = await runCheck("dup", 1, (t) => {
      t.observe("a", 1);
      t.observe("a", 2);
    });
    assert.equal(r.status, "error");
    assert.match(r.message, /already observed a value with that name/);
  });
});

describe("observations: the grader's comparison", () => {
  it("numbers within atol + rtol·|want|; NaN equals NaN; infinities exactly", () => {
    assert.equal(difference(1.00001, 1), null);
    assert.match(difference(1.1, 1) ?? "", /got 1.1, expected 1/);
    assert.equal(difference(101, 100, { atol: 0, rtol: 0.01 }), null);
    assert.notEqual(difference(102, 100, { atol: 0, rtol: 0.01 }), null);
    assert.equal(difference({ $num: "NaN" }, { $num: "NaN" }), null);
    assert.notEqual(difference(1e308, { $num: "Infinity" }), null);
    assert.notEqual(difference("1", 1), null, "a string is not a number");
    assert.match(difference(1212417, 1212416) ?? "", /got 1212417, expected 1212416/, "whole numbers (counts) exactly");
    assert.equal(difference(1212417, 1212416, { rtol: 1e-4 }), null, "unless the test declares a tolerance");
    assert.equal(
      difference({ $tensor: { shape: [1], dtype: "float32", values: [16777218] } }, { $tensor: { shape: [1], dtype: "float32", values: [16777216] } }),
      null,
      "tensor values always within the tolerance",
    );
  });

  it("tensors: shape exact, values within the tolerance; arrays in order unless unordered; sets unordered", () => {
    const tensor = (shape: number[], values: number[]) => ({ $tensor: { shape, dtype: "float32", values } });
    assert.equal(difference(tensor([2], [1, 2]), tensor([2], [1, 2.000001])), null);
    assert.match(difference(tensor([1, 2], [1, 2]), tensor([2], [1, 2])) ?? "", /expected shape \[2\], got shape \[1,2\]/);
    assert.match(difference(tensor([2], [1, 3]), tensor([2], [1, 2])) ?? "", /\[1\]: got 3, expected 2/);
    assert.notEqual(difference([2, 1], [1, 2]), null);
    assert.equal(difference([2, 1], [1, 2], { unordered: true }), null);
    assert.notEqual(difference([1, 1], [1, 2], { unordered: true }), null, "a multiset, not a set");
    assert.equal(difference({ $set: [1, 2] }, { $set: [1, 2] }), null);
  });

  it("objects need the solution's keys; an extra key is fine", () => {
    assert.equal(difference({ a: 1, b: 2, extra: 3 }, { a: 1, b: 2 }), null);
    assert.match(difference({ a: 1 }, { a: 1, b: 2 }) ?? "", /the field "b" is missing/);
    assert.match(difference({ a: { c: [1, 5] } }, { a: { c: [1, 2] } }) ?? "", /\.a\.c\[1\]: got 5, expected 2/);
  });

  it("records: the solution's names, its tolerances and the seed decide; hidden tests do not show expected values", () => {
    const want = rec([{ name: "y", value: 1, tolerance: { atol: 0.5 } }]);
    assert.equal(compareRecords(rec([{ name: "y", value: 1.4, tolerance: {} }]), want).ok, true, "the solution's atol");
    assert.equal(compareRecords(rec([{ name: "y", value: 9, tolerance: { atol: 1e9 } }]), want).ok, false, "the student's own tolerance counts for nothing");
    assert.match(compareRecords(rec([]), want).message, /"y" was not observed/);
    assert.match(
      compareRecords(
        rec([
          { name: "y", value: 1, tolerance: {} },
          { name: "y", value: 1, tolerance: {} },
        ]),
        want,
      ).message,
      /observed 2 times/,
    );
    assert.match(compareRecords(rec([{ name: "y", value: 1, tolerance: {} }], 8), want).message, /seed 8, not the grading seed 7/);
    assert.match(compareRecords(rec([{ name: "y", value: 3, tolerance: {} }]), want).message, /expected 1/);
    assert.doesNotMatch(compareRecords(rec([{ name: "y", value: 3, tolerance: {} }]), want, { hidden: true }).message, /expected/);
  });

  it("a malformed record from a kernel is rejected", () => {
    assert.equal(asObservationRecord(null), undefined);
    assert.equal(asObservationRecord({ grade_id: "t", seed: "1", observations: [] }), undefined);
    assert.equal(asObservationRecord({ grade_id: "t", seed: 1, observations: [{ name: "a", value: () => 1, tolerance: {} }] }), undefined);
    assert.ok(asObservationRecord({ grade_id: "t", seed: 1, observations: [{ name: "a", value: [1, { b: null }], tolerance: {} }] }));
  });
});
