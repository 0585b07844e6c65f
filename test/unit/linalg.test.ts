/** Singular values (lib/linalg) against NumPy's LAPACK SVD (test/fixtures/linalg/svd.json). */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { numericalRank, singularValues, singularValuesOf } from "../../lib/linalg/singular-values";

interface Case {
  name: string;
  rows: number;
  cols: number;
  values: number[];
  singular_values: number[];
  rank_float32: number;
}
const fixture = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "fixtures", "linalg", "svd.json"), "utf8")) as { cases: Case[] };

describe("singular values", () => {
  for (const c of fixture.cases) {
    it(`match numpy.linalg.svd: ${c.name}`, () => {
      const sv = singularValues(c.values, c.rows, c.cols);
      assert.equal(sv.length, Math.min(c.rows, c.cols));
      const scale = c.singular_values[0];
      sv.forEach((v, i) => assert.ok(Math.abs(v - c.singular_values[i]) <= 1e-10 * scale, `σ${i}: ${v} vs ${c.singular_values[i]}`));
      assert.equal(numericalRank(sv, c.rows, c.cols), c.rank_float32);
    });
  }

  it("by hand: diag(3, -4) has singular values 4 and 3; a rank-1 outer product has rank 1", async () => {
    assert.deepEqual(Array.from(singularValues([3, 0, 0, -4], 2, 2)), [4, 3]);
    const outer = tf.tidy(() => tf.outerProduct(tf.tensor1d([1, 2, 3]), tf.tensor1d([4, 5])) as tf.Tensor2D);
    const sv = await singularValuesOf(outer);
    assert.ok(Math.abs(sv[0] - Math.sqrt(14) * Math.sqrt(41)) < 1e-5);
    assert.equal(numericalRank(sv, 3, 2), 1);
    outer.dispose();
  });

  it("rejects shapes that do not fit the data", () => {
    assert.throws(() => singularValues([1, 2, 3], 2, 2), /3 values do not fill a 2 × 2 matrix/);
    assert.throws(() => singularValues([], 0, 2), /two positive integers/);
  });
});
