/**
 * Choosing a method under a budget (the week's capstone): from a study over seeds, the candidates with what
 * each costs and the 95 % interval of its test accuracy; a budget (bytes stored per task, peak tensor memory
 * while training); and a rule that does not read more into the data than it holds:
 *
 *   1. keep the candidates that fit the budget;
 *   2. among them, take the best mean accuracy;
 *   3. keep every feasible candidate that the best is *not shown* to beat (both 95 % intervals, as in
 *      `seedStudy.comparePair`) — the data cannot tell these from the best;
 *   4. choose the cheapest of those: fewest bytes stored, then least peak memory, then name.
 */
import { chosenRuns, comparePair, intervalBars, SeedStudy, summarizeStudy } from "./seeds";
import { Interval, tInterval95 } from "../util/stats";
import type { Figure } from "../plot/plotly";

export interface Candidate {
  method: string;
  /** Bytes stored per task (adapter file, head, or whole model). */
  storedBytes: number;
  /** Peak tensor memory of a training step. */
  peakBytes: number;
  /** Test accuracy: each seed's, and the mean with its 95 % t-interval over the seeds. */
  accuracies: number[];
  accuracy: Interval;
}

export interface Budget {
  /** Largest stored bytes per task allowed (Infinity: no limit). */
  storageBytes: number;
  /** Largest peak tensor memory allowed while training (Infinity: no limit). */
  memoryBytes: number;
}

export interface Choice {
  /** The chosen method. */
  method: string;
  /** The candidates within the budget, in the study's order. */
  feasible: string[];
  /** The feasible candidate with the best mean accuracy. */
  best: string;
  /** The feasible candidates the best is not shown to beat (the best included), in the study's order. */
  indistinguishable: string[];
}

/** The study's methods as candidates, each at its chosen learning rate. */
export function candidatesOf(study: SeedStudy): Candidate[] {
  return summarizeStudy(study).map((s) => {
    const accuracies = chosenRuns(study, s.method).map((r) => r.accuracy);
    return { method: s.method, storedBytes: s.storedBytes, peakBytes: s.peakBytes, accuracies, accuracy: tInterval95(accuracies) };
  });
}

/** Whether a candidate fits the budget (at the limit counts as fitting). */
export function fitsBudget(c: Candidate, budget: Budget): boolean {
  return c.storedBytes <= budget.storageBytes && c.peakBytes <= budget.memoryBytes;
}

/**
 * The rule above. `shownBetter(a, b)` says whether the data shows method a better than method b (for a study:
 * `(a, b) => seedStudy.comparePair(study, a, b).verdict === "A better"`). Throws when nothing fits.
 */
export function chooseMethod(candidates: readonly Candidate[], budget: Budget, shownBetter: (a: string, b: string) => boolean): Choice {
  const feasible = candidates.filter((c) => fitsBudget(c, budget));
  if (feasible.length === 0) {
    const cheapest = (key: "storedBytes" | "peakBytes") => Math.min(...candidates.map((c) => c[key]));
    throw new Error(
      `no method fits the budget (storage ≤ ${budget.storageBytes} B, memory ≤ ${budget.memoryBytes} B); the least any candidate needs is ${cheapest("storedBytes")} B stored and ${cheapest("peakBytes")} B of memory`,
    );
  }
  const best = feasible.reduce((a, c) => (c.accuracy.mean > a.accuracy.mean ? c : a));
  const indistinguishable = feasible.filter((c) => c === best || !shownBetter(best.method, c.method));
  const cheapest = [...indistinguishable].sort(
    (a, b) => a.storedBytes - b.storedBytes || a.peakBytes - b.peakBytes || (a.method < b.method ? -1 : a.method > b.method ? 1 : 0),
  )[0];
  return { method: cheapest.method, feasible: feasible.map((c) => c.method), best: best.method, indistinguishable: indistinguishable.map((c) => c.method) };
}

/** `shownBetter` for a study: both 95 % intervals (over seeds, over test examples) above zero. */
export function shownBetterIn(study: SeedStudy): (a: string, b: string) => boolean {
  return (a, b) => comparePair(study, a, b).verdict === "A better";
}

/**
 * The decision as a picture: accuracy (every seed, and the mean with its 95 % interval) against bytes stored
 * per task; candidates over the memory budget hollow, the storage limit a dashed line, the choice a star.
 */
export function choiceFigure(candidates: readonly Candidate[], budget: Budget, choice: Choice, title = "Choosing under a budget"): Figure {
  const mb = (b: number) => (b >= 1e6 ? `${(b / 1e6).toFixed(1)} MB` : `${(b / 1e3).toFixed(0)} kB`);
  const fits = candidates.map((c) => fitsBudget(c, budget));
  const chosen = candidates.find((c) => c.method === choice.method);
  // The Pareto front of the means (no other candidate stores less or as much with a higher mean): the picture
  // a single run would draw — the intervals show how little of it the seeds support.
  const front = candidates
    .filter(
      (c) =>
        !candidates.some(
          (o) =>
            o !== c &&
            o.storedBytes <= c.storedBytes &&
            o.accuracy.mean >= c.accuracy.mean &&
            (o.storedBytes < c.storedBytes || o.accuracy.mean > c.accuracy.mean),
        ),
    )
    .sort((a, b) => a.storedBytes - b.storedBytes);
  const shapes =
    budget.storageBytes === Infinity
      ? []
      : [{ type: "line", x0: budget.storageBytes, x1: budget.storageBytes, yref: "paper", y0: 0, y1: 1, line: { dash: "dash" } }];
  return {
    data: [
      {
        type: "scatter",
        mode: "markers",
        name: "one seed",
        x: candidates.flatMap((c) => c.accuracies.map(() => c.storedBytes)),
        y: candidates.flatMap((c) => c.accuracies.map((a) => 100 * a)),
        marker: { size: 5, opacity: 0.4, color: "grey" },
        hoverinfo: "y",
      },
      {
        type: "scatter",
        mode: "markers+text",
        name: "mean, 95 % interval over seeds",
        x: candidates.map((c) => c.storedBytes),
        y: candidates.map((c) => 100 * c.accuracy.mean),
        text: candidates.map((c, i) => `${c.method}${fits[i] ? "" : " (over budget)"}`),
        hovertext: candidates.map((c) => `${c.method}: ${mb(c.storedBytes)} stored, ${mb(c.peakBytes)} peak memory`),
        textposition: "middle right",
        error_y: intervalBars(candidates.map((c) => c.accuracy)),
        marker: { size: 10, symbol: fits.map((f) => (f ? "circle" : "circle-open")) },
      },
      {
        type: "scatter",
        mode: "lines",
        name: "Pareto front of the means",
        x: front.map((c) => c.storedBytes),
        y: front.map((c) => 100 * c.accuracy.mean),
        line: { dash: "dot", shape: "hv" },
      },
      ...(chosen
        ? [
            {
              type: "scatter",
              mode: "markers",
              name: `choice: ${chosen.method}`,
              x: [chosen.storedBytes],
              y: [100 * chosen.accuracy.mean],
              marker: { size: 20, symbol: "star", color: "gold", line: { width: 1, color: "black" } },
            },
          ]
        : []),
    ],
    layout: {
      title: {
        text: `${title}: storage ≤ ${budget.storageBytes === Infinity ? "any" : mb(budget.storageBytes)}, memory ≤ ${budget.memoryBytes === Infinity ? "any" : mb(budget.memoryBytes)}`,
      },
      xaxis: { title: { text: "bytes stored per task" }, type: "log" },
      yaxis: { title: { text: "test accuracy (%)" } },
      shapes,
    },
  };
}
