/**
 * Which modules an adapter goes into, matched by name exactly as huggingface/peft does:
 *
 * - `targetModules` as a list: a module whose full name equals an entry or ends with "." + entry
 *   ("query" matches "bert.encoder.layer.0.attention.self.query");
 * - as a string: a regular expression that must match the whole name;
 * - per-module overrides (`rankPattern`, `alphaPattern`): a key matches a name when `(.*\.)?key$` matches.
 *
 * Unlike peft, every entry of a list must match something: a typo is an error that lists the names the
 * model has, never a silent no-op.
 */
import { Module } from "../nn/module";

/** Whether `name` is targeted by `target` (peft's `check_target_module_exists`). */
export function isTargeted(name: string, target: readonly string[] | string): boolean {
  if (typeof target === "string") return new RegExp(`^(?:${target})$`).test(name);
  return target.some((t) => name === t || name.endsWith(`.${t}`));
}

/** The value of the first pattern key that matches `name`, else `fallback`. */
export function patternValue(name: string, pattern: Readonly<Record<string, number>> | undefined, fallback: number): number {
  if (!pattern) return fallback;
  for (const key of Object.keys(pattern)) {
    if (new RegExp(`(.*\\.)?(?:${key})$`).test(name)) return pattern[key];
  }
  return fallback;
}

/** The distinct last name parts of the candidate modules, for error messages ("query, key, value, dense"). */
function shortNames(names: string[]): string[] {
  return [...new Set(names.map((n) => n.slice(n.lastIndexOf(".") + 1)))];
}

/**
 * The full names of the modules to adapt. `isSupported` says which module types the method can adapt
 * (e.g. Linear); a target that names only unsupported modules, or nothing at all, is an error.
 */
export function findTargets(model: Module, target: readonly string[] | string, isSupported: (m: Module) => boolean, what = "this method"): string[] {
  const all = model.namedModules().filter(([n]) => n !== "");
  const supported = all.filter(([, m]) => isSupported(m)).map(([n]) => n);
  const help = () =>
    supported.length === 0
      ? "The model has no adaptable module (a layer implementing BaseLinear: Linear, Linear4bit)."
      : `The model's adaptable (Linear) modules are named: ${shortNames(supported).join(", ")} ` +
        `(e.g. "${supported[0]}"). Use those names, full paths, or a regular expression string.`;
  const matched = supported.filter((n) => isTargeted(n, target));
  if (typeof target !== "string") {
    for (const t of target) {
      if (!supported.some((n) => isTargeted(n, [t]))) {
        const other = all.find(([n]) => isTargeted(n, [t]));
        if (other) throw new Error(`target module "${t}" matches "${other[0]}", a ${other[1].constructor.name}, which ${what} cannot adapt. ${help()}`);
        throw new Error(`target module "${t}" is not in the model. ${help()}`);
      }
    }
  }
  if (matched.length === 0) throw new Error(`targetModules ${JSON.stringify(target)} matched no module. ${help()}`);
  return matched;
}
