/** MT19937 and torch.randperm, reproduced exactly (WaveFT's coefficient positions depend on it). */
import * as fs from "node:fs";
import * as path from "node:path";
import { strict as assert } from "node:assert";
import { MT19937, torchRandperm } from "../../lib/util/mt19937";

describe("torch.randperm reproduction", () => {
  it("MT19937 gives the reference outputs (seed 5489: 3499211612, 581869302, …; the 10000th is 4123659995)", () => {
    const mt = new MT19937(5489);
    assert.deepEqual([mt.nextUint32(), mt.nextUint32(), mt.nextUint32()], [3499211612, 581869302, 3890346734]);
    let last = 0;
    for (let i = 4; i <= 10000; i++) last = mt.nextUint32();
    assert.equal(last, 4123659995); // the C++ standard's required value for mt19937
  });

  it("equals torch.randperm(n, generator=torch.Generator().manual_seed(seed)) from PyTorch", () => {
    // test/fixtures/peft/randperm.json comes from scripts/fixtures/make-randperm-fixtures.py
    const ref = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "fixtures/peft/randperm.json"), "utf8")) as {
      cases: Array<{ n: number; seed: number; first: number[] }>;
    };
    for (const c of ref.cases) {
      const perm = torchRandperm(c.n, c.seed);
      assert.deepEqual(Array.from(perm.subarray(0, c.first.length)), c.first, `n=${c.n} seed=${c.seed}`);
      const seen = new Uint8Array(c.n);
      perm.forEach((v) => (seen[v] = 1));
      assert.ok(
        seen.every((s) => s === 1),
        "a permutation",
      );
    }
  });
});
