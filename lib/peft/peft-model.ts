/**
 * `getPeftModel(model, config)`: puts adapters into a model by module name and freezes everything else,
 * like huggingface/peft's `get_peft_model`. The returned PeftModel trains, switches, disables, merges and
 * saves its adapters in peft's own file layout (see serialization.ts).
 */
import * as tf from "@tensorflow/tfjs";
import { Module, ModuleDict, ParameterDict } from "../nn/module";
import { Linear4bit } from "../quant/linear4bit";
import { Rng } from "../util/random";
import type { BertInputs } from "../models/bert";
import { AdapterLayer, BaseLinear, isBaseLinear } from "./adapter-layer";
import { findTargets } from "./targets";
import { peftMethod } from "./registry";
import { registerBuiltinMethods } from "./builtin-methods";

registerBuiltinMethods();

import type { PeftConfig } from "./registry";

export type { PeftConfig } from "./registry";

/** The model types a PEFT model can wrap: anything with a forward pass over BERT inputs. */
export interface WrappableModel extends Module {
  forward(inputs: BertInputs): tf.Tensor;
  readonly numLabels?: number;
}

/** What an adapter can wrap: a Linear, or a quantized Linear4bit (QLoRA) — anything that is a BaseLinear. */
const isAdaptable = (m: Module): m is BaseLinear => !(m instanceof AdapterLayer) && isBaseLinear(m);

export class PeftModel<M extends WrappableModel = WrappableModel> extends Module {
  readonly peftConfig: Record<string, PeftConfig> = {};
  private active = "default";
  private adaptersDisabled = false;
  /** Each inactive adapter's copy of the head (modules_to_save), as kept tensors (no read from the backend). */
  private readonly headSnapshots = new Map<string, Map<string, tf.Tensor>>();

  constructor(
    readonly baseModel: M,
    config: PeftConfig,
    adapterName = "default",
    opts: { seed?: number } = {},
  ) {
    super();
    // Named like peft's PeftModel → LoraModel → model, so parameter names read
    // "base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.default.weight".
    this.addModule("base_model", new ModuleDict([["model", baseModel]]));
    baseModel.setTrainable(false);
    this.active = adapterName;
    this.addAdapter(adapterName, config, opts);
  }

  get numLabels(): number {
    return this.baseModel.numLabels ?? 0;
  }

  get activeAdapter(): string {
    return this.active;
  }

  /** The adapter layers with their module names (relative to the base model). */
  adapterLayers(): Array<[string, AdapterLayer]> {
    return this.baseModel.namedModules().filter(([, m]) => m instanceof AdapterLayer) as Array<[string, AdapterLayer]>;
  }

  /** Adds a second (third, …) adapter beside the others; it is not activated. */
  addAdapter(name: string, config: PeftConfig, opts: { seed?: number } = {}): void {
    if (this.peftConfig[name]) throw new Error(`an adapter named "${name}" exists already`);
    const existing = Object.values(this.peftConfig)[0];
    if (existing && existing.peftType !== config.peftType) throw new Error(`cannot mix ${existing.peftType} and ${config.peftType} adapters in one model`);
    const method = peftMethod(config.peftType);
    const rng = new Rng(opts.seed ?? 0);
    const targets = findTargets(this.baseModel, config.targetModules, (m) => isAdaptable(m) || m instanceof AdapterLayer, config.peftType);
    const shared = this.createSharedTensor(name, config, rng);
    const shapes = targets.map((t) => {
      const m = this.baseModel.getSubmodule(t);
      const base = m instanceof AdapterLayer ? m.base : m;
      if (!isBaseLinear(base)) throw new Error(`${t} is not a linear layer`);
      return { name: t, inFeatures: base.inFeatures, outFeatures: base.outFeatures };
    });
    const plan = method.plan?.(config, shapes) ?? new Map<string, number>();
    for (const moduleName of targets) {
      const current = this.baseModel.getSubmodule(moduleName);
      const ctx = { moduleName, adapterName: name, rng, shared, planned: plan.get(moduleName) };
      if (current instanceof AdapterLayer) {
        if (!method.isLayer(current)) throw new Error(`${moduleName} carries another method's adapter`);
        method.addAdapter(current, config, ctx);
      } else if (isBaseLinear(current)) {
        const layer = method.createLayer(current);
        method.addAdapter(layer, config, ctx);
        layer.activeAdapter = this.active;
        this.baseModel.setSubmodule(moduleName, layer);
      }
    }
    this.peftConfig[name] = config;
    this.markTrainable();
    if (Object.keys(this.peftConfig).length > 1) this.keepHeadSnapshot(name, this.snapshotHeads(config));
  }

  /**
   * The tensor every adapted layer of one adapter shares, if the method has one: VB-LoRA's vector bank
   * (h, b), held at "base_model.vblora_vector_bank.<adapter>" as in peft.
   */
  private createSharedTensor(name: string, config: PeftConfig, rng: Rng): tf.Variable | undefined {
    const shared = peftMethod(config.peftType).shared;
    return shared ? this.sharedDict(shared.name, true)?.set(name, shared.init(config, rng)) : undefined;
  }

  /** The ParameterDict at base_model.<member> that holds a method's shared tensors, one per adapter. */
  private sharedDict(member: string, create = false): ParameterDict | undefined {
    const holder = this.getSubmodule("base_model", ModuleDict);
    if (!holder.namedChildren().some(([n]) => n === member)) {
      if (!create) return undefined;
      holder.add(member, new ParameterDict());
    }
    return holder.getSubmodule(member, ParameterDict);
  }

  /** Parameters of the modules a config saves whole (e.g. "classifier"), named relative to the base model. */
  headParameters(config: PeftConfig): Array<[string, tf.Variable]> {
    const names = config.modulesToSave ?? [];
    return this.baseModel.namedParameters().filter(([n]) => names.some((m) => n.startsWith(`${m}.`) || n.includes(`.${m}.`)));
  }

  private snapshotHeads(config: PeftConfig): Map<string, tf.Tensor> {
    return new Map(this.headParameters(config).map(([n, p]) => [n, tf.keep(tf.clone(p))]));
  }

  /** Stores adapter `name`'s head copy, freeing the one it replaces (`null`: just free it). */
  private keepHeadSnapshot(name: string, snapshot: Map<string, tf.Tensor> | null): void {
    const old = this.headSnapshots.get(name);
    if (old) tf.dispose([...old.values()]);
    if (snapshot) this.headSnapshots.set(name, snapshot);
    else this.headSnapshots.delete(name);
  }

  protected override disposeExtras(): void {
    for (const name of [...this.headSnapshots.keys()]) this.keepHeadSnapshot(name, null);
  }

  /** The tensor adapter `name` shares across its layers (VB-LoRA's vector bank), as [member name, tensor]. */
  sharedParameters(name: string): Array<[string, tf.Variable]> {
    const config = this.peftConfig[name];
    const shared = config ? peftMethod(config.peftType).shared : undefined;
    const dict = shared ? this.sharedDict(shared.name) : undefined;
    if (!shared || !dict) return [];
    return dict
      .namedParameters()
      .filter(([n]) => n === name)
      .map(([, p]): [string, tf.Variable] => [`base_model.${shared.name}`, p]);
  }

  /**
   * Only the active adapter's tensors (and its modulesToSave) train. Which tensors those are, each adapter
   * layer says itself (adapterParameters): an adapter may be named like a module ("dense", "self").
   */
  private markTrainable(): void {
    this.setTrainable(false);
    if (this.adaptersDisabled) return;
    for (const [, layer] of this.adapterLayers()) for (const [, p] of layer.adapterParameters(this.active)) p.trainable = true;
    for (const [, p] of this.sharedParameters(this.active)) p.trainable = true;
    for (const [, p] of this.headParameters(this.peftConfig[this.active])) p.trainable = true;
  }

  /** Makes `name` the adapter that forward() uses and training updates. */
  setAdapter(name: string): void {
    if (!this.peftConfig[name]) throw new Error(`no adapter "${name}" (have: ${Object.keys(this.peftConfig).join(", ")})`);
    if (name === this.active) return;
    const heads = this.headParameters(this.peftConfig[this.active]);
    if (heads.length) {
      this.keepHeadSnapshot(this.active, this.snapshotHeads(this.peftConfig[this.active]));
      const incoming = this.headSnapshots.get(name);
      if (incoming)
        for (const [n, p] of this.headParameters(this.peftConfig[name])) {
          const v = incoming.get(n);
          if (v) p.assign(v); // the variable now shares the copy's memory; the copy stays valid (reference counted)
        }
    }
    for (const [, layer] of this.adapterLayers()) layer.activeAdapter = name;
    this.active = name;
    this.markTrainable();
  }

  /** Runs `fn` with every adapter switched off (the base model alone), then switches them back on. */
  withAdaptersDisabled<T>(fn: () => T): T {
    this.setAdaptersDisabled(true);
    try {
      return fn();
    } finally {
      this.setAdaptersDisabled(false);
    }
  }

  setAdaptersDisabled(disabled: boolean): void {
    this.adaptersDisabled = disabled;
    for (const [, layer] of this.adapterLayers()) layer.disabled = disabled;
    this.markTrainable();
  }

  /**
   * Folds the active adapter into the base weights (inference without overhead). Into 4-bit weights this
   * re-quantizes W + ΔW, which is lossy: it warns, and unmerge cannot restore the original codes exactly.
   */
  merge(name = this.active): void {
    this.warnIfQuantized();
    for (const [, layer] of this.adapterLayers()) if (layer.hasAdapter(name)) layer.merge(name);
  }

  /**
   * merge(), reading the merged weights asynchronously: the way to merge into 4-bit weights (QLoRA) on a GPU
   * backend, where Node cannot read a tensor synchronously and the re-quantization runs in JavaScript.
   * The same result as merge() on every backend.
   */
  async mergeAsync(name = this.active): Promise<void> {
    this.warnIfQuantized();
    for (const [, layer] of this.adapterLayers()) if (layer.hasAdapter(name)) await layer.mergeAsync(name);
  }

  unmerge(): void {
    for (const [, layer] of this.adapterLayers()) layer.unmerge();
  }

  /** unmerge(), reading asynchronously (see mergeAsync). */
  async unmergeAsync(): Promise<void> {
    for (const [, layer] of this.adapterLayers()) await layer.unmergeAsync();
  }

  private warnIfQuantized(): void {
    if (this.hasQuantizedBase())
      console.warn("merge: the base weights are 4-bit; W + ΔW is re-quantized (lossy), and unmerge will not restore the original codes exactly");
  }

  /** Deletes an adapter (not the active one). */
  deleteAdapter(name: string): void {
    if (name === this.active) throw new Error(`cannot delete the active adapter "${name}"; setAdapter() another one first`);
    if (!this.peftConfig[name]) throw new Error(`no adapter "${name}"`);
    for (const [, layer] of this.adapterLayers()) if (layer.hasAdapter(name)) layer.deleteAdapter(name);
    const shared = peftMethod(this.peftConfig[name].peftType).shared;
    if (shared) this.sharedDict(shared.name)?.removeParameter(name);
    delete this.peftConfig[name];
    this.keepHeadSnapshot(name, null);
  }

  /** True when some adapted layer stores its base weight quantized (QLoRA). */
  hasQuantizedBase(): boolean {
    return this.adapterLayers().some(([, l]) => l.base.quantized);
  }

  /**
   * Merges the active adapter and returns the base model with plain Linear layers again
   * (peft's `merge_and_unload`). This PeftModel must not be used afterwards.
   */
  mergeAndUnload(): M {
    this.merge();
    return this.unload();
  }

  /** mergeAndUnload(), merging asynchronously (see mergeAsync). */
  async mergeAndUnloadAsync(): Promise<M> {
    await this.mergeAsync();
    return this.unload();
  }

  /** Puts the base layers back in the model and frees everything else (after a merge). */
  private unload(): M {
    for (const [name, layer] of this.adapterLayers()) {
      this.baseModel.setSubmodule(name, layer.base);
      layer.releaseAdapters(); // its adapters' tensors are unreachable from now on
    }
    const kept = new Set(this.baseModel.parameters());
    for (const p of this.parameters()) if (!kept.has(p)) p.dispose(); // shared tensors (VB-LoRA's bank)
    this.disposeExtras(); // the other adapters' head copies
    this.baseModel.setTrainable(true);
    return this.baseModel;
  }

  forward(inputs: BertInputs): tf.Tensor2D {
    return this.baseModel.forward(inputs) as tf.Tensor2D;
  }

  /** [trainable, all] parameter counts, as peft counts them (4-bit base weights count as weights too). */
  trainableParameterCounts(): { trainable: number; all: number } {
    let trainable = 0;
    let all = 0;
    for (const [, p] of this.namedParameters()) {
      all += p.size;
      if (p.trainable) trainable += p.size;
    }
    for (const [, m] of this.namedModules()) if (m instanceof Linear4bit) all += m.inFeatures * m.outFeatures;
    return { trainable, all };
  }

  /** peft's `print_trainable_parameters` line. */
  trainableParametersLine(): string {
    const { trainable, all } = this.trainableParameterCounts();
    return `trainable params: ${trainable.toLocaleString("en-US")} || all params: ${all.toLocaleString("en-US")} || trainable%: ${((100 * trainable) / all).toFixed(4)}`;
  }

  printTrainableParameters(): void {
    console.log(this.trainableParametersLine());
  }
}

/** Wraps `model` with a new adapter named "default" (peft's `get_peft_model`). */
export function getPeftModel<M extends WrappableModel>(model: M, config: PeftConfig, opts: { adapterName?: string; seed?: number } = {}): PeftModel<M> {
  return new PeftModel(model, config, opts.adapterName ?? "default", { seed: opts.seed });
}
