/**
 * What every adapted linear layer shares, whatever the method (peft's `BaseTunerLayer`):
 *
 *   y = base(x) + Δ(x)      with the base layer frozen and Δ given by the active adapter
 *
 * The original layer lives on as the child `base_layer` (so its weights are named
 * `...query.base_layer.weight`, as in peft); several adapters can sit side by side, one of them active;
 * adapters can be disabled (y = base(x)), merged into the base weight (W ← W + ΔW, no inference overhead)
 * and unmerged again.
 */
import * as tf from "@tensorflow/tfjs";
import { Module } from "../nn/module";

import { BaseLinear } from "../nn/base-linear";

export { BASE_LINEAR, isBaseLinear, type BaseLinear } from "../nn/base-linear";

export abstract class AdapterLayer extends Module {
  /** The adapter used by forward() (peft's `active_adapter`). */
  activeAdapter = "default";
  /** When true, forward() is the base layer alone. */
  disabled = false;
  /** Adapters currently folded into the base weight, in merge order. */
  readonly merged: string[] = [];

  constructor(base: BaseLinear) {
    super();
    this.addModule("base_layer", base);
  }

  get base(): BaseLinear {
    return this.getSubmodule("base_layer") as BaseLinear;
  }

  get inFeatures(): number {
    return this.base.inFeatures;
  }

  get outFeatures(): number {
    return this.base.outFeatures;
  }

  /**
   * The members that hold this method's per-adapter tensors, each keyed by adapter name (peft's
   * `adapter_layer_names`): what trains and what is saved comes from here, never from name patterns.
   */
  abstract readonly adapterLayerNames: readonly string[];

  /** Names of the adapters this layer holds. */
  abstract adapterNames(): string[];

  /** The tensors of adapter `name` in this layer, named relative to the layer ("lora_A.default.weight"). */
  adapterParameters(name: string): Array<[string, tf.Variable]> {
    return this.adapterLayerNames.flatMap((member) => {
      const holder = this.children.get(member);
      if (!holder) return [];
      return holder
        .namedParameters()
        .filter(([n]) => n === name || n.startsWith(`${name}.`))
        .map(([n, p]): [string, tf.Variable] => [`${member}.${n}`, p]);
    });
  }

  /** Removes an adapter's tensors. */
  abstract deleteAdapter(name: string): void;

  /** The adapter's weight update ΔW (out, in). Caller disposes. */
  abstract deltaWeight(name: string): tf.Tensor2D;

  /** The adapter's contribution to the output, given the input and the base layer's output. */
  protected abstract adapterOutput(x: tf.Tensor, name: string, baseOutput: tf.Tensor): tf.Tensor;

  hasAdapter(name: string): boolean {
    return this.adapterNames().includes(name);
  }

  forward(x: tf.Tensor): tf.Tensor {
    if (this.disabled && this.merged.length) this.unmerge();
    const y = this.base.forward(x);
    if (this.disabled || !this.hasAdapter(this.activeAdapter) || this.merged.includes(this.activeAdapter)) return y;
    return tf.add(y, this.adapterOutput(x, this.activeAdapter, y));
  }

  /** W ← W + ΔW. Methods whose merge is not additive (DoRA) override mergeWeight/unmergeWeight. */
  merge(name = this.activeAdapter): void {
    if (!this.canMerge(name)) return;
    this.replaceBaseWeight((w) => this.mergeWeight(w, name));
    this.merged.push(name);
  }

  /** merge(), with the base weight set asynchronously where the base layer can (a 4-bit base on webgpu). */
  async mergeAsync(name = this.activeAdapter): Promise<void> {
    if (!this.canMerge(name)) return;
    await this.replaceBaseWeightAsync((w) => this.mergeWeight(w, name));
    this.merged.push(name);
  }

  /** False when `name` is merged already; throws when this layer has no such adapter. */
  private canMerge(name: string): boolean {
    if (!this.hasAdapter(name)) throw new Error(`no adapter "${name}" in this layer (have: ${this.adapterNames().join(", ")})`);
    return !this.merged.includes(name);
  }

  /** Undoes every merge, last first. */
  unmerge(): void {
    while (this.merged.length) {
      const name = this.merged.pop() as string;
      this.replaceBaseWeight((w) => this.unmergeWeight(w, name));
    }
  }

  /** unmerge(), with the base weight set asynchronously where the base layer can. */
  async unmergeAsync(): Promise<void> {
    while (this.merged.length) {
      const name = this.merged.pop() as string;
      await this.replaceBaseWeightAsync((w) => this.unmergeWeight(w, name));
    }
  }

  /** W ← update(W), every intermediate tensor freed. */
  private replaceBaseWeight(update: (w: tf.Tensor2D) => tf.Tensor): void {
    tf.tidy(() => this.base.setWeightValue(update(this.base.weightValue()) as tf.Tensor2D));
  }

  /** The same, through the base layer's asynchronous setter where it has one (else synchronously). */
  private async replaceBaseWeightAsync(update: (w: tf.Tensor2D) => tf.Tensor): Promise<void> {
    if (!this.base.setWeightValueAsync) return this.replaceBaseWeight(update);
    const w = tf.tidy(() => update(this.base.weightValue()) as tf.Tensor2D);
    try {
      await this.base.setWeightValueAsync(w);
    } finally {
      w.dispose();
    }
  }

  /** Unloads the layer for good (peft's `merge_and_unload`): frees every adapter's tensors and the extras, keeps the base layer. */
  releaseAdapters(): void {
    for (const a of this.adapterNames()) for (const [, p] of this.adapterParameters(a)) p.dispose();
    this.disposeExtras();
  }

  protected mergeWeight(w: tf.Tensor2D, name: string): tf.Tensor {
    return tf.add(w, this.deltaWeight(name));
  }

  protected unmergeWeight(w: tf.Tensor2D, name: string): tf.Tensor {
    return tf.sub(w, this.deltaWeight(name));
  }
}
