/** Small statistics helpers for benchmarks. */

/** The median (upper median for an even count). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new Error("median of no values");
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}
