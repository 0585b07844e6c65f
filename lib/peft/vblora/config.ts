/** VB-LoRA's configuration, with peft's `VBLoRAConfig` fields and defaults. */
import { COMMON_DEFAULTS, CommonConfig } from "../config";

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
