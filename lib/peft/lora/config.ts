/** LoRA's configuration (rsLoRA and DoRA are options of it), with peft's `LoraConfig` fields and defaults. */
import { COMMON_DEFAULTS, CommonConfig } from "../config";

export interface LoraConfig extends CommonConfig {
  peftType: "LORA";
  r: number;
  loraAlpha: number;
  loraDropout: number;
  /** Scale by alpha/√r instead of alpha/r (rank-stabilised LoRA). */
  useRslora: boolean;
  /** Weight-decomposed LoRA (DoRA): a trainable per-row magnitude on top of LoRA. */
  useDora: boolean;
  /** Per-module rank overrides: key → r, matched with `(.*\.)?key$`. */
  rankPattern: Record<string, number>;
  alphaPattern: Record<string, number>;
  /** true: A kaiming-uniform, B zero (a no-op); "gaussian": A ~ N(0, 1/r), B zero; false: both random (not a no-op). */
  initLoraWeights: boolean | "gaussian";
}

export function loraConfig(overrides: Partial<Omit<LoraConfig, "peftType">> = {}): LoraConfig {
  const c: LoraConfig = {
    ...COMMON_DEFAULTS,
    peftType: "LORA",
    r: 8,
    loraAlpha: 8,
    loraDropout: 0,
    useRslora: false,
    useDora: false,
    rankPattern: {},
    alphaPattern: {},
    initLoraWeights: true,
    ...overrides,
  };
  if (!Number.isInteger(c.r) || c.r <= 0) throw new Error(`LoraConfig: r must be a positive integer, got ${c.r}`);
  if (!(c.loraDropout >= 0 && c.loraDropout < 1)) throw new Error(`LoraConfig: loraDropout must be in [0, 1), got ${c.loraDropout}`);
  return c;
}
