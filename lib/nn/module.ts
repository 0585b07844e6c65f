/**
 * A tiny PyTorch-style `Module`: named parameters and named sub-modules, so that every weight has a dotted
 * name (`encoder.layer.0.attention.self.query.weight`) exactly as in Hugging Face checkpoints, and so that a
 * PEFT method can find a layer by name and swap it for an adapted one.
 */
import * as tf from "@tensorflow/tfjs";

export class Module {
  /** Direct parameters of this module, in registration order. */
  protected readonly params = new Map<string, tf.Variable>();
  /** Direct children, in registration order. */
  protected readonly children = new Map<string, Module>();
  /** Training mode turns dropout on. */
  training = true;

  /** Registers `value` as a parameter (the tensor becomes a tf.Variable; the input tensor is disposed). */
  protected addParameter(name: string, value: tf.Tensor, trainable = true): tf.Variable {
    if (this.params.has(name) || this.children.has(name)) throw new Error(`duplicate member name "${name}"`);
    const v = tf.variable(value, trainable);
    value.dispose();
    this.params.set(name, v);
    return v;
  }

  protected addModule<M extends Module>(name: string, module: M): M {
    if (this.params.has(name) || this.children.has(name)) throw new Error(`duplicate member name "${name}"`);
    this.children.set(name, module);
    return module;
  }

  /** The parameter called `name` directly on this module. */
  param(name: string): tf.Variable {
    const p = this.params.get(name);
    if (!p) throw new Error(`${this.constructor.name} has no parameter "${name}"`);
    return p;
  }

  /** All parameters with their full dotted names (depth first, registration order). */
  namedParameters(prefix = ""): Array<[string, tf.Variable]> {
    const out: Array<[string, tf.Variable]> = [];
    for (const [n, p] of this.params) out.push([prefix + n, p]);
    for (const [n, m] of this.children) out.push(...m.namedParameters(`${prefix}${n}.`));
    return out;
  }

  parameters(): tf.Variable[] {
    return this.namedParameters().map(([, p]) => p);
  }

  trainableParameters(): tf.Variable[] {
    return this.parameters().filter((p) => p.trainable);
  }

  /** This module and all sub-modules with their dotted names ("" for this one). */
  namedModules(prefix = ""): Array<[string, Module]> {
    const out: Array<[string, Module]> = [[prefix.replace(/\.$/, ""), this]];
    for (const [n, m] of this.children) out.push(...m.namedModules(`${prefix}${n}.`));
    return out;
  }

  /** Direct children. */
  namedChildren(): Array<[string, Module]> {
    return [...this.children.entries()];
  }

  /**
   * The sub-module at a dotted path ("encoder.layer.0.attention.self.query"). With a class, it is checked to be one:
   * `getSubmodule("embeddings", BertEmbeddings)` is typed and throws a clear error otherwise.
   */
  getSubmodule(path: string): Module;
  getSubmodule<M extends Module>(path: string, kind: abstract new (...args: never[]) => M): M;
  getSubmodule<M extends Module>(path: string, kind?: abstract new (...args: never[]) => M): Module {
    let m: Module = this;
    if (path !== "") {
      for (const part of path.split(".")) {
        const next = m.children.get(part);
        if (!next) throw new Error(`no sub-module "${part}" in "${path}" (${m.constructor.name} has: ${[...m.children.keys()].join(", ") || "none"})`);
        m = next;
      }
    }
    if (kind && !(m instanceof kind)) throw new Error(`sub-module "${path}" is a ${m.constructor.name}, not a ${kind.name}`);
    return m;
  }

  /** Replaces the sub-module at a dotted path (used to inject adapters). Returns the old one. */
  setSubmodule(path: string, module: Module): Module {
    const dot = path.lastIndexOf(".");
    const parent = dot < 0 ? this : this.getSubmodule(path.slice(0, dot));
    const name = dot < 0 ? path : path.slice(dot + 1);
    const old = parent.children.get(name);
    if (!old) throw new Error(`no sub-module "${path}" to replace`);
    parent.children.set(name, module);
    parent.onChildReplaced(name, module);
    return old;
  }

  /** Frees tensors a module holds besides its parameters (DoRA's merge norms, WaveFT's positions); dispose() calls it on every module. */
  protected disposeExtras(): void {}

  /** Hook for modules that keep typed references to their children. */
  protected onChildReplaced(_name: string, _module: Module): void {}

  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Freezes or unfreezes every parameter. */
  setTrainable(trainable: boolean): this {
    for (const p of this.parameters()) p.trainable = trainable;
    return this;
  }

  /** Parameter tensors by name (references, not copies). */
  stateDict(): Map<string, tf.Tensor> {
    return new Map(this.namedParameters());
  }

  /**
   * Copies tensors into the parameters with the same names. Shapes must match exactly.
   * Returns the names that were missing from `state` and the names in `state` the model does not have;
   * with `strict` (default) either is an error that lists them.
   */
  loadStateDict(state: Map<string, tf.Tensor>, opts: { strict?: boolean } = {}): { missing: string[]; unexpected: string[] } {
    const strict = opts.strict ?? true;
    const own = new Map(this.namedParameters());
    const missing = [...own.keys()].filter((k) => !state.has(k));
    const unexpected = [...state.keys()].filter((k) => !own.has(k));
    if (strict && (missing.length || unexpected.length)) {
      throw new Error(`loadStateDict: missing keys [${missing.join(", ")}], unexpected keys [${unexpected.join(", ")}]`);
    }
    // Check every shape before changing anything, so a bad file never leaves a half-loaded model.
    for (const [name, tensor] of state) {
      const p = own.get(name);
      if (p && !tf.util.arraysEqual(p.shape, tensor.shape)) {
        throw new Error(`loadStateDict: "${name}" has shape [${tensor.shape}] but the model expects [${p.shape}]`);
      }
    }
    for (const [name, tensor] of state) {
      const p = own.get(name);
      if (!p || tensor.dataId === p.dataId) continue; // assigning a variable to itself would free its data
      tf.tidy(() => p.assign(tensor.dtype === p.dtype ? tensor : tf.cast(tensor, p.dtype)));
    }
    return { missing, unexpected };
  }

  /** Number of parameters (all, or only trainable ones). */
  numParameters(onlyTrainable = false): number {
    return this.parameters()
      .filter((p) => !onlyTrainable || p.trainable)
      .reduce((n, p) => n + p.size, 0);
  }

  /** Frees every parameter's memory. */
  dispose(): void {
    for (const [, m] of this.namedModules()) m.disposeExtras();
    for (const p of this.parameters()) p.dispose();
  }
}

/** A plain named container, like PyTorch's ModuleList (names "0", "1", …) or ModuleDict. */
export class ModuleDict extends Module {
  constructor(entries: Array<[string, Module]> = []) {
    super();
    for (const [name, m] of entries) this.addModule(name, m);
  }

  add<M extends Module>(name: string, module: M): M {
    return this.addModule(name, module);
  }

  /** Drops the entry (without disposing it). */
  remove(name: string): void {
    this.children.delete(name);
  }
}

/** Named parameters without a module around each (PyTorch's ParameterDict), e.g. one tensor per adapter. */
export class ParameterDict extends Module {
  set(name: string, value: tf.Tensor, trainable = true): tf.Variable {
    return this.addParameter(name, value, trainable);
  }

  removeParameter(name: string): void {
    this.params.get(name)?.dispose();
    this.params.delete(name);
  }

  has(name: string): boolean {
    return this.params.has(name);
  }
}
