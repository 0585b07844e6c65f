/** WaveFT as a registered PEFT method (see ../registry.ts): the coefficient budget is planned over all targets. */
import { configFromJson } from "../config";
import { waveftConfig, WaveFTConfig } from "./config";
import type { PeftMethod } from "../registry";

declare module "../registry" {
  interface PeftConfigs {
    WAVEFT: WaveFTConfig;
  }
}
import { WaveFTLayer, waveftFrequencies } from "./layer";

export const waveftMethod: PeftMethod<WaveFTConfig, WaveFTLayer> = {
  peftType: "WAVEFT",
  fromJson: (json) => waveftConfig(configFromJson(json, waveftConfig())),
  conformance: {
    examples: [
      { n_frequency: 16, scaling: 25 },
      { n_frequency: 24, proportional_parameters: true },
    ],
    identityAtInit: true,
  },
  plan: (config, targets) =>
    waveftFrequencies(
      config,
      targets.map((t) => t.name),
      targets,
    ),
  createLayer: (base) => new WaveFTLayer(base),
  isLayer: (layer): layer is WaveFTLayer => layer instanceof WaveFTLayer,
  addAdapter(l, config, ctx) {
    const { adapterName, rng, planned } = ctx;
    l.addAdapter(adapterName, {
      n: planned ?? config.nFrequency,
      scaling: config.scaling,
      waveletFamily: config.waveletFamily,
      useIdwt: config.useIdwt,
      randomLocSeed: config.randomLocSeed,
      initWeights: config.initWeights,
      rng,
    });
  },
  countParameters: (config, _t, planned) => planned ?? config.nFrequency,
};
