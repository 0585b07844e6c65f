/**
 * A minimal typed command-line parser: `--name value`, `--name=value`, `--flag`, and `--help`.
 * Unknown options are an error that lists the known ones.
 */
type Spec = { type: "number"; default: number; help: string } | { type: "string"; default: string; help: string } | { type: "boolean"; default: boolean; help: string };
/** The values (defaults for what was not given), the positional words, and which options the user gave. */
type Parsed<S extends Record<string, Spec>> = { [K in keyof S]: S[K]["default"] } & { _: string[]; given: Set<keyof S & string> };

export function usage(spec: Record<string, Spec>): string {
  return Object.entries(spec)
    .map(([k, s]) => `  --${k}${s.type === "boolean" ? "" : ` <${s.type}>`}  ${s.help} (default ${JSON.stringify(s.default)})`)
    .join("\n");
}

export function parseArgs<S extends Record<string, Spec>>(argv: string[], spec: S): Parsed<S> {
  const given = new Set<string>();
  const out: Record<string, unknown> = { _: [] as string[], given };
  for (const [k, s] of Object.entries(spec)) out[k] = s.default;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--help" || a === "-h") {
      console.log(`options:\n${usage(spec)}`);
      process.exit(0);
    }
    if (!a.startsWith("--")) {
      (out._ as string[]).push(a);
      continue;
    }
    const eq = a.indexOf("=");
    const key = a.slice(2, eq < 0 ? undefined : eq);
    const s = spec[key];
    if (!s) throw new Error(`unknown option --${key}; known options:\n${usage(spec)}`);
    given.add(key);
    if (s.type === "boolean") {
      out[key] = eq < 0 ? true : a.slice(eq + 1) !== "false";
      continue;
    }
    const raw = eq < 0 ? argv[++i] : a.slice(eq + 1);
    if (raw === undefined) throw new Error(`--${key} needs a value`);
    if (s.type === "number") {
      const n = Number(raw);
      if (!isFinite(n)) throw new Error(`--${key} expects a number, got "${raw}"`);
      out[key] = n;
    } else out[key] = raw;
  }
  return out as Parsed<S>;
}
