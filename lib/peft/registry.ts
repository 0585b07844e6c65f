/**
 * The PEFT methods by `peft_type`, as huggingface/peft's `register_peft_method`: everything the central code
 * (PeftModel, saving and loading, parameter counts) needs to know about a method is in its descriptor, in
 * its own folder (lib/peft/<method>/method.ts). Adding a method: a folder with its config, layer and
 * descriptor, and one line in builtin-methods.ts (CONTRIBUTING.md).
 */
import * as tf from "@tensorflow/tfjs";
import type { TensorEntry, TensorInput } from "../io/safetensors";
import type { Rng } from "../util/random";
import type { AdapterLayer, BaseLinear } from "./adapter-layer";
import type { CommonConfig } from "./config";

/** A linear layer an adapter targets: its name in the model and its shape. */
export interface TargetShape {
  name: string;
  inFeatures: number;
  outFeatures: number;
}

/** What `addAdapter` gets besides the layer and the config. */
export interface InjectContext {
  /** The module's name in the base model ("bert.encoder.layer.0.attention.self.query"). */
  moduleName: string;
  adapterName: string;
  rng: Rng;
  /** The adapter's shared tensor (see `shared`), when the method has one. */
  shared?: tf.Variable;
  /** This module's entry of `plan`, when the method has one. */
  planned?: number;
}

export interface PeftMethod<C extends CommonConfig & { peftType: string } = CommonConfig & { peftType: string }, L extends AdapterLayer = AdapterLayer> {
  /** peft's name in adapter_config.json ("LORA"). */
  readonly peftType: C["peftType"];
  /** A config with the method's defaults for every field `adapter_config.json` does not set; validated. */
  fromJson(json: Record<string, unknown>): C;
  /** Numbers decided over all targets at once (WaveFT's coefficients per layer), by module name. */
  plan?(config: C, targets: TargetShape[]): Map<string, number>;
  /**
   * A tensor every layer of one adapter shares (VB-LoRA's vector bank): its member name in peft
   * ("vblora_vector_bank", held at base_model.<name>.<adapter>) and its initial value.
   */
  shared?: { name: string; init(config: C, rng: Rng): tf.Tensor; size(config: C): number };
  /** Wraps a frozen base layer in a new adapter layer of this method (holding no adapter yet). */
  createLayer(base: BaseLinear): L;
  /** Is `layer` one of this method's layers (so another adapter of the method can be added to it)? */
  isLayer(layer: AdapterLayer): layer is L;
  /** Adds adapter `ctx.adapterName` to one of this method's layers. */
  addAdapter(layer: L, config: C, ctx: InjectContext): void;
  /** Trainable parameters the adapter adds to one target (the shared tensor is counted once, apart). */
  countParameters(config: C, target: TargetShape, planned: number | undefined): number;
  /** The key peft saves a layer's tensor under, when it is not the default `…<member>.<rest>` (DoRA's magnitude). */
  savedKey?(key: string, member: string): string;
  /** Saving: the entries to write for one tensor instead of `key` → values (VB-LoRA's top-k file), or null. */
  saveEntries?(config: C, key: string, shape: number[], data: Float32Array): Map<string, TensorInput> | null;
  /** Loading: the stored tensors as the model's parameters expect them (e.g. top-k back to full logits). */
  loadEntries?(config: C, stored: Map<string, TensorEntry>): Map<string, TensorEntry>;
  /**
   * What the conformance suite (test/unit/peft-conformance.test.ts) runs for this method: a few configurations,
   * as `adapter_config.json` fields over the defaults, that fit a tiny model (hidden size 8, intermediate 16;
   * target_modules is the suite's), and whether a fresh adapter leaves the model unchanged (as peft
   * initialises it: LoRA's B = 0 does; VB-LoRA's random bank and logits do not).
   */
  readonly conformance: { examples: Array<Record<string, unknown>>; identityAtInit: boolean };
}

/**
 * Every registered method's config type by its peft_type. Each method's folder adds its own entry next to its
 * descriptor (TypeScript's declaration merging), so `PeftConfig` grows with the methods and no central file
 * lists them:
 *
 *   declare module "../registry" {
 *     interface PeftConfigs { LORA: LoraConfig }
 *   }
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- filled by each method's folder
export interface PeftConfigs {}

/** The config of any registered method (a union discriminated by `peftType`). */
export type PeftConfig = PeftConfigs[keyof PeftConfigs];

const methods = new Map<string, PeftMethod>();

/** Registers a method under its peftType (once). */
export function registerPeftMethod<C extends CommonConfig & { peftType: string }, L extends AdapterLayer>(method: PeftMethod<C, L>): void {
  if (methods.has(method.peftType)) throw new Error(`a PEFT method "${method.peftType}" is registered already`);
  // The one place a method loses its own types: the registry holds every method, looked up by peft_type.
  methods.set(method.peftType, method as unknown as PeftMethod);
}

/** The method registered for `peftType`; an unknown one is an error that lists the known ones. */
export function peftMethod(peftType: string): PeftMethod {
  const m = methods.get(peftType);
  if (!m) throw new Error(`peft_type ${JSON.stringify(peftType)} is not supported here (supported: ${registeredPeftTypes().join(", ")})`);
  return m;
}

export function registeredPeftTypes(): string[] {
  return [...methods.keys()];
}
