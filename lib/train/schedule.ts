/**
 * Learning-rate schedules as functions of the step (0-based), matching transformers'
 * `get_linear_schedule_with_warmup` and `get_cosine_schedule_with_warmup`.
 */
export type ScheduleKind = "linear" | "cosine" | "constant";

export function learningRate(kind: ScheduleKind, baseLr: number, step: number, totalSteps: number, warmupSteps: number): number {
  if (step < warmupSteps) return (baseLr * step) / Math.max(1, warmupSteps);
  if (kind === "constant") return baseLr;
  const progress = (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps);
  if (kind === "linear") return baseLr * Math.max(0, 1 - progress);
  return baseLr * Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
}
