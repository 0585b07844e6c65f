/**
 * QR-Adaptor, phase I: a warm start from per-layer sensitivities, then a greedy repair into the budget.
 *
 * The lead measures two importances per layer on calibration data (a model-dependent step, not done here):
 *   I_q — how much the loss suffers when the layer's weights are quantized harder,
 *   I_r — how much the layer gains from LoRA capacity.
 * Each is min-max normalised over the layers to [0, 1], so only the *ranking and spread* of the layers
 * matter, not the units of the measurement.
 *
 * Warm start: a layer with importance I gets the ladder value nearest to  v_min + (v_max − v_min) · I
 * (ties go to the smaller value): the most sensitive layer gets the top of the ladder, the least sensitive
 * the bottom, the others in between.
 *
 * Repair: the warm start ignores the budget, so while the configuration is over budget we take the single
 * one-step downgrade (one layer's bits one rung down, or its rank one rung down) that gives up the least
 * importance per byte saved, i.e. the smallest  (I + 1e-8) / ΔM.  The 1e-8 keeps layers of importance 0
 * comparable by their savings: among them the one that saves the most bytes goes first. Ties go to the
 * first candidate in the order (layer 0 bits, layer 0 rank, layer 1 bits, …).
 */
import { Configuration, Ladders, LayerInfo, checkLadders, checkLayers, cloneConfig, formatBytes, layerBytes, memoryBytes, minimumMemoryBytes } from "./memory";

/** Per-layer importances, one number per layer for each knob. */
export interface Importances {
  /** Sensitivity of each layer to quantization. */
  iq: number[];
  /** Sensitivity of each layer to LoRA capacity. */
  ir: number[];
}

/** Added to every importance in the repair ratio so that zero-importance layers still compare by bytes saved. */
export const REPAIR_EPSILON = 1e-8;

/**
 * Min-max normalisation to [0, 1]. If all values are equal there is no ranking to express, so every layer
 * gets 0.5, the middle of its ladder — rather than 0 (NaN from 0/0, or the bottom of the ladder). This is
 * also what the released code's all-zero default importances would turn into: measure real ones.
 */
export function normalise(values: number[]): number[] {
  for (const v of values) if (!Number.isFinite(v)) throw new Error(`QR-Adaptor: importance ${v} is not a finite number`);
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  if (hi === lo) return values.map(() => 0.5);
  return values.map((v) => (v - lo) / (hi - lo));
}

/** Both importances normalised, after checking there is one of each per layer. */
export function normaliseImportances(importances: Importances, layerCount: number): Importances {
  if (importances.iq.length !== layerCount || importances.ir.length !== layerCount) {
    throw new Error(`QR-Adaptor: expected ${layerCount} importances per knob, got iq ${importances.iq.length} and ir ${importances.ir.length}`);
  }
  return { iq: normalise(importances.iq), ir: normalise(importances.ir) };
}

/** The ladder value nearest to `target`; on a tie the smaller one (ladders are ascending, so the first). */
export function nearestOnLadder(target: number, ladder: number[]): number {
  let best = ladder[0];
  for (const v of ladder) if (Math.abs(v - target) < Math.abs(best - target)) best = v;
  return best;
}

/** The warm start before any repair: each knob placed on its ladder by the layer's normalised importance. */
export function warmStartConfig(normalised: Importances, ladders: Ladders): Configuration {
  const place = (ladder: number[], i: number): number => nearestOnLadder(ladder[0] + (ladder[ladder.length - 1] - ladder[0]) * i, ladder);
  return normalised.iq.map((iq, l) => ({ bits: place(ladders.bits, iq), rank: place(ladders.ranks, normalised.ir[l]) }));
}

/** One greedy downgrade of the repair, recorded for teaching. */
export interface RepairStep {
  layer: number;
  name: string;
  knob: "bits" | "rank";
  from: number;
  to: number;
  /** The layer's normalised importance for this knob. */
  importance: number;
  /** ΔM: bytes saved by this step. */
  savedBytes: number;
  /** (importance + 1e-8) / ΔM — the smallest among all candidates. */
  ratio: number;
  /** M(config) after the step. */
  memoryAfter: number;
}

export interface RepairResult {
  config: Configuration;
  memory: number;
  steps: RepairStep[];
}

/** The error for a budget nothing fits, saying what to do about it. */
export function budgetError(budgetBytes: number, minimumBytes: number, stuckAtBytes?: number): Error {
  const stuck = stuckAtBytes === undefined ? "" : ` (the downgrade-only repair stopped at ${stuckAtBytes} bytes)`;
  return new Error(
    `QR-Adaptor: the memory budget of ${budgetBytes} bytes (${formatBytes(budgetBytes)}) cannot be met${stuck}: ` +
      `the smallest configuration on these ladders needs ${minimumBytes} bytes (${formatBytes(minimumBytes)}). ` +
      `Raise budgetBytes to at least ${minimumBytes}, or add lower rungs to the ladders (fewer bits, rank 0), or adapt fewer modules.`,
  );
}

function ladderIndex(ladder: number[], value: number, what: string): number {
  const i = ladder.indexOf(value);
  if (i < 0) throw new Error(`QR-Adaptor: ${what} ${value} is not on the ladder [${ladder.join(", ")}]`);
  return i;
}

/**
 * Greedy repair: while M(config) > budget, apply the one-step downgrade with the smallest (I + 1e-8)/ΔM.
 * Steps that save no bytes are never taken. Throws `budgetError` if the budget is below the smallest
 * reachable memory, or if no saving downgrade is left. The input configuration is not modified.
 */
export function repairToBudget(layers: LayerInfo[], config: Configuration, ladders: Ladders, normalised: Importances, budgetBytes: number): RepairResult {
  const minimum = minimumMemoryBytes(layers, ladders);
  if (budgetBytes < minimum) throw budgetError(budgetBytes, minimum);
  const current = cloneConfig(config);
  let memory = memoryBytes(layers, current);
  const steps: RepairStep[] = [];
  while (memory > budgetBytes) {
    let best: Omit<RepairStep, "memoryAfter"> | null = null;
    for (let l = 0; l < layers.length; l++) {
      const choice = current[l];
      const before = layerBytes(layers[l], choice);
      const bi = ladderIndex(ladders.bits, choice.bits, `layer ${layers[l].name}: bit-width`);
      const ri = ladderIndex(ladders.ranks, choice.rank, `layer ${layers[l].name}: rank`);
      const candidates: Array<{ knob: "bits" | "rank"; to: number; importance: number; after: number }> = [];
      if (bi > 0)
        candidates.push({
          knob: "bits",
          to: ladders.bits[bi - 1],
          importance: normalised.iq[l],
          after: layerBytes(layers[l], { bits: ladders.bits[bi - 1], rank: choice.rank }),
        });
      if (ri > 0)
        candidates.push({
          knob: "rank",
          to: ladders.ranks[ri - 1],
          importance: normalised.ir[l],
          after: layerBytes(layers[l], { bits: choice.bits, rank: ladders.ranks[ri - 1] }),
        });
      for (const c of candidates) {
        const savedBytes = before - c.after;
        if (savedBytes <= 0) continue;
        const ratio = (c.importance + REPAIR_EPSILON) / savedBytes;
        if (best === null || ratio < best.ratio) {
          best = {
            layer: l,
            name: layers[l].name,
            knob: c.knob,
            from: c.knob === "bits" ? choice.bits : choice.rank,
            to: c.to,
            importance: c.importance,
            savedBytes,
            ratio,
          };
        }
      }
    }
    if (best === null) throw budgetError(budgetBytes, minimum, memory);
    if (best.knob === "bits") current[best.layer].bits = best.to;
    else current[best.layer].rank = best.to;
    memory = memoryBytes(layers, current);
    steps.push({ ...best, memoryAfter: memory });
  }
  return { config: current, memory, steps };
}

export interface WarmStartResult {
  /** The importances after min-max normalisation. */
  normalised: Importances;
  /** The warm start before repair, and its memory. */
  initial: Configuration;
  initialMemory: number;
  /** The repair's downgrades, in order (empty if the warm start already fits). */
  steps: RepairStep[];
  /** The repaired warm start, and its memory (≤ budget). */
  config: Configuration;
  memory: number;
}

/** Phase I in one call: normalise, place each layer on the ladders, repair into the budget. */
export function warmStart(layers: LayerInfo[], ladders: Ladders, importances: Importances, budgetBytes: number): WarmStartResult {
  checkLayers(layers);
  checkLadders(ladders);
  const normalised = normaliseImportances(importances, layers.length);
  const initial = warmStartConfig(normalised, ladders);
  const initialMemory = memoryBytes(layers, initial);
  const repaired = repairToBudget(layers, initial, ladders, normalised, budgetBytes);
  return { normalised, initial, initialMemory, steps: repaired.steps, config: repaired.config, memory: repaired.memory };
}
