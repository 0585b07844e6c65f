/** LoRA (rsLoRA, DoRA, and the LoRA part of QLoRA) as a registered PEFT method: see ../registry.ts. */
import { configFromJson } from "../config";
import { loraConfig, LoraConfig } from "./config";
import type { PeftMethod } from "../registry";

declare module "../registry" {
  interface PeftConfigs {
    LORA: LoraConfig;
  }
}
import { patternValue } from "../targets";
import { LoraLayer } from "./layer";

export const loraMethod: PeftMethod<LoraConfig, LoraLayer> = {
  peftType: "LORA",
  fromJson: (json) => loraConfig(configFromJson(json, loraConfig())),
  conformance: {
    examples: [
      { r: 2, lora_alpha: 4 },
      { r: 2, lora_alpha: 4, use_dora: true },
      { r: 4, lora_alpha: 8, use_rslora: true },
    ],
    identityAtInit: true,
  },
  createLayer: (base) => new LoraLayer(base),
  isLayer: (layer): layer is LoraLayer => layer instanceof LoraLayer,
  addAdapter(l, config, ctx) {
    const { moduleName, adapterName, rng } = ctx;
    const r = patternValue(moduleName, config.rankPattern, config.r);
    const alpha = patternValue(moduleName, config.alphaPattern, config.loraAlpha);
    l.addAdapter(adapterName, {
      r,
      alpha,
      dropout: config.loraDropout,
      useRslora: config.useRslora,
      useDora: config.useDora,
      init: config.initLoraWeights,
      rng,
    });
  },
  // peft saves DoRA's magnitude as "…lora_magnitude_vector", without the ".weight" of its module
  savedKey: (key, member) => (member === "lora_magnitude_vector" ? key.replace(/\.weight$/, "") : key),
  countParameters: (config, t) => LoraLayer.parameterCount(t.inFeatures, t.outFeatures, patternValue(t.name, config.rankPattern, config.r), config.useDora),
};
