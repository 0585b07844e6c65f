/** WaveFT as a registered PEFT method (see ../registry.ts): the coefficient budget is planned over all targets. */
import type { BaseLinear } from "../adapter-layer";
import { configFromJson } from "../config";
import { waveftConfig, WaveFTConfig } from "./config";
import type { PeftMethod } from "../registry";

declare module "../registry" {
  interface PeftConfigs {
    WAVEFT: WaveFTConfig;
  }
}
import { WaveFTLayer, waveftFrequencies } from "./layer";

export const waveftMethod: PeftMethod<WaveFTConfig> = {
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
  inject(layer, base, config, ctx) {
    const { adapterName, rng, planned } = ctx;
    const l = (layer as WaveFTLayer | null) ?? new WaveFTLayer(base as BaseLinear);
    l.addAdapter(adapterName, {
      n: planned ?? config.nFrequency,
      scaling: config.scaling,
      waveletFamily: config.waveletFamily,
      useIdwt: config.useIdwt,
      randomLocSeed: config.randomLocSeed,
      initWeights: config.initWeights,
      rng,
    });
    return l;
  },
  countParameters: (config, _t, planned) => planned ?? config.nFrequency,
};
