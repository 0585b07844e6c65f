/** QR-Adaptor: memory model, phase I against an independent Python reference, NSGA-II, and the search. */
import * as fs from "node:fs";
import * as path from "node:path";
import { strict as assert } from "node:assert";
import {
  Configuration,
  Ladders,
  LayerInfo,
  PAPER_LADDERS,
  configKey,
  crowdingDistance,
  dominates,
  formatConfiguration,
  knnPredictor,
  layerMemory,
  memoryBreakdown,
  memoryBytes,
  minimumMemoryBytes,
  nearestOnLadder,
  normalise,
  nonDominatedSort,
  nsga2,
  qrAdaptorSearch,
  repairToBudget,
  scalarisedUtility,
  selectSurvivors,
  warmStart,
} from "../../lib/peft/qr-adaptor";
import { Rng } from "../../lib/util/random";

interface FixtureCase {
  name: string;
  layers: LayerInfo[];
  ladders: Ladders;
  importances: { iq: number[]; ir: number[] };
  budgetBytes: number;
  minimumBytes: number;
  normalised: { iq: number[]; ir: number[] };
  initial: Configuration;
  initialMemory: number;
  steps: unknown[];
  config: Configuration;
  memory: number;
}

const fixture = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "fixtures/qr-adaptor/warm-start.json"), "utf8")) as { cases: FixtureCase[] };

describe("QR-Adaptor: memory model", () => {
  const layer: LayerInfo = { name: "layer.0", weightParams: 1000, loraParamsPerRank: 300 };

  it("adds quantized weights, 16-bit LoRA parameters and one fp32 scale per 128 weights", () => {
    // 4 bits: 1000·4/8 = 500; rank 8: 300·8·2 = 4800; ceil(1000/128) = 8 blocks · 4 bytes = 32
    assert.deepEqual(layerMemory(layer, { bits: 4, rank: 8 }), {
      name: "layer.0",
      bits: 4,
      rank: 8,
      weightBytes: 500,
      loraBytes: 4800,
      constantBytes: 32,
      totalBytes: 5332,
    });
    // 3 bits pack 3/8 of a byte per weight: 375 + 0 + 32
    assert.equal(memoryBytes([layer], [{ bits: 3, rank: 0 }]), 407);
    // 16 bits are stored unquantized: no constants
    assert.equal(memoryBytes([layer], [{ bits: 16, rank: 2 }]), 2000 + 1200);
  });

  it("sums the layers and breaks the total into its terms", () => {
    const layers = [layer, { name: "layer.1", weightParams: 256, loraParamsPerRank: 64 }];
    const config = [
      { bits: 8, rank: 4 },
      { bits: 4, rank: 16 },
    ];
    const b = memoryBreakdown(layers, config);
    assert.equal(b.weightBytes, 1000 + 128);
    assert.equal(b.loraBytes, 300 * 4 * 2 + 64 * 16 * 2);
    assert.equal(b.constantBytes, 32 + 8);
    assert.equal(b.totalBytes, memoryBytes(layers, config));
    assert.throws(() => memoryBytes(layers, [config[0]]), /1 layer choices but the model has 2 layers/);
  });

  it("finds the smallest reachable memory", () => {
    assert.equal(minimumMemoryBytes([layer], PAPER_LADDERS), (1000 * 2) / 8 + 300 * 4 * 2 + 32);
  });
});

describe("QR-Adaptor: phase I (warm start and repair)", () => {
  it("normalises min-max, with all-equal importances at 0.5", () => {
    assert.deepEqual(normalise([2, 4, 3]), [0, 1, 0.5]);
    assert.deepEqual(normalise([0, 0, 0]), [0.5, 0.5, 0.5]);
    assert.throws(() => normalise([1, NaN]), /not a finite number/);
  });

  it("rounds to the nearest ladder value, ties to the smaller", () => {
    assert.equal(nearestOnLadder(3, [0, 2, 4, 8, 16]), 2);
    assert.equal(nearestOnLadder(12, [4, 8, 16]), 8);
    assert.equal(nearestOnLadder(12.5, [4, 8, 16]), 16);
    assert.equal(nearestOnLadder(-1, [4, 8, 16]), 4);
  });

  for (const c of fixture.cases) {
    it(`reproduces the Python reference: ${c.name}`, () => {
      const ws = warmStart(c.layers, c.ladders, c.importances, c.budgetBytes);
      assert.deepEqual(ws.normalised, c.normalised);
      assert.deepEqual(ws.initial, c.initial);
      assert.equal(ws.initialMemory, c.initialMemory);
      assert.deepEqual(ws.steps, c.steps);
      assert.deepEqual(ws.config, c.config);
      assert.equal(ws.memory, c.memory);
      assert.ok(ws.memory <= c.budgetBytes);
      assert.ok(ws.steps.length >= 3);
      assert.equal(minimumMemoryBytes(c.layers, c.ladders), c.minimumBytes);
    });
  }

  it("leaves a configuration that fits untouched", () => {
    const c = fixture.cases[0];
    const r = repairToBudget(c.layers, c.config, c.ladders, { iq: [0, 0, 0, 0], ir: [0, 0, 0, 0] }, c.memory);
    assert.deepEqual(r.steps, []);
    assert.deepEqual(r.config, c.config);
  });

  it("rejects a budget nothing fits, saying the smallest memory and what to do", () => {
    const c = fixture.cases[0];
    assert.throws(
      () => warmStart(c.layers, c.ladders, c.importances, c.minimumBytes - 1),
      (e: Error) => {
        assert.match(e.message, new RegExp(`budget of ${c.minimumBytes - 1} bytes`));
        assert.match(e.message, new RegExp(`needs ${c.minimumBytes} bytes`));
        assert.match(e.message, /Raise budgetBytes to at least/);
        return true;
      },
    );
    // exactly the minimum is feasible: everything at the bottom of both ladders
    const ws = warmStart(c.layers, c.ladders, c.importances, c.minimumBytes);
    assert.equal(ws.memory, c.minimumBytes);
  });

  it("never takes a downgrade that saves nothing, and says so if that leaves it stuck", () => {
    // 4 weights: 16 bits cost 8 bytes, 8 bits 4 + one 4-byte scale = 8 bytes too, 4 bits 2 + 4 = 6 bytes
    const tiny = [{ name: "tiny", weightParams: 4, loraParamsPerRank: 0 }];
    const ladders = { bits: [4, 8, 16], ranks: [0] };
    assert.equal(minimumMemoryBytes(tiny, ladders), 6);
    assert.throws(() => repairToBudget(tiny, [{ bits: 16, rank: 0 }], ladders, { iq: [0], ir: [0] }, 7), /stopped at 8 bytes.*needs 6 bytes/);
  });

  it("rejects placeholder layer sizes and mismatched importances", () => {
    const layers = [{ name: "x", weightParams: 0, loraParamsPerRank: 10 }];
    assert.throws(() => warmStart(layers, PAPER_LADDERS, { iq: [1], ir: [1] }, 1e9), /real count/);
    const ok = [{ name: "x", weightParams: 100, loraParamsPerRank: 10 }];
    assert.throws(() => warmStart(ok, PAPER_LADDERS, { iq: [1, 2], ir: [1] }, 1e9), /expected 1 importances/);
  });
});

describe("QR-Adaptor: NSGA-II", () => {
  // hand-made points, both objectives minimised
  const A = [1, 5];
  const B = [2, 3];
  const C = [4, 1];
  const D = [3, 4]; // dominated by B only
  const E = [5, 5]; // dominated by A, B, C and D
  const F = [2, 3]; // a copy of B: equal points do not dominate each other
  const G = [3, 2];

  it("dominance", () => {
    assert.ok(dominates(B, D));
    assert.ok(!dominates(D, B));
    assert.ok(!dominates(B, F) && !dominates(F, B));
    assert.ok(!dominates(A, C) && !dominates(C, A));
    assert.ok(dominates([1, 5], [1, 6]));
  });

  it("sorts into fronts", () => {
    assert.deepEqual(nonDominatedSort([A, B, C, D, E, F]), [[0, 1, 2, 5], [3], [4]]);
    assert.deepEqual(nonDominatedSort([E, D, A]), [[1, 2], [0]]); // D and A trade off; E is behind both
    assert.deepEqual(nonDominatedSort([]), []);
  });

  it("crowding distance: extremes infinite, interior points by their neighbours' gaps", () => {
    const pts = [A, B, G, C];
    const d = crowdingDistance(pts, [0, 1, 2, 3]);
    assert.equal(d[0], Infinity);
    assert.equal(d[3], Infinity);
    assert.ok(Math.abs(d[1] - ((3 - 1) / 3 + (5 - 2) / 4)) < 1e-12);
    assert.ok(Math.abs(d[2] - ((4 - 2) / 3 + (3 - 1) / 4)) < 1e-12);
    assert.deepEqual(
      crowdingDistance(
        [
          [1, 1],
          [1, 1],
        ],
        [0, 1],
      ),
      [Infinity, Infinity],
    );
  });

  it("keeps whole fronts, then cuts the last one by crowding", () => {
    const pts = [A, B, G, C, D, E];
    assert.deepEqual(selectSurvivors(pts, 5), [0, 1, 2, 3, 4]);
    assert.deepEqual(selectSurvivors(pts, 3).sort(), [0, 1, 3]); // A and C (∞), then B (1.42 > G's 1.17)
    assert.deepEqual(selectSurvivors(pts, 10).sort(), [0, 1, 2, 3, 4, 5]);
  });

  it("finds the Pareto set of Schaffer's problem f1 = x², f2 = (x − 2)² on a grid", async () => {
    // x = i/10 for i in −40..60; the Pareto set is x ∈ [0, 2], i.e. i = 0..20
    const clamp = (i: number): number => Math.max(-40, Math.min(60, i));
    let calls = 0;
    const result = await nsga2<number>({
      initial: [-40, -30, 50, 60, 45, -35],
      evaluate: (i) => {
        calls++;
        const x = i / 10;
        return [x * x, (x - 2) * (x - 2)];
      },
      mutate: (i, rng) => clamp(i + (rng.next() < 0.5 ? -1 : 1) * (1 + rng.int(6))),
      crossover: (a, b) => Math.round((a + b) / 2),
      key: String,
      populationSize: 30,
      generations: 40,
      rng: new Rng(7),
    });
    const front = result.front.map((s) => s.individual).sort((a, b) => a - b);
    assert.deepEqual(
      front,
      Array.from({ length: 21 }, (_, i) => i),
    );
    const population = nonDominatedSort(result.population.map((p) => p.objectives))[0]
      .map((i) => result.population[i].individual)
      .sort((a, b) => a - b);
    assert.deepEqual(population, front);
    assert.equal(calls, result.evaluations);
    assert.equal(new Set(result.archive.map((a) => a.individual)).size, calls); // never evaluated twice
  });
});

describe("QR-Adaptor: search", () => {
  const layers: LayerInfo[] = [
    { name: "layer.0", weightParams: 49152, loraParamsPerRank: 256 },
    { name: "layer.1", weightParams: 49152, loraParamsPerRank: 896 },
    { name: "layer.2", weightParams: 110592, loraParamsPerRank: 1344 },
    { name: "layer.3", weightParams: 28416, loraParamsPerRank: 192 },
    { name: "layer.4", weightParams: 65536, loraParamsPerRank: 512 },
  ];
  const weights = [1.0, 0.4, 1.6, 0.2, 0.8];
  const importances = { iq: [0.9, 0.3, 1.2, 0.1, 0.6], ir: [0.5, 0.2, 1.0, 0.05, 0.4] };
  const budgetBytes = 300000;

  /** A synthetic score with known structure, plus a small deterministic noise from the configuration. */
  const synthetic = (config: Configuration): number => {
    let s = 0;
    config.forEach((c, l) => (s += weights[l] * Math.log2(c.bits) * (1 + c.rank) ** 0.3));
    let h = 0;
    for (const ch of configKey(config)) h = (Math.imul(h, 31) + ch.charCodeAt(0)) >>> 0;
    return s + ((h % 1000) / 1000) * 0.01;
  };

  const run = async (seed: number, extra: { surrogate?: { oversample?: number } } = {}) => {
    const calls: string[] = [];
    const result = await qrAdaptorSearch({
      layers,
      budgetBytes,
      importances,
      evaluate: async (config) => {
        calls.push(configKey(config));
        return synthetic(config);
      },
      populationSize: 16,
      generations: 6,
      seed,
      ...extra,
    });
    return { result, calls };
  };

  it("returns a front that fits the budget, is non-dominated, and is at least as good as the warm start", async () => {
    const { result } = await run(1);
    assert.ok(result.front.length >= 2);
    for (const p of result.front) {
      assert.ok(p.memory <= budgetBytes, `${configKey(p.config)} uses ${p.memory} bytes`);
      assert.equal(p.memory, memoryBytes(layers, p.config));
      assert.equal(p.score, synthetic(p.config));
    }
    for (const p of result.front) for (const q of result.front) assert.ok(!dominates([-p.score, p.memory], [-q.score, q.memory]));
    // the warm start was evaluated, so the front has a point at least as good in score, and none worse in both
    assert.ok(Math.max(...result.front.map((p) => p.score)) >= result.warmStart.score);
    assert.ok(result.front.some((p) => p.score >= result.warmStart.score && p.memory <= result.warmStart.memory));
    // for this problem the chosen configuration also beats the warm start
    assert.ok(result.chosenScore >= result.warmStart.score, `${result.chosenScore} < ${result.warmStart.score}`);
    // chosen = argmax of 0.6·P̂ − 0.4·M̂ over the front
    const u = scalarisedUtility(result.front);
    assert.equal(result.chosenUtility, Math.max(...u));
    assert.deepEqual(result.chosen, result.front[u.indexOf(Math.max(...u))].config);
    assert.equal(result.chosenMemory, memoryBytes(layers, result.chosen));
    assert.equal(result.history.length, 7);
    assert.equal(result.history[6].evaluations, result.evaluations);
  });

  it("improves on misleading importances over the generations", async () => {
    // importances that rank the layers against the score's weights: phase I starts badly, phase II recovers
    const result = await qrAdaptorSearch({
      layers,
      budgetBytes,
      importances: { iq: [0.2, 1.0, 0.1, 0.9, 0.3], ir: [0.1, 1.0, 0.2, 0.8, 0.3] },
      evaluate: synthetic,
      populationSize: 16,
      generations: 6,
      seed: 1,
    });
    const best = result.history.map((h) => h.bestScore);
    for (let g = 1; g < best.length; g++) assert.ok(best[g] >= best[g - 1], "elitism: the best score never drops");
    assert.ok(best[best.length - 1] > best[0] + 1, `no progress: ${best.join(", ")}`);
    assert.ok(result.chosenScore > result.warmStart.score + 1);
  });

  it("is deterministic for a seed", async () => {
    const a = await run(3);
    const b = await run(3);
    assert.deepEqual(a.calls, b.calls);
    assert.deepEqual(a.result, b.result);
  });

  it("never evaluates a configuration twice", async () => {
    const { result, calls } = await run(5);
    assert.equal(calls.length, result.evaluations);
    assert.equal(new Set(calls).size, calls.length);
    assert.ok(calls.length <= 16 + 6 * 16);
  });

  it("with the surrogate, still fits the budget and evaluates at most one child per slot", async () => {
    const { result, calls } = await run(2, { surrogate: { oversample: 4 } });
    assert.equal(new Set(calls).size, calls.length);
    assert.ok(calls.length <= 16 + 6 * 16);
    for (const p of result.front) assert.ok(p.memory <= budgetBytes);
  });

  it("the surrogate is a k-nearest-neighbour regression: exact on what it has seen, inverse-distance weighted elsewhere", () => {
    const ladders: Ladders = { bits: [4, 8, 16], ranks: [0, 8, 16] };
    const c = (b: number, r: number): Configuration => [{ bits: b, rank: r }];
    const archive = [
      { config: c(4, 0), score: 1, memory: 0 },
      { config: c(16, 16), score: 3, memory: 0 },
    ];
    const predict = knnPredictor(archive, ladders, 2);
    assert.equal(predict(c(4, 0)), 1);
    assert.equal(predict(c(16, 16)), 3);
    // (8, 8) is at (0.5, 0.5) on the ladders: equally far from both → the plain mean
    assert.equal(predict(c(8, 8)), 2);
    // (4, 8) at (0, 0.5): distance 0.5 to the first, √(1 + 0.25) to the second → (1/0.5 + 3/√1.25) / (1/0.5 + 1/√1.25)
    const d2 = Math.sqrt(1.25);
    assert.ok(Math.abs(predict(c(4, 8)) - (1 / 0.5 + 3 / d2) / (1 / 0.5 + 1 / d2)) < 1e-12);
  });

  it("the surrogate's screen finds a better front than no screen for the same evaluations (hypervolume, 4 seeds)", async () => {
    // hypervolume of the front in (score, memory) against the reference point (0 score, the budget)
    const hypervolume = (front: Array<{ score: number; memory: number }>) => {
      const pts = front.slice().sort((a, b) => a.memory - b.memory);
      let area = 0;
      let best = 0;
      for (let i = 0; i < pts.length; i++) {
        best = Math.max(best, pts[i].score);
        const next = i + 1 < pts.length ? pts[i + 1].memory : budgetBytes;
        area += best * (next - pts[i].memory);
      }
      return area / budgetBytes;
    };
    let screened = 0;
    let unscreened = 0;
    for (const seed of [1, 2, 3, 4]) {
      screened += hypervolume((await run(seed, { surrogate: { oversample: 4 } })).result.front);
      unscreened += hypervolume((await run(seed)).result.front);
    }
    console.log(`      hypervolume: screened ${(screened / 4).toFixed(3)} vs unscreened ${(unscreened / 4).toFixed(3)}`);
    assert.ok(screened > unscreened);
  });

  it("formats a configuration as a table", () => {
    const config = layers.map(() => ({ bits: 4, rank: 8 }));
    const table = formatConfiguration(layers, config);
    for (const l of layers) assert.match(table, new RegExp(l.name.replace(".", "\\.")));
    assert.match(table, /^total/m);
    assert.equal(table.split("\n").length, layers.length + 4);
  });
});
