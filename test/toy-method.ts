/**
 * A toy PEFT method defined entirely here, in a test file: a rank-1 update ΔW = u vᵀ ("TOYRANK1", u starts at
 * zero). Registering it is one call; test/unit/registry.test.ts and the conformance suite run it like a built-in.
 */
import * as tf from "@tensorflow/tfjs";
import { ParameterDict } from "../lib/nn/module";
import { AdapterLayer, BaseLinear } from "../lib/peft/adapter-layer";
import { CommonConfig, configFromJson } from "../lib/peft/config";
import { registeredPeftTypes, registerPeftMethod } from "../lib/peft/registry";
import { normalArray, Rng } from "../lib/util/random";

// The toy's config joins PeftConfig the way a method's folder does it: getPeftModel(model, toyConfig()) compiles.
declare module "../lib/peft/registry" {
  interface PeftConfigs {
    TOYRANK1: ToyConfig;
  }
}

export interface ToyConfig extends CommonConfig {
  peftType: "TOYRANK1";
  initScale: number;
}
export const toyConfig = (o: Partial<Omit<ToyConfig, "peftType">> = {}): ToyConfig => ({
  targetModules: ["query", "value"],
  modulesToSave: null,
  taskType: null,
  baseModelNameOrPath: null,
  inferenceMode: false,
  peftType: "TOYRANK1",
  initScale: 0.1,
  ...o,
});

/** y = base(x) + (x·v) uᵀ: one vector u (out) and one v (in) per adapter. */
export class ToyLayer extends AdapterLayer {
  readonly adapterLayerNames = ["toy_u", "toy_v"] as const;
  constructor(base: BaseLinear) {
    super(base);
    this.addModule("toy_u", new ParameterDict());
    this.addModule("toy_v", new ParameterDict());
  }
  private dict(which: "toy_u" | "toy_v"): ParameterDict {
    return this.getSubmodule(which) as ParameterDict;
  }
  addAdapter(name: string, initScale: number, rng: Rng): void {
    this.dict("toy_u").set(name, tf.zeros([this.outFeatures]));
    this.dict("toy_v").set(name, tf.tensor1d(normalArray(rng, this.inFeatures, initScale)));
  }
  adapterNames(): string[] {
    return this.dict("toy_u")
      .namedParameters()
      .map(([n]) => n);
  }
  deleteAdapter(name: string): void {
    this.dict("toy_u").removeParameter(name);
    this.dict("toy_v").removeParameter(name);
  }
  private vectors(name: string): [tf.Variable, tf.Variable] {
    const get = (which: "toy_u" | "toy_v") =>
      this.dict(which)
        .namedParameters()
        .find(([n]) => n === name)![1];
    return [get("toy_u"), get("toy_v")];
  }
  // Elementwise products, not matMul: tfjs-wasm caches its matMul operator by the right operand's data, so
  // one variable used as that operand in two shapes (v as (in, 1) and as (1, in)) gives wrong results.
  deltaWeight(name: string): tf.Tensor2D {
    const [u, v] = this.vectors(name);
    return tf.tidy(() => tf.mul(tf.reshape(u, [-1, 1]), tf.reshape(v, [1, -1])) as tf.Tensor2D);
  }
  protected adapterOutput(x: tf.Tensor, name: string): tf.Tensor {
    const [u, v] = this.vectors(name);
    return tf.tidy(() => tf.mul(tf.sum(tf.mul(x, v), -1, true), u)); // (x·v) uᵀ
  }
}

/** Registers TOYRANK1 (once; a second call does nothing). */
export function registerToyMethod(): void {
  if (registeredPeftTypes().includes("TOYRANK1")) return;
  registerPeftMethod<ToyConfig, ToyLayer>({
    peftType: "TOYRANK1",
    fromJson: (json) => configFromJson(json, toyConfig()),
    createLayer: (base) => new ToyLayer(base),
    isLayer: (layer): layer is ToyLayer => layer instanceof ToyLayer,
    addAdapter: (layer, config, { adapterName, rng }) => layer.addAdapter(adapterName, config.initScale, rng),
    countParameters: (_config, t) => t.inFeatures + t.outFeatures,
    conformance: { examples: [{ init_scale: 0.5 }], identityAtInit: true },
  });
}
