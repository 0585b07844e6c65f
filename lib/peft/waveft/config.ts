/** WaveFT's configuration, with peft's `WaveFTConfig` fields and defaults. */
import { COMMON_DEFAULTS, CommonConfig } from "../config";

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
