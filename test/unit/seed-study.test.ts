/**
 * Comparisons over seeds: the statistics against hand calculations, the study's plan (grid on the first seed,
 * the chosen rate for the others), the verdicts on synthetic studies whose answer is known, the budget-matched
 * WaveFT variant's parameter count, and one real run's per-example record.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { strict as assert } from "node:assert";
import { mean, pairedBootstrap, sampleStd, tInterval95 } from "../../lib/util/stats";
import {
  chosenRuns,
  comparePair,
  mergeStudies,
  RunSpec,
  runSeedStudy,
  SeedRun,
  SeedStudy,
  selectLearningRates,
  studyFigures,
  summarizeStudy,
  sweepFigure,
} from "../../lib/experiments/seeds";
import { DEFAULT_LR, resolveMethod, VARIANTS } from "../../lib/experiments/methods";
import { runMethod } from "../../lib/experiments/compare";
import { Candidate, candidatesOf, choiceFigure, chooseMethod, fitsBudget, shownBetterIn } from "../../lib/experiments/choose";
import { Rng } from "../../lib/util/random";
import { adapterParams, setupBackend } from "../helpers";

const SHIPPED = path.resolve(__dirname, "../../datasets/checkpoints/bert-tiny-peft");

/** A run whose test record is `correct` (accuracy follows from it). */
function fakeRun(method: string, seed: number, lr: number, correct: string, validationAccuracy = 0.5): SeedRun {
  const accuracy = [...correct].filter((c) => c === "1").length / correct.length;
  return {
    task: "spam",
    method,
    description: method,
    trainableParams: 100,
    totalParams: 1000,
    trainablePercent: 10,
    storedBytes: 400,
    trainSeconds: 1,
    stepsPerSecond: 1,
    peakBytes: 1,
    accuracy,
    macroF1: accuracy,
    validationAccuracy,
    epochs: 1,
    lr,
    seed,
    correct,
  };
}

/** n examples, each right with probability p (seeded). */
function record(rng: Rng, n: number, p: number): string {
  return Array.from({ length: n }, () => (rng.next() < p ? "1" : "0")).join("");
}

function study(runs: SeedRun[], methods: string[], seeds: number[]): SeedStudy {
  const selected = Object.fromEntries(methods.map((m) => [m, runs.find((r) => r.method === m)!.lr]));
  return {
    generatedBy: "test",
    date: "2026-12-02",
    checkpoint: "x",
    settings: { task: "spam", methods, seeds, lrFactors: [1], epochs: 1, trainExamples: 10 },
    selected,
    runs,
  };
}

describe("statistics for comparisons over seeds", () => {
  it("mean, sample standard deviation and the 95 % t-interval match hand calculations", () => {
    assert.equal(mean([2, 4, 4, 4, 5, 5, 7, 9]), 5);
    assert.ok(Math.abs(sampleStd([2, 4, 4, 4, 5, 5, 7, 9]) - Math.sqrt(32 / 7)) < 1e-12);
    assert.equal(sampleStd([3]), 0);
    // [1, 2, 3]: mean 2, s = 1, t(0.975, 2) = 4.303 → 2 ± 4.303/√3 = 2 ± 2.4843
    const iv = tInterval95([1, 2, 3]);
    assert.equal(iv.mean, 2);
    assert.ok(Math.abs(iv.hi - 2 - 4.303 / Math.sqrt(3)) < 1e-9 && Math.abs(2 - iv.lo - 4.303 / Math.sqrt(3)) < 1e-9);
    assert.throws(() => tInterval95([1]), /at least two values/);
  });

  it("the paired bootstrap: 0 for identical systems, 1 for a perfect against a useless one, the normal width in between", () => {
    const rng = new Rng(3);
    const a = Uint8Array.from(record(rng, 200, 0.8), Number);
    assert.deepEqual(pairedBootstrap([a], [a]), { mean: 0, lo: 0, hi: 0 });
    assert.deepEqual(pairedBootstrap([new Uint8Array(50).fill(1)], [new Uint8Array(50)]), { mean: 1, lo: 1, hi: 1 });
    // A right on 10 of 100 examples that B gets wrong, equal elsewhere: 0.10 ± 1.96·√(0.1·0.9/100) ≈ [0.041, 0.159]
    const b = new Uint8Array(100).fill(1);
    const aa = b.slice();
    b.fill(0, 0, 10);
    const iv = pairedBootstrap([aa], [b], { resamples: 4000 });
    assert.ok(Math.abs(iv.mean - 0.1) < 1e-12);
    assert.ok(iv.lo > 0.03 && iv.lo < 0.06 && iv.hi > 0.14 && iv.hi < 0.17, JSON.stringify(iv));
    // the difference is averaged over paired runs
    assert.ok(Math.abs(pairedBootstrap([aa, b], [b, b]).mean - 0.05) < 1e-12);
    assert.throws(() => pairedBootstrap([aa], [b.slice(0, 50)]), /same test examples/);
  });
});

describe("a study over seeds", () => {
  it("runs the learning-rate grid on the first seed, picks on validation (ties: nearest the default), then the other seeds", async () => {
    const calls: RunSpec[][] = [];
    const validation: Record<string, number> = { "lora:1": 0.8, "lora:3": 0.9, "lora:0.5": 0.85, "head:1": 0.7, "head:3": 0.7, "head:0.5": 0.6 };
    const run = (s: RunSpec) => fakeRun(s.method, s.seed, s.lr, "1", validation[`${s.method}:${+(s.lr / DEFAULT_LR[s.method as "lora"]).toPrecision(3)}`]);
    const r = await runSeedStudy({ methods: ["lora", "head"], seeds: [7, 8, 9], lrFactors: [0.5, 1, 3] }, async (specs) => {
      calls.push(specs);
      return specs.map(run);
    });
    assert.equal(calls.length, 2);
    assert.deepEqual(
      calls[0].map((s) => [s.method, s.seed]),
      [
        ["lora", 7],
        ["lora", 7],
        ["lora", 7],
        ["head", 7],
        ["head", 7],
        ["head", 7],
      ],
    );
    assert.deepEqual(r.selected, { lora: 3 * DEFAULT_LR.lora, head: DEFAULT_LR.head }, "head's tie between 1× and 3× goes to the default");
    assert.deepEqual(
      calls[1].map((s) => [s.method, s.seed, s.lr]),
      [
        ["lora", 8, 3 * DEFAULT_LR.lora],
        ["lora", 9, 3 * DEFAULT_LR.lora],
        ["head", 8, DEFAULT_LR.head],
        ["head", 9, DEFAULT_LR.head],
      ],
    );
    assert.equal(r.runs.length, 10);
    await assert.rejects(
      runSeedStudy({ methods: ["lora"], seeds: [1], lrFactors: [1] }, async () => []),
      /at least two seeds/,
    );
    await assert.rejects(
      runSeedStudy({ methods: ["lora"], seeds: [1, 2], lrFactors: [0.5, 2] }, async () => []),
      /must include 1/,
    );
    assert.throws(() => selectLearningRates([], ["lora"]), /no grid run for lora/);
  });

  it("a clear gap is shown, a gap inside the noise is not, and the summary is the seeds' mean and spread", () => {
    const rng = new Rng(11);
    const seeds = [0, 1, 2];
    const runs = [
      ...seeds.map((s) => fakeRun("strong", s, 1, record(rng, 600, 0.95))),
      ...seeds.map((s) => fakeRun("weak", s, 1, record(rng, 600, 0.8))),
      ...seeds.map((s) => fakeRun("weak2", s, 1, record(rng, 600, 0.8))),
    ];
    const st = study(runs, ["strong", "weak", "weak2"], seeds);
    const clear = comparePair(st, "strong", "weak");
    assert.equal(clear.verdict, "A better");
    assert.equal(clear.wins, 3);
    assert.equal(comparePair(st, "weak", "strong").verdict, "B better");
    const noise = comparePair(st, "weak", "weak2");
    assert.equal(noise.verdict, "not shown", JSON.stringify(noise));
    assert.ok(noise.bootstrap.lo < 0 && noise.bootstrap.hi > 0);
    const summary = summarizeStudy(st);
    const strong = runs.slice(0, 3).map((r) => r.accuracy);
    assert.equal(summary[0].accuracyMean, mean(strong));
    assert.equal(summary[0].accuracyStd, sampleStd(strong));
    assert.equal(studyFigures(st, "weak").length, 2);
  });

  it("two studies with the same task, seeds and budget merge; others are refused", () => {
    const base = study(
      [fakeRun("lora", 0, 1, "10"), fakeRun("lora", 1, 1, "11"), fakeRun("head", 0, 2, "00"), fakeRun("head", 1, 2, "01")],
      ["lora", "head"],
      [0, 1],
    );
    const extra = study(
      [fakeRun("lora", 0, 5, "00"), fakeRun("lora", 1, 5, "00"), fakeRun("lora-r1", 0, 3, "11"), fakeRun("lora-r1", 1, 3, "10")],
      ["lora", "lora-r1"],
      [0, 1],
    );
    const merged = mergeStudies(base, extra);
    assert.deepEqual(merged.settings.methods, ["lora", "head", "lora-r1"]);
    assert.deepEqual(merged.selected, { lora: 1, head: 2, "lora-r1": 3 }, "a method in both keeps the base's runs");
    assert.equal(merged.runs.length, 6);
    assert.equal(comparePair(merged, "lora-r1", "head").seeds.mean, 0.5);
    assert.throws(() => mergeStudies(base, { ...extra, settings: { ...extra.settings, seeds: [0, 2] } }), /cannot be merged: their seeds differ/);
    assert.throws(() => mergeStudies(base, { ...extra, checkpoint: "y" }), /cannot be merged: their checkpoint differ/);
  });

  it("a sweep figure: one line per family, the 95 % t-interval as error bars, the floor as a band", () => {
    const runs = [
      fakeRun("a", 0, 1, "1100"),
      fakeRun("a", 1, 1, "1110"),
      fakeRun("b", 0, 1, "1111"),
      fakeRun("b", 1, 1, "1011"),
      fakeRun("h", 0, 1, "1000"),
      fakeRun("h", 1, 1, "1100"),
    ];
    const fig = sweepFigure(study(runs, ["a", "b", "h"], [0, 1]), { fam: ["a", "b"] }, { title: "t", xTitle: "x", floor: "h" });
    const trace = fig.data[0] as { y: number[]; error_y: { array: number[] } };
    assert.deepEqual(trace.y, [62.5, 87.5]);
    assert.ok(Math.abs(trace.error_y.array[0] - (100 * 12.706 * sampleStd([0.5, 0.75])) / Math.sqrt(2)) < 1e-9);
    assert.equal((fig.layout!.shapes as unknown[]).length, 2);
    assert.throws(() => sweepFigure(study(runs, ["a", "b", "h"], [0, 1]), { fam: ["zz"] }, { title: "t", xTitle: "x" }), /no method "zz"/);
  });

  it("a study with a missing run says which", () => {
    const st = study([fakeRun("lora", 0, 1, "1")], ["lora"], [0, 1]);
    assert.throws(() => summarizeStudy(st), /no lora run with seed 1 at lr 1/);
  });
});

describe("budget-matched variants and one real run", () => {
  before(setupBackend);

  it("waveft-matched trains exactly as many adapter parameters as LoRA r = 8", () => {
    assert.equal(adapterParams("lora"), 36864);
    assert.equal(adapterParams("waveft-matched"), 36864, VARIANTS["waveft-matched"].why);
    assert.equal(resolveMethod("waveft-matched").method, "waveft");
    assert.throws(() => resolveMethod("wavefts"), /unknown method "wavefts"; choose one of: .*waveft-matched/);
  });

  it("runMethod records which test examples it got right (their mean is the accuracy)", async () => {
    const { row, correct } = await runMethod({
      task: "spam",
      method: "head",
      checkpoint: SHIPPED,
      epochs: 1,
      limit: 48,
      trainLimit: 16,
      seed: 3,
      progress: "silent",
    });
    assert.equal(correct.length, 48);
    assert.equal(correct.reduce((a, b) => a + b, 0) / 48, row.accuracy);
    assert.equal(row.method, "head");
  });
});

describe("choosing a method under a budget (the capstone's rule)", () => {
  const cand = (method: string, storedBytes: number, peakBytes: number, mean: number): Candidate => ({
    method,
    storedBytes,
    peakBytes,
    accuracies: [mean, mean],
    accuracy: { mean, lo: mean, hi: mean },
  });
  const pool = [cand("big", 5000, 100, 0.95), cand("mid", 200, 400, 0.93), cand("small", 100, 300, 0.92), cand("tiny", 100, 200, 0.9)];
  const noLimit = { storageBytes: Infinity, memoryBytes: Infinity };

  it("keeps what fits (the limit included), then the cheapest the best is not shown to beat", () => {
    assert.deepEqual(
      chooseMethod(pool, { storageBytes: 200, memoryBytes: 400 }, () => false),
      {
        method: "tiny",
        feasible: ["mid", "small", "tiny"],
        best: "mid",
        indistinguishable: ["mid", "small", "tiny"],
      },
    );
    const bigBeatsTiny = (a: string, b: string) => a === "big" && b === "tiny";
    assert.deepEqual(chooseMethod(pool, noLimit, bigBeatsTiny).indistinguishable, ["big", "mid", "small"]);
    assert.equal(chooseMethod(pool, noLimit, bigBeatsTiny).method, "small", "same bytes as tiny, which is shown worse");
    assert.equal(chooseMethod(pool, noLimit, () => true).method, "big", "everything shown worse than the best: the best");
    assert.equal(fitsBudget(pool[1], { storageBytes: 200, memoryBytes: 400 }), true);
    assert.throws(
      () => chooseMethod(pool, { storageBytes: 50, memoryBytes: Infinity }, () => false),
      /no method fits the budget .*the least any candidate needs is 100 B stored and 100 B of memory/,
    );
  });

  it("candidates carry each method's chosen runs and their t-interval; the study's two scenarios", () => {
    const st = JSON.parse(fs.readFileSync(path.resolve(__dirname, "../../results/seeds-spam.json"), "utf8")) as SeedStudy;
    const candidates = candidatesOf(st);
    assert.deepEqual(
      candidates.map((c) => c.method),
      st.settings.methods,
    );
    for (const c of candidates) assert.deepEqual(c.accuracy, tInterval95(chosenRuns(st, c.method).map((r) => r.accuracy)));
    // What the notebook's text says, recomputed: scenario A picks head-only (nothing feasible is shown worse than QLoRA), B full fine-tuning.
    const a = chooseMethod(candidates, { storageBytes: 250e3, memoryBytes: 450e6 }, shownBetterIn(st));
    assert.deepEqual([a.best, a.method], ["qlora", "head"]);
    assert.equal(chooseMethod(candidates, { storageBytes: Infinity, memoryBytes: 350e6 }, shownBetterIn(st)).method, "full");
    const fig = choiceFigure(candidates, { storageBytes: 250e3, memoryBytes: 450e6 }, a);
    assert.deepEqual(
      fig.data.map((d) => d.name),
      ["one seed", "mean, 95 % interval over seeds", "Pareto front of the means", "choice: head"],
    );
  });
});
