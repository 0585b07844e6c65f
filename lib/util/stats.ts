/** Small statistics helpers: the benchmarks' median, and the means, intervals and paired bootstrap that comparisons over seeds report. */
import { Rng } from "./random";

/** The median (upper median for an even count). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new Error("median of no values");
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** The arithmetic mean. */
export function mean(xs: readonly number[]): number {
  if (xs.length === 0) throw new Error("mean of no values");
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** The sample standard deviation (n − 1 in the denominator); 0 for a single value. */
export function sampleStd(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
}

/** Pearson's correlation coefficient of paired values (NaN when either has no spread). */
export function pearson(xs: readonly number[], ys: readonly number[]): number {
  if (xs.length !== ys.length || xs.length < 2) throw new Error(`pearson needs two equally long lists of 2+ values, got ${xs.length} and ${ys.length}`);
  const mx = mean(xs);
  const my = mean(ys);
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < xs.length; i++) {
    sxy += (xs[i] - mx) * (ys[i] - my);
    sxx += (xs[i] - mx) ** 2;
    syy += (ys[i] - my) ** 2;
  }
  return sxy / Math.sqrt(sxx * syy);
}

/** Student's t: the 97.5 % quantile for 1–30 degrees of freedom (two-sided 95 %), the normal's 1.96 beyond. */
const T_975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069,
  2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/** Student's t quantile t(0.975, df): the factor of a two-sided 95 % interval (df = n − 1 for n values; 1.96 beyond 30). */
export function tQuantile975(df: number): number {
  if (!(Number.isInteger(df) && df >= 1)) throw new Error(`degrees of freedom must be a whole number ≥ 1, got ${df}`);
  return T_975[df - 1] ?? 1.96;
}

export interface Interval {
  mean: number;
  lo: number;
  hi: number;
}

/** The 95 % t-interval of the mean: mean ± t(0.975, n − 1) · s / √n. Needs two values or more. */
export function tInterval95(xs: readonly number[]): Interval {
  if (xs.length < 2) throw new Error(`a confidence interval needs at least two values, got ${xs.length}`);
  const m = mean(xs);
  const half = tQuantile975(xs.length - 1) * (sampleStd(xs) / Math.sqrt(xs.length));
  return { mean: m, lo: m - half, hi: m + half };
}

/**
 * The paired bootstrap of an accuracy difference. `a[s][i]` is 1 when system A got example i right in run s
 * (likewise `b`; runs are paired by index, e.g. the same seed). The statistic is the mean over runs of
 * accuracy(A) − accuracy(B); the test examples are resampled with replacement (the same draw for every run),
 * and the interval is the 2.5–97.5 % percentile range of the statistic over `resamples` draws. It measures
 * how much the difference depends on which examples happened to be in the test set.
 */
export function pairedBootstrap(a: readonly Uint8Array[], b: readonly Uint8Array[], opts: { resamples?: number; seed?: number } = {}): Interval {
  if (a.length === 0 || a.length !== b.length) throw new Error(`paired runs needed: got ${a.length} and ${b.length}`);
  const n = a[0].length;
  if ([...a, ...b].some((x) => x.length !== n)) throw new Error("every run must score the same test examples");
  // per example: the mean over runs of (A right) − (B right)
  const d = new Float64Array(n);
  for (let s = 0; s < a.length; s++) for (let i = 0; i < n; i++) d[i] += (a[s][i] - b[s][i]) / a.length;
  const observed = d.reduce((x, y) => x + y, 0) / n;
  const rng = new Rng(opts.seed ?? 0);
  const stats = Array.from({ length: opts.resamples ?? 2000 }, () => {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += d[rng.int(n)];
    return sum / n;
  }).sort((x, y) => x - y);
  const at = (q: number) => stats[Math.min(stats.length - 1, Math.max(0, Math.round(q * (stats.length - 1))))];
  return { mean: observed, lo: at(0.025), hi: at(0.975) };
}
