/**
 * Adapter configurations with huggingface/peft's field names (camelCase here, snake_case in
 * `adapter_config.json`) and defaults, so a config written here reads the same in Python and back.
 */

export type TaskType = "SEQ_CLS" | "FEATURE_EXTRACTION";

/** Fields every adapter method shares. */
export interface CommonConfig {
  /** Module names (list) or a full-match regular expression (string); see targets.ts. */
  targetModules: string[] | string;
  /** Modules trained and saved whole beside the adapter (e.g. the new classifier head). */
  modulesToSave: string[] | null;
  taskType: TaskType | null;
  baseModelNameOrPath: string | null;
  inferenceMode: boolean;
}

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

const COMMON_DEFAULTS: CommonConfig = {
  targetModules: ["query", "value"],
  modulesToSave: null,
  taskType: null,
  baseModelNameOrPath: null,
  inferenceMode: false,
};

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

/** camelCase → snake_case ("loraAlpha" → "lora_alpha"). */
export function snakeCase(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

export function camelCase(key: string): string {
  return key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** The config as peft's `adapter_config.json` object (snake_case keys, sorted). */
export function configToJson(config: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(config)) out[snakeCase(k)] = v;
  return Object.fromEntries(
    Object.keys(out)
      .sort()
      .map((k) => [k, out[k]]),
  );
}

/** Reads the fields of `defaults` from a peft `adapter_config.json` object; other keys are ignored. */
export function configFromJson<C extends object>(json: Record<string, unknown>, defaults: C): C {
  const out: Record<string, unknown> = { ...(defaults as Record<string, unknown>) };
  for (const key of Object.keys(defaults)) {
    const v = json[snakeCase(key)];
    if (v !== undefined) out[key] = v;
  }
  return out as C;
}

export interface VBLoRAConfig extends CommonConfig {
  peftType: "VBLORA";
  r: number;
  /** h: vectors in the shared bank. */
  numVectors: number;
  /** b: length of each bank vector; every adapted width must be a multiple of it. */
  vectorLength: number;
  topk: number;
  vbloraDropout: number;
  initVectorBankBound: number;
  initLogitsStd: number;
  /** Save only the top-k indices and weights (smaller; the loaded model runs but cannot resume training). */
  saveOnlyTopkWeights: boolean;
}

export function vbloraConfig(overrides: Partial<Omit<VBLoRAConfig, "peftType">> = {}): VBLoRAConfig {
  const c: VBLoRAConfig = {
    ...COMMON_DEFAULTS,
    peftType: "VBLORA",
    r: 4,
    numVectors: 256,
    vectorLength: 256,
    topk: 2,
    vbloraDropout: 0,
    initVectorBankBound: 0.02,
    initLogitsStd: 0.1,
    saveOnlyTopkWeights: false,
    ...overrides,
  };
  if (c.topk < 1 || c.topk > c.numVectors) throw new Error(`VBLoRAConfig: topk must be in [1, numVectors], got ${c.topk}`);
  return c;
}

export interface WaveFTConfig extends CommonConfig {
  peftType: "WAVEFT";
  /** Trainable wavelet coefficients per adapted layer. */
  nFrequency: number;
  /** ΔW = scaling · IDWT(coefficients), like LoRA's alpha. */
  scaling: number;
  /** "db1" (Haar), "db2"…, "sym2"…, "coif1"… */
  waveletFamily: string;
  /** false: use the sparse coefficients directly as ΔW (no inverse transform). */
  useIdwt: boolean;
  /** Seed of the coefficient positions (torch.randperm with this seed). */
  randomLocSeed: number;
  /** Per-module overrides of nFrequency, matched with `(.*\.)?key$`. */
  nFrequencyPattern: Record<string, number>;
  /** Allocate n in proportion to each layer's in·out (peft: "for experimental thoroughness"). */
  proportionalParameters: boolean;
  /** true: spectrum starts at zero (an exact no-op); false: N(0, 0.01²). */
  initWeights: boolean;
}

export function waveftConfig(overrides: Partial<Omit<WaveFTConfig, "peftType">> = {}): WaveFTConfig {
  return {
    ...COMMON_DEFAULTS,
    peftType: "WAVEFT",
    nFrequency: 2592,
    scaling: 25,
    waveletFamily: "db1",
    useIdwt: true,
    randomLocSeed: 777,
    nFrequencyPattern: {},
    proportionalParameters: false,
    initWeights: true,
    ...overrides,
  };
}
