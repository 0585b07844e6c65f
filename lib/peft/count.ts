/**
 * Trainable-parameter arithmetic without allocating weights, so the lecture's and docs/peft-reference.md's counts
 * for a 3-billion-parameter model (Llama-3.2-3B) can be checked on a skeleton of its shapes.
 */
import { Module, ModuleDict } from "../nn/module";
import { Linear } from "../nn/linear";
import { findTargets } from "./targets";
import type { PeftConfig } from "./peft-model";
import { peftMethod } from "./registry";
import { registerBuiltinMethods } from "./builtin-methods";

registerBuiltinMethods();

/** A linear layer that has only a shape (no tensors): a node of a model skeleton. */
export class LinearShape extends Module {
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
  ) {
    super();
  }
}

function shapeOf(m: Module): { inFeatures: number; outFeatures: number } | null {
  if (m instanceof Linear || m instanceof LinearShape) return m;
  return null;
}

/** Parameters a config adds to `model` (its adapter tensors, not modulesToSave), from the method's own count. */
export function countAdapterParameters(model: Module, config: PeftConfig): number {
  const method = peftMethod(config.peftType);
  const names = findTargets(model, config.targetModules, (m) => shapeOf(m) !== null, config.peftType);
  const targets = names.map((name) => {
    const { inFeatures, outFeatures } = shapeOf(model.getSubmodule(name)) as LinearShape;
    return { name, inFeatures, outFeatures };
  });
  const plan = method.plan?.(config, targets) ?? new Map<string, number>();
  let total = method.shared?.size(config) ?? 0; // the shared tensor (VB-LoRA's bank), once
  for (const t of targets) total += method.countParameters(config, t, plan.get(t.name));
  return total;
}

/**
 * A weight-free skeleton of a Llama-style decoder: `model.layers.N.self_attn.{q,k,v,o}_proj` and
 * `model.layers.N.mlp.{gate,up,down}_proj`. Llama-3.2-3B: 28 layers, hidden 3072, 8 KV heads of 128
 * (k/v project 3072 → 1024), MLP 8192.
 */
export function llamaSkeleton(opts = { layers: 28, hidden: 3072, kvDim: 1024, mlp: 8192 }): Module {
  const layers = new ModuleDict();
  for (let i = 0; i < opts.layers; i++) {
    layers.add(
      String(i),
      new ModuleDict([
        [
          "self_attn",
          new ModuleDict([
            ["q_proj", new LinearShape(opts.hidden, opts.hidden)],
            ["k_proj", new LinearShape(opts.hidden, opts.kvDim)],
            ["v_proj", new LinearShape(opts.hidden, opts.kvDim)],
            ["o_proj", new LinearShape(opts.hidden, opts.hidden)],
          ]),
        ],
        [
          "mlp",
          new ModuleDict([
            ["gate_proj", new LinearShape(opts.hidden, opts.mlp)],
            ["up_proj", new LinearShape(opts.hidden, opts.mlp)],
            ["down_proj", new LinearShape(opts.mlp, opts.hidden)],
          ]),
        ],
      ]),
    );
  }
  return new ModuleDict([["model", new ModuleDict([["layers", layers]])]]);
}
