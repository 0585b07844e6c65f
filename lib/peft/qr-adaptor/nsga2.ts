/**
 * NSGA-II (Deb, Pratap, Agarwal & Meyarivan, 2002): an evolutionary algorithm for several objectives at
 * once, all to be *minimised*. Generic over the individual type T; QR-Adaptor uses it on per-layer
 * (bits, rank) configurations with objectives (−performance, memory).
 *
 * The ideas, in the order the code uses them:
 *   - a dominates b  if a is no worse in every objective and strictly better in at least one;
 *   - fast non-dominated sorting splits a population into fronts F1, F2, …: F1 is dominated by nobody,
 *     F2 only by members of F1, and so on. The front index is an individual's "rank" (0 = best);
 *   - crowding distance measures, within one front, how much empty space surrounds a point (the sum over
 *     objectives of the normalised gap between its two neighbours; the extremes get ∞). Larger = lonelier;
 *   - binary tournament: draw two individuals, keep the one with the lower rank, or on equal rank the
 *     larger crowding distance — pressure towards the front, and along it towards unexplored regions;
 *   - elitist survivor selection: parents and children compete together; whole fronts are kept in order
 *     while they fit, and the front that does not fit is cut by crowding distance.
 *
 * Constraints are not handled here: QR-Adaptor repairs every configuration into the memory budget before
 * it is evaluated, so every individual is feasible.
 */
import { Rng } from "../../util/random";

/** True if objective vector a dominates b (minimisation). */
export function dominates(a: number[], b: number[]): boolean {
  let strictlyBetter = false;
  for (let k = 0; k < a.length; k++) {
    if (a[k] > b[k]) return false;
    if (a[k] < b[k]) strictlyBetter = true;
  }
  return strictlyBetter;
}

/**
 * Fast non-dominated sorting: the fronts, as lists of indices into `objectives`, best front first.
 * For each point p we count how many points dominate it (n_p) and list the points it dominates (S_p); the
 * points with n_p = 0 form F1; removing them lowers the counts of the points they dominate, and the points
 * whose count reaches 0 form F2; and so on. O(M N²) for N points and M objectives.
 */
export function nonDominatedSort(objectives: number[][]): number[][] {
  const n = objectives.length;
  const dominatedBy = new Array<number>(n).fill(0);
  const dominatesList: number[][] = objectives.map(() => []);
  const fronts: number[][] = [[]];
  for (let p = 0; p < n; p++) {
    for (let q = 0; q < n; q++) {
      if (p === q) continue;
      if (dominates(objectives[p], objectives[q])) dominatesList[p].push(q);
      else if (dominates(objectives[q], objectives[p])) dominatedBy[p]++;
    }
    if (dominatedBy[p] === 0) fronts[0].push(p);
  }
  let i = 0;
  while (fronts[i].length > 0) {
    const next: number[] = [];
    for (const p of fronts[i]) {
      for (const q of dominatesList[p]) {
        dominatedBy[q]--;
        if (dominatedBy[q] === 0) next.push(q);
      }
    }
    next.sort((a, b) => a - b);
    fronts.push(next);
    i++;
  }
  fronts.pop(); // the last, empty front
  return fronts;
}

/**
 * Crowding distances of the points of one front (indices into `objectives`), in the order of `front`.
 * For each objective the front is sorted by it; the two extremes get ∞ and every other point adds the gap
 * between its neighbours divided by the objective's range on the front. An objective with zero range on
 * the front adds nothing.
 */
export function crowdingDistance(objectives: number[][], front: number[]): number[] {
  const distance = new Array<number>(front.length).fill(0);
  if (front.length === 0) return distance;
  const m = objectives[front[0]].length;
  for (let k = 0; k < m; k++) {
    const order = front.map((_, i) => i).sort((a, b) => objectives[front[a]][k] - objectives[front[b]][k]);
    const lo = objectives[front[order[0]]][k];
    const hi = objectives[front[order[order.length - 1]]][k];
    distance[order[0]] = Infinity;
    distance[order[order.length - 1]] = Infinity;
    if (hi === lo) continue;
    for (let j = 1; j < order.length - 1; j++) {
      distance[order[j]] += (objectives[front[order[j + 1]]][k] - objectives[front[order[j - 1]]][k]) / (hi - lo);
    }
  }
  return distance;
}

/** Each point's front index (rank, 0 = non-dominated) and crowding distance within its front. */
export interface RankAndCrowding {
  rank: number[];
  crowding: number[];
  fronts: number[][];
}

export function rankAndCrowding(objectives: number[][]): RankAndCrowding {
  const fronts = nonDominatedSort(objectives);
  const rank = new Array<number>(objectives.length).fill(0);
  const crowding = new Array<number>(objectives.length).fill(0);
  fronts.forEach((front, f) => {
    const d = crowdingDistance(objectives, front);
    front.forEach((p, i) => {
      rank[p] = f;
      crowding[p] = d[i];
    });
  });
  return { rank, crowding, fronts };
}

/** The crowded-comparison order: true if a is better than b (lower rank, or same rank and more crowding distance). */
export function crowdedBetter(a: number, b: number, rc: RankAndCrowding): boolean {
  if (rc.rank[a] !== rc.rank[b]) return rc.rank[a] < rc.rank[b];
  return rc.crowding[a] > rc.crowding[b];
}

/** Binary tournament: two random individuals, the crowded-better one wins (the first drawn on a tie). */
export function tournament(rng: Rng, rc: RankAndCrowding): number {
  const n = rc.rank.length;
  const a = rng.int(n);
  const b = rng.int(n);
  return crowdedBetter(b, a, rc) ? b : a;
}

/**
 * Elitist survivor selection of Deb et al. 2002: the indices of the `count` points kept. Whole fronts are
 * taken in order while they fit; the first front that does not fit is sorted by crowding distance
 * (largest first, stable) and cut.
 */
export function selectSurvivors(objectives: number[][], count: number): number[] {
  const kept: number[] = [];
  for (const front of nonDominatedSort(objectives)) {
    if (kept.length + front.length <= count) {
      kept.push(...front);
      if (kept.length === count) break;
      continue;
    }
    const d = crowdingDistance(objectives, front);
    const order = front.map((_, i) => i).sort((a, b) => (d[b] === d[a] ? 0 : d[b] > d[a] ? 1 : -1));
    for (const i of order.slice(0, count - kept.length)) kept.push(front[i]);
    break;
  }
  return kept;
}

/** An individual with its objective vector. */
export interface Scored<T> {
  individual: T;
  objectives: number[];
}

export interface Nsga2Options<T> {
  /** The first population (at most populationSize distinct individuals are used). */
  initial: T[];
  /** The objective vector to minimise. Called once per distinct individual (results are cached by key). */
  evaluate: (x: T) => number[] | Promise<number[]>;
  /** A child from one parent: a small random change. */
  mutate: (x: T, rng: Rng) => T;
  /** A child from two parents, applied with probability crossoverRate before the mutation. */
  crossover?: (a: T, b: T, rng: Rng) => T;
  crossoverRate?: number;
  /** Identity of an individual, for the evaluation cache and to keep the population free of duplicates. */
  key: (x: T) => string;
  populationSize: number;
  generations: number;
  rng: Rng;
  /**
   * Optional pre-screening: given more candidate children than needed (oversample × populationSize) and
   * everything evaluated so far, return the `count` candidates worth an expensive evaluation.
   */
  screen?: (candidates: T[], count: number, archive: Scored<T>[]) => T[];
  /** How many candidate children per slot to propose when `screen` is given (default 3). */
  oversample?: number;
  /** Called after the initial population (generation 0) and after each generation, with the population. */
  onGeneration?: (generation: number, population: Scored<T>[], rc: RankAndCrowding) => void;
}

export interface Nsga2Result<T> {
  /** The final population. */
  population: Scored<T>[];
  /** Every individual evaluated, in evaluation order. */
  archive: Scored<T>[];
  /** The non-dominated members of the archive: the best trade-offs found by the whole run. */
  front: Scored<T>[];
  /** The number of calls of `evaluate` (= distinct individuals evaluated). */
  evaluations: number;
}

/** The non-dominated members of a list of scored individuals, in their original order. */
export function paretoFront<T>(points: Scored<T>[]): Scored<T>[] {
  if (points.length === 0) return [];
  return nonDominatedSort(points.map((p) => p.objectives))[0].map((i) => points[i]);
}

/**
 * Runs NSGA-II. Each generation: tournament-select parents, make populationSize new distinct children
 * (crossover, then mutation; optionally pre-screened), evaluate them, and keep the best populationSize of
 * parents ∪ children. Children identical to a current member are rejected (in a discrete space duplicates
 * would otherwise fill the population); if the space is too small to find enough new children, the
 * generation simply has fewer.
 */
export async function nsga2<T>(options: Nsga2Options<T>): Promise<Nsga2Result<T>> {
  const { rng, key, populationSize } = options;
  if (populationSize < 2) throw new Error("NSGA-II: populationSize must be at least 2");
  const crossoverRate = options.crossoverRate ?? 0.5;
  const cache = new Map<string, number[]>();
  const archive: Scored<T>[] = [];
  const score = async (x: T): Promise<Scored<T>> => {
    const k = key(x);
    let objectives = cache.get(k);
    if (objectives === undefined) {
      objectives = await options.evaluate(x);
      cache.set(k, objectives);
      archive.push({ individual: x, objectives });
    }
    return { individual: x, objectives };
  };

  let population: Scored<T>[] = [];
  const seen = new Set<string>();
  for (const x of options.initial) {
    if (population.length >= populationSize) break;
    if (seen.has(key(x))) continue;
    seen.add(key(x));
    population.push(await score(x));
  }
  if (population.length === 0) throw new Error("NSGA-II: empty initial population");
  let rc = rankAndCrowding(population.map((p) => p.objectives));
  options.onGeneration?.(0, population, rc);

  for (let gen = 1; gen <= options.generations; gen++) {
    const wanted = options.screen ? populationSize * (options.oversample ?? 3) : populationSize;
    const taken = new Set(population.map((p) => key(p.individual)));
    let children: T[] = [];
    for (let attempt = 0; children.length < wanted && attempt < 20 * wanted; attempt++) {
      const a = population[tournament(rng, rc)].individual;
      let child = a;
      if (options.crossover && rng.next() < crossoverRate) {
        child = options.crossover(a, population[tournament(rng, rc)].individual, rng);
      }
      child = options.mutate(child, rng);
      const k = key(child);
      if (taken.has(k)) continue;
      taken.add(k);
      children.push(child);
    }
    if (options.screen && children.length > populationSize) children = options.screen(children, populationSize, archive);
    const offspring: Scored<T>[] = [];
    for (const child of children) offspring.push(await score(child));
    const combined = population.concat(offspring);
    population = selectSurvivors(
      combined.map((p) => p.objectives),
      populationSize,
    ).map((i) => combined[i]);
    rc = rankAndCrowding(population.map((p) => p.objectives));
    options.onGeneration?.(gen, population, rc);
  }
  return { population, archive, front: paretoFront(archive), evaluations: cache.size };
}
