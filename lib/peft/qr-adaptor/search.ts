/**
 * QR-Adaptor's search (arXiv 2505.03802), independent of any model: the model enters through two inputs
 * the caller measures — per-layer importances (phase I) and an `evaluate` callback that scores one
 * configuration, e.g. validation accuracy after a short fine-tune on a data subset (phase II).
 *
 *   Phase I   warm start from the importances, greedily repaired into the memory budget (warm-start.ts).
 *   Phase II  NSGA-II (nsga2.ts) on the two objectives (−performance, memory). The first population is the
 *             warm start and its one-step neighbours; children come from uniform crossover and one-step
 *             mutations; every child is repaired into the budget. A cache guarantees no configuration is
 *             evaluated twice — evaluations are fine-tunes, by far the most expensive part. Optionally, a
 *             cheap k-nearest-neighbour surrogate pre-screens which children get a real evaluation.
 *   Phase III The paper refines a scalarised utility U = 0.6·P̂ − 0.4·M̂ with Bayesian optimisation. We skip
 *             the refinement (it is optional in the spec) and simply return the member of the Pareto front
 *             with the largest U, where P̂ and M̂ are the score and memory min-max normalised over the front.
 */
import { Rng } from "../../util/random";
import {
  Configuration,
  LECTURE_LADDERS,
  Ladders,
  LayerInfo,
  checkLadders,
  checkLayers,
  cloneConfig,
  configKey,
  formatBytes,
  memoryBreakdown,
  memoryBytes,
} from "./memory";
import { Importances, WarmStartResult, normalise, repairToBudget, warmStart } from "./warm-start";
import { RankAndCrowding, Scored, nsga2, selectSurvivors } from "./nsga2";

/** A configuration with its (expensive) score and its (exact) memory in bytes. */
export interface ScoredConfiguration {
  config: Configuration;
  score: number;
  memory: number;
}

/** Options of the optional surrogate pre-screening. */
export interface SurrogateOptions {
  /** Candidate children proposed per evaluation slot (default 3): the surrogate keeps the best 1/oversample. */
  oversample?: number;
  /** Neighbours of the k-nearest-neighbour predictor (default 3). */
  neighbours?: number;
}

export interface QrAdaptorSearchOptions {
  layers: LayerInfo[];
  /** Default: the lecture's ladders, bits {4, 8, 16} and ranks {0, 2, 4, 8, 16}. */
  ladders?: Ladders;
  /** The memory budget in bytes (see memory.ts for the memory model). */
  budgetBytes: number;
  /** Raw per-layer importances (normalised here). Measure them: all-equal importances carry no information. */
  importances: Importances;
  /** The score of a configuration, higher is better (e.g. validation accuracy after a short fine-tune). */
  evaluate: (config: Configuration) => Promise<number> | number;
  /** NSGA-II population size (default 40). */
  populationSize?: number;
  /** NSGA-II generations after the initial population (default 12). */
  generations?: number;
  /** Seed of the search's random number generator (the search is deterministic given the seed and evaluate). */
  seed: number;
  /** Probability that a knob (bits or rank) of a layer moves one rung in a mutation (default 1/(2·layers): one knob on average). */
  mutationRate?: number;
  /** Probability that a child starts from a uniform crossover of two parents (default 0.5). */
  crossoverRate?: number;
  /** Enables the surrogate pre-screening of children (off by default). */
  surrogate?: SurrogateOptions;
  /** Called with the generation (0 = initial population) and the current population's non-dominated members. */
  onGeneration?: (generation: number, front: ScoredConfiguration[]) => void;
}

/** One line of the search's history. */
export interface GenerationRecord {
  generation: number;
  /** Expensive evaluations so far. */
  evaluations: number;
  /** The population's non-dominated members, by memory ascending. */
  front: ScoredConfiguration[];
  bestScore: number;
}

export interface QrAdaptorResult {
  /** The front member with the largest utility 0.6·P̂ − 0.4·M̂. */
  chosen: Configuration;
  chosenScore: number;
  chosenMemory: number;
  chosenUtility: number;
  /** The Pareto front of everything evaluated, by memory ascending (every member fits the budget). */
  front: ScoredConfiguration[];
  /** The number of calls of `evaluate`. */
  evaluations: number;
  /** Phase I: the warm start, its repair steps, and its score. */
  warmStart: WarmStartResult & { score: number };
  history: GenerationRecord[];
}

/** Weights of the scalarised utility of phase III: U = 0.6·P̂ − 0.4·M̂. */
export const UTILITY_WEIGHTS = { performance: 0.6, memory: 0.4 };

/** U = 0.6·P̂ − 0.4·M̂ for each point, with P̂ and M̂ min-max normalised over the given points (all-equal → 0.5). */
export function scalarisedUtility(points: ScoredConfiguration[]): number[] {
  const p = normalise(points.map((x) => x.score));
  const m = normalise(points.map((x) => x.memory));
  return points.map((_, i) => UTILITY_WEIGHTS.performance * p[i] - UTILITY_WEIGHTS.memory * m[i]);
}

/** The one-step neighbours of a configuration: each knob of each layer one rung down or up, where possible. */
export function neighbours(config: Configuration, ladders: Ladders): Configuration[] {
  const out: Configuration[] = [];
  config.forEach((choice, l) => {
    const bi = ladders.bits.indexOf(choice.bits);
    const ri = ladders.ranks.indexOf(choice.rank);
    for (const j of [bi - 1, bi + 1]) {
      if (j < 0 || j >= ladders.bits.length) continue;
      const next = cloneConfig(config);
      next[l].bits = ladders.bits[j];
      out.push(next);
    }
    for (const j of [ri - 1, ri + 1]) {
      if (j < 0 || j >= ladders.ranks.length) continue;
      const next = cloneConfig(config);
      next[l].rank = ladders.ranks[j];
      out.push(next);
    }
  });
  return out;
}

/** One knob moved one rung in a random direction (the only direction at an end of the ladder). */
function stepKnob(ladder: number[], value: number, rng: Rng): number {
  const i = ladder.indexOf(value);
  if (ladder.length < 2) return value;
  if (i === 0) return ladder[1];
  if (i === ladder.length - 1) return ladder[i - 1];
  return ladder[rng.next() < 0.5 ? i - 1 : i + 1];
}

/**
 * One-step neighbour mutation (before repair): every knob moves one rung with probability `rate`; if none
 * moved, one random knob is moved so that the child always differs from its parent.
 */
export function mutateConfig(config: Configuration, ladders: Ladders, rate: number, rng: Rng): Configuration {
  const child = cloneConfig(config);
  let moved = false;
  for (const choice of child) {
    if (rng.next() < rate && ladders.bits.length > 1) {
      choice.bits = stepKnob(ladders.bits, choice.bits, rng);
      moved = true;
    }
    if (rng.next() < rate && ladders.ranks.length > 1) {
      choice.rank = stepKnob(ladders.ranks, choice.rank, rng);
      moved = true;
    }
  }
  if (!moved) {
    const knobs: Array<"bits" | "rank"> = [];
    if (ladders.bits.length > 1) knobs.push("bits");
    if (ladders.ranks.length > 1) knobs.push("rank");
    if (knobs.length > 0) {
      const choice = child[rng.int(child.length)];
      const knob = knobs[rng.int(knobs.length)];
      if (knob === "bits") choice.bits = stepKnob(ladders.bits, choice.bits, rng);
      else choice.rank = stepKnob(ladders.ranks, choice.rank, rng);
    }
  }
  return child;
}

/** Uniform crossover: each layer's (bits, rank) pair comes from either parent with probability 1/2. */
export function crossoverConfigs(a: Configuration, b: Configuration, rng: Rng): Configuration {
  return a.map((choice, l) => {
    const from = rng.next() < 0.5 ? choice : b[l];
    return { bits: from.bits, rank: from.rank };
  });
}

/**
 * The surrogate: a k-nearest-neighbour regression of the score on the configuration, with each knob
 * encoded as its position on the ladder scaled to [0, 1] and inverse-distance weights. Crude, but it needs
 * no fitting and is exact on configurations already evaluated.
 */
export function knnPredictor(archive: ScoredConfiguration[], ladders: Ladders, k: number): (config: Configuration) => number {
  const position = (ladder: number[], v: number): number => (ladder.length > 1 ? ladder.indexOf(v) / (ladder.length - 1) : 0);
  const features = (c: Configuration): number[] => c.flatMap((x) => [position(ladders.bits, x.bits), position(ladders.ranks, x.rank)]);
  const known = archive.map((a) => ({ f: features(a.config), score: a.score }));
  return (config) => {
    const f = features(config);
    const near = known
      .map((a) => ({ d: Math.sqrt(a.f.reduce((s, v, i) => s + (v - f[i]) ** 2, 0)), score: a.score }))
      .sort((x, y) => x.d - y.d)
      .slice(0, k);
    if (near.length === 0) return 0;
    if (near[0].d === 0) return near[0].score;
    let num = 0;
    let den = 0;
    for (const n of near) {
      num += n.score / n.d;
      den += 1 / n.d;
    }
    return num / den;
  };
}

function byMemory(points: ScoredConfiguration[]): ScoredConfiguration[] {
  return points.slice().sort((a, b) => a.memory - b.memory || b.score - a.score);
}

/** Runs phases I and II (and the utility choice of phase III) and returns the front and the chosen configuration. */
export async function qrAdaptorSearch(options: QrAdaptorSearchOptions): Promise<QrAdaptorResult> {
  const { layers, budgetBytes } = options;
  const ladders = options.ladders ?? LECTURE_LADDERS;
  checkLayers(layers);
  checkLadders(ladders);
  const populationSize = options.populationSize ?? 40;
  const generations = options.generations ?? 12;
  const mutationRate = options.mutationRate ?? 1 / (2 * layers.length);
  const rng = new Rng(options.seed);

  // Phase I
  const start = warmStart(layers, ladders, options.importances, budgetBytes);
  const repair = (config: Configuration): Configuration => repairToBudget(layers, config, ladders, start.normalised, budgetBytes).config;

  // The expensive evaluation, counted; the objectives to minimise are (−score, memory).
  let evaluations = 0;
  const evaluate = async (config: Configuration): Promise<number[]> => {
    const score = await options.evaluate(cloneConfig(config));
    evaluations++;
    if (!Number.isFinite(score)) throw new Error(`QR-Adaptor: evaluate returned ${score} for ${configKey(config)}; expected a finite score`);
    return [-score, memoryBytes(layers, config)];
  };
  const toScored = (s: Scored<Configuration>): ScoredConfiguration => ({ config: cloneConfig(s.individual), score: -s.objectives[0], memory: s.objectives[1] });

  // The first population: the warm start, then its one-step neighbours (repaired, distinct) in random
  // order, then — if the neighbourhood is too small — random walks from members already chosen.
  const initial: Configuration[] = [start.config];
  const seen = new Set([configKey(start.config)]);
  const add = (c: Configuration): void => {
    const k = configKey(c);
    if (initial.length < populationSize && !seen.has(k)) {
      seen.add(k);
      initial.push(c);
    }
  };
  for (const n of rng.shuffle(neighbours(start.config, ladders))) add(repair(n));
  for (let attempt = 0; initial.length < populationSize && attempt < 20 * populationSize; attempt++) {
    add(repair(mutateConfig(initial[rng.int(initial.length)], ladders, mutationRate, rng)));
  }

  const history: GenerationRecord[] = [];
  const surrogate = options.surrogate;
  const result = await nsga2<Configuration>({
    initial,
    evaluate,
    mutate: (x, r) => repair(mutateConfig(x, ladders, mutationRate, r)),
    crossover: crossoverConfigs,
    crossoverRate: options.crossoverRate ?? 0.5,
    key: configKey,
    populationSize,
    generations,
    rng,
    oversample: surrogate?.oversample ?? 3,
    screen: surrogate
      ? (candidates, count, archive) => {
          const predict = knnPredictor(archive.map(toScored), ladders, surrogate.neighbours ?? 3);
          const predicted = candidates.map((c) => [-predict(c), memoryBytes(layers, c)]);
          return selectSurvivors(predicted, count).map((i) => candidates[i]);
        }
      : undefined,
    onGeneration: (generation: number, population: Scored<Configuration>[], rc: RankAndCrowding) => {
      const front = byMemory(rc.fronts[0].map((i) => toScored(population[i])));
      const bestScore = Math.max(...population.map((p) => -p.objectives[0]));
      history.push({ generation, evaluations, front, bestScore });
      options.onGeneration?.(generation, front);
    },
  });

  const front = byMemory(result.front.map(toScored));
  const utility = scalarisedUtility(front);
  let best = 0;
  for (let i = 1; i < front.length; i++) if (utility[i] > utility[best]) best = i;
  const warmEntry = result.archive.find((a) => configKey(a.individual) === configKey(start.config));
  if (warmEntry === undefined) throw new Error("QR-Adaptor: internal error, the warm start was not evaluated");
  const warmScore = -warmEntry.objectives[0];
  return {
    chosen: cloneConfig(front[best].config),
    chosenScore: front[best].score,
    chosenMemory: front[best].memory,
    chosenUtility: utility[best],
    front,
    evaluations,
    warmStart: { ...start, score: warmScore },
    history,
  };
}

/** A readable table of a configuration: per layer its bits, rank and where its bytes go, with totals. */
export function formatConfiguration(layers: LayerInfo[], config: Configuration): string {
  const b = memoryBreakdown(layers, config);
  const nameWidth = Math.max(5, ...layers.map((l) => l.name.length));
  const cell = (s: string | number, w = 12): string => String(s).padStart(w);
  const header = "layer".padEnd(nameWidth) + cell("bits", 6) + cell("rank", 6) + cell("weights") + cell("LoRA") + cell("constants") + cell("total");
  const rows = b.layers.map(
    (m) =>
      m.name.padEnd(nameWidth) +
      cell(m.bits, 6) +
      cell(m.rank, 6) +
      cell(formatBytes(m.weightBytes)) +
      cell(formatBytes(m.loraBytes)) +
      cell(formatBytes(m.constantBytes)) +
      cell(formatBytes(m.totalBytes)),
  );
  const total =
    "total".padEnd(nameWidth) +
    cell("", 6) +
    cell("", 6) +
    cell(formatBytes(b.weightBytes)) +
    cell(formatBytes(b.loraBytes)) +
    cell(formatBytes(b.constantBytes)) +
    cell(formatBytes(b.totalBytes));
  const rule = "-".repeat(header.length);
  return [header, rule, ...rows, rule, total].join("\n");
}
