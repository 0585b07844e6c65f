/**
 * Comparisons the data supports: every method trains with several seeds, at a learning rate chosen from a
 * small grid on the validation split, and two methods are said to differ only when the intervals say so.
 *
 *   1. Grid: each method runs with the first seed at `lrFactors` × its default learning rate; the rate with
 *      the best validation accuracy is kept (ties go to the rate nearest the default).
 *   2. Seeds: each method runs with every other seed at its chosen rate (the grid's run is the first seed's).
 *   3. Report: mean ± standard deviation over seeds per method and, per pair, the mean difference in test
 *      accuracy with two 95 % intervals — a t-interval over the seeds (how much the training run matters) and
 *      a paired bootstrap over the test examples (how much the test sample matters). "A beats B" only when
 *      both intervals lie above zero.
 *
 * Running is left to the caller (`run`), so the CLI can spread runs over processes; `npm run peft -- seeds`
 * is the command, and `results/seeds-<task>.json` holds a study with the command that made it.
 */
import { ComparisonRow } from "./compare";
import { resolveMethod } from "./methods";
import { Interval, mean, pairedBootstrap, sampleStd, tInterval95 } from "../util/stats";
import type { Figure } from "../plot/plotly";

/** One run of a study: the comparison's row, its seed, and which test examples it got right ("0"/"1" per example). */
export interface SeedRun extends ComparisonRow {
  seed: number;
  correct: string;
}

export interface RunSpec {
  method: string;
  lr: number;
  seed: number;
}

export interface SeedStudySettings {
  task: string;
  methods: string[];
  seeds: number[];
  lrFactors: number[];
  epochs: number;
  /** Training examples used (validation and test are whole). */
  trainExamples: number;
  /** Whether each run measured forgetting (the held-out masked-LM loss before and after). */
  forgetting?: boolean;
}

export interface SeedStudy {
  generatedBy: string;
  date: string;
  checkpoint: string;
  settings: SeedStudySettings;
  /** The learning rate chosen per method. */
  selected: Record<string, number>;
  /** The grid's runs (first seed) and the other seeds' runs at the chosen rate. */
  runs: SeedRun[];
}

/** Runs the grid, picks each method's learning rate on validation, then runs the other seeds. `run` may run specs in parallel. */
export async function runSeedStudy(
  s: Pick<SeedStudySettings, "methods" | "seeds" | "lrFactors">,
  runAll: (specs: RunSpec[]) => Promise<SeedRun[]>,
): Promise<{ selected: Record<string, number>; runs: SeedRun[] }> {
  if (s.seeds.length < 2) throw new Error("a study needs at least two seeds (three or more for useful intervals)");
  if (!s.lrFactors.includes(1)) throw new Error("the learning-rate factors must include 1 (the method's default)");
  const grid = s.methods.flatMap((method) => s.lrFactors.map((f) => ({ method, lr: resolveMethod(method).lr * f, seed: s.seeds[0] })));
  const gridRuns = await runAll(grid);
  const selected = selectLearningRates(gridRuns, s.methods);
  const rest = s.methods.flatMap((method) => s.seeds.slice(1).map((seed) => ({ method, lr: selected[method], seed })));
  return { selected, runs: [...gridRuns, ...(await runAll(rest))] };
}

/** Plotly error bars (in percentage points) from each interval's mean to its lower and upper ends. */
export function intervalBars(intervals: readonly Interval[]): { type: "data"; symmetric: false; array: number[]; arrayminus: number[]; visible: true } {
  return {
    type: "data",
    symmetric: false,
    array: intervals.map((iv) => 100 * (iv.hi - iv.mean)),
    arrayminus: intervals.map((iv) => 100 * (iv.mean - iv.lo)),
    visible: true,
  };
}

/** Per method, the learning rate whose run scored the best validation accuracy (ties: nearest the default). */
export function selectLearningRates(gridRuns: readonly SeedRun[], methods: readonly string[]): Record<string, number> {
  const selected: Record<string, number> = {};
  for (const method of methods) {
    const runs = gridRuns.filter((r) => r.method === method);
    if (runs.length === 0) throw new Error(`no grid run for ${method}`);
    const distance = (r: SeedRun) => Math.abs(Math.log(r.lr / resolveMethod(method).lr));
    runs.sort((a, b) => b.validationAccuracy - a.validationAccuracy || distance(a) - distance(b));
    selected[method] = runs[0].lr;
  }
  return selected;
}

/**
 * Two studies made with the same task, seeds, epochs and training examples, as one: the methods of `extra`
 * that `base` lacks are added (a method in both keeps `base`'s runs). Pairs across the two can then be
 * compared, since every run is scored on the same test examples.
 */
export function mergeStudies(base: SeedStudy, extra: SeedStudy): SeedStudy {
  const a = base.settings;
  const b = extra.settings;
  const same = (k: keyof SeedStudySettings) => JSON.stringify(a[k]) === JSON.stringify(b[k]);
  const differ = (["task", "seeds", "epochs", "trainExamples"] as const).filter((k) => !same(k));
  if (differ.length || base.checkpoint !== extra.checkpoint)
    throw new Error(`these studies cannot be merged: their ${[...differ, ...(base.checkpoint !== extra.checkpoint ? ["checkpoint"] : [])].join(", ")} differ`);
  const added = b.methods.filter((m) => !a.methods.includes(m));
  return {
    generatedBy: `${base.generatedBy}\n${extra.generatedBy}`,
    date: base.date > extra.date ? base.date : extra.date,
    checkpoint: base.checkpoint,
    settings: { ...a, methods: [...a.methods, ...added], lrFactors: [...new Set([...a.lrFactors, ...b.lrFactors])].sort((x, y) => x - y) },
    selected: { ...base.selected, ...Object.fromEntries(added.map((m) => [m, extra.selected[m]])) },
    runs: [...base.runs, ...extra.runs.filter((r) => added.includes(r.method))],
  };
}

/** The runs of `method` at its chosen learning rate, one per seed, in the study's seed order. */
export function chosenRuns(study: SeedStudy, method: string): SeedRun[] {
  return study.settings.seeds.map((seed) => {
    const run = study.runs.find((r) => r.method === method && r.seed === seed && r.lr === study.selected[method]);
    if (!run) throw new Error(`the study has no ${method} run with seed ${seed} at lr ${study.selected[method]}`);
    return run;
  });
}

export interface MethodSummary {
  method: string;
  description: string;
  lr: number;
  trainableParams: number;
  storedBytes: number;
  seeds: number;
  accuracyMean: number;
  accuracyStd: number;
  macroF1Mean: number;
  macroF1Std: number;
  /** Mean training time and peak memory; times are comparable only within one study (one machine, one run). */
  trainSecondsMean: number;
  peakBytes: number;
  /** With `--forgetting`: the rise of the held-out masked-LM loss (after − before), mean and std over seeds. */
  forgettingMean?: number;
  forgettingStd?: number;
}

export function summarizeStudy(study: SeedStudy): MethodSummary[] {
  return study.settings.methods.map((method) => {
    const runs = chosenRuns(study, method);
    const acc = runs.map((r) => r.accuracy);
    const f1 = runs.map((r) => r.macroF1);
    return {
      method,
      description: runs[0].description,
      lr: study.selected[method],
      trainableParams: runs[0].trainableParams,
      storedBytes: runs[0].storedBytes,
      seeds: runs.length,
      accuracyMean: mean(acc),
      accuracyStd: sampleStd(acc),
      macroF1Mean: mean(f1),
      macroF1Std: sampleStd(f1),
      trainSecondsMean: mean(runs.map((r) => r.trainSeconds)),
      peakBytes: Math.max(...runs.map((r) => r.peakBytes)),
      ...forgettingSummary(runs),
    };
  });
}

function forgettingSummary(runs: readonly SeedRun[]): Pick<MethodSummary, "forgettingMean" | "forgettingStd"> {
  const rises = runs.flatMap((r) => (r.mlmLossAfter !== undefined && r.mlmLossBefore !== undefined ? [r.mlmLossAfter - r.mlmLossBefore] : []));
  return rises.length === runs.length ? { forgettingMean: mean(rises), forgettingStd: sampleStd(rises) } : {};
}

export type Verdict = "A better" | "B better" | "not shown";

export interface PairComparison {
  a: string;
  b: string;
  /** Mean over seeds of accuracy(A) − accuracy(B), with a 95 % t-interval over the seeds' differences. */
  seeds: Interval;
  /** The same difference with a 95 % paired-bootstrap interval over the test examples. */
  bootstrap: Interval;
  /** Seeds on which A scored higher / lower than B, of `n` seeds. */
  wins: number;
  losses: number;
  n: number;
  verdict: Verdict;
}

const bits = (s: string) => Uint8Array.from(s, (c) => (c === "1" ? 1 : 0));

/** Compares A with B (paired by seed): a difference is "shown" only when both 95 % intervals exclude zero. */
export function comparePair(study: SeedStudy, a: string, b: string, opts: { resamples?: number } = {}): PairComparison {
  const ra = chosenRuns(study, a);
  const rb = chosenRuns(study, b);
  const diffs = ra.map((r, i) => r.accuracy - rb[i].accuracy);
  const seeds = tInterval95(diffs);
  const bootstrap = pairedBootstrap(
    ra.map((r) => bits(r.correct)),
    rb.map((r) => bits(r.correct)),
    { resamples: opts.resamples ?? 2000, seed: 1 },
  );
  const above = seeds.lo > 0 && bootstrap.lo > 0;
  const below = seeds.hi < 0 && bootstrap.hi < 0;
  return {
    a,
    b,
    seeds,
    bootstrap,
    wins: diffs.filter((d) => d > 0).length,
    losses: diffs.filter((d) => d < 0).length,
    n: diffs.length,
    verdict: above ? "A better" : below ? "B better" : "not shown",
  };
}

/** Every pair of the study's methods, in its method order. */
export function compareAllPairs(study: SeedStudy): PairComparison[] {
  const m = study.settings.methods;
  return m.flatMap((a, i) => m.slice(i + 1).map((b) => comparePair(study, a, b)));
}

const pct = (x: number) => (100 * x).toFixed(2);

/** A sentence for a pair, in the words the notebooks use. */
export function describePair(p: PairComparison): string {
  const range = (iv: Interval) => `[${pct(iv.lo)}, ${pct(iv.hi)}]`;
  const head = `${p.a} − ${p.b}: ${p.seeds.mean >= 0 ? "+" : ""}${pct(p.seeds.mean)} points (seeds ${range(p.seeds)}, test bootstrap ${range(p.bootstrap)}; ${p.a} ahead on ${p.wins}, behind on ${p.losses} of ${p.n} seeds)`;
  if (p.verdict === "A better") return `${head} — ${p.a} is better at this budget.`;
  if (p.verdict === "B better") return `${head} — ${p.b} is better at this budget.`;
  return `${head} — no difference shown.`;
}

/**
 * Two figures: test accuracy against trainable parameters with every seed drawn and the mean ± std as error
 * bars; and each method's difference from `reference` with both 95 % intervals.
 */
export function studyFigures(study: SeedStudy, reference: string): Figure[] {
  const summary = summarizeStudy(study);
  const others = summary.filter((s) => s.method !== reference);
  const pairs = others.map((s) => comparePair(study, s.method, reference));
  /** One method per row (its two intervals just above and below the row), the difference with its error bar. */
  const intervalTrace = (name: string, pick: (p: PairComparison) => Interval, offset: number) => ({
    type: "scatter",
    mode: "markers",
    name,
    y: pairs.map((_, i) => i + offset),
    x: pairs.map((p) => 100 * pick(p).mean),
    text: pairs.map((p) => p.a),
    error_x: intervalBars(pairs.map(pick)),
    marker: { size: 8 },
  });
  return [
    {
      data: [
        {
          type: "scatter",
          mode: "markers",
          name: "one seed",
          x: study.settings.methods.flatMap((m) => chosenRuns(study, m).map((r) => r.trainableParams)),
          y: study.settings.methods.flatMap((m) => chosenRuns(study, m).map((r) => 100 * r.accuracy)),
          text: study.settings.methods.flatMap((m) => chosenRuns(study, m).map((r) => `${m}, seed ${r.seed}`)),
          marker: { size: 6, opacity: 0.5 },
        },
        {
          type: "scatter",
          mode: "markers+text",
          name: "mean ± std over seeds",
          x: summary.map((s) => s.trainableParams),
          y: summary.map((s) => 100 * s.accuracyMean),
          error_y: { type: "data", array: summary.map((s) => 100 * s.accuracyStd), visible: true },
          text: summary.map((s) => s.method),
          textposition: "middle right",
          marker: { size: 11, symbol: "diamond" },
        },
      ],
      layout: {
        title: { text: `${study.settings.task}: test accuracy over ${study.settings.seeds.length} seeds` },
        xaxis: { title: { text: "trainable parameters" }, type: "log" },
        yaxis: { title: { text: "test accuracy (%)" } },
      },
    },
    {
      data: [intervalTrace("95 % interval over seeds", (p) => p.seeds, -0.12), intervalTrace("95 % bootstrap over test examples", (p) => p.bootstrap, 0.12)],
      layout: {
        title: { text: `Test accuracy minus ${reference}'s (points): a difference is shown when both intervals miss 0` },
        xaxis: { title: { text: `accuracy − ${reference} (percentage points)` }, zeroline: true },
        yaxis: { automargin: true, tickvals: pairs.map((_, i) => i), ticktext: pairs.map((p) => p.a), autorange: "reversed", zeroline: false },
        shapes: [{ type: "line", x0: 0, x1: 0, yref: "paper", y0: 0, y1: 1, line: { dash: "dot" } }],
      },
    },
  ];
}

export interface SweepFigureOptions {
  title: string;
  xTitle: string;
  /** Where a method sits on the x axis (default: its trainable parameters). */
  x?: (s: MethodSummary) => number;
  logX?: boolean;
  /** A method drawn as a horizontal line with its interval as a band (e.g. "head": the floor every adapter adds to). */
  floor?: string;
}

/**
 * A sweep over seeds: one line per family of methods (e.g. LoRA at r = 1, 4, 8, 16), each point the mean test
 * accuracy with its 95 % t-interval over the seeds as error bars.
 */
export function sweepFigure(study: SeedStudy, families: Record<string, string[]>, o: SweepFigureOptions): Figure {
  const summary = new Map(summarizeStudy(study).map((s) => [s.method, s]));
  const get = (m: string) => {
    const s = summary.get(m);
    if (!s) throw new Error(`the study has no method "${m}" (it has: ${[...summary.keys()].join(", ")})`);
    return { s, iv: tInterval95(chosenRuns(study, m).map((r) => r.accuracy)) };
  };
  const x = o.x ?? ((s: MethodSummary) => s.trainableParams);
  const data: Array<Record<string, unknown>> = Object.entries(families).map(([name, methods]) => {
    const points = methods.map(get);
    return {
      type: "scatter",
      mode: "lines+markers",
      name,
      x: points.map((p) => x(p.s)),
      y: points.map((p) => 100 * p.iv.mean),
      text: methods,
      error_y: intervalBars(points.map((p) => p.iv)),
    };
  });
  const shapes: Array<Record<string, unknown>> = [];
  if (o.floor) {
    const { iv } = get(o.floor);
    shapes.push(
      { type: "rect", xref: "paper", x0: 0, x1: 1, y0: 100 * iv.lo, y1: 100 * iv.hi, fillcolor: "grey", opacity: 0.15, line: { width: 0 } },
      { type: "line", xref: "paper", x0: 0, x1: 1, y0: 100 * iv.mean, y1: 100 * iv.mean, line: { dash: "dash", color: "grey" } },
    );
    data.push({ type: "scatter", mode: "lines", name: `${o.floor} (mean, 95 % band)`, x: [null], y: [null], line: { dash: "dash", color: "grey" } });
  }
  return {
    data,
    layout: {
      title: { text: o.title },
      xaxis: { title: { text: o.xTitle }, ...(o.logX ? { type: "log" } : {}) },
      yaxis: { title: { text: "test accuracy (%), mean and 95 % interval over seeds" } },
      shapes,
    },
  };
}
