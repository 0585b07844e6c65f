/**
 * The command-line parser of every script: `--name value`, `--name=value`, `--flag`, `--help`, `--debug`.
 *
 * Anything wrong is one line on stderr and exit code 2 — an unknown option (with the nearest known one), a
 * missing value, a value of the wrong type or out of range, a word where none is expected — never a stack
 * trace (`--debug` shows it). Numbers are checked only when given: a default of 0 may mean "the method's own".
 */
type NumberSpec = {
  type: "number";
  default: number;
  help: string;
  /** The smallest value allowed (inclusive). */
  min?: number;
  /** Values must be greater than this (e.g. a learning rate > 0). */
  above?: number;
  integer?: boolean;
};
type Spec = NumberSpec | { type: "string"; default: string; help: string } | { type: "boolean"; default: boolean; help: string };

/** The values (defaults for what was not given), the positional words, and which options the user gave. */
type Parsed<S extends Record<string, Spec>> = { [K in keyof S]: S[K]["default"] } & { _: string[]; given: Set<keyof S & string>; debug: boolean };

export interface ParseOptions {
  /** Positional words allowed: how many, and what they are (for the message). Default: none. */
  positionals?: { max: number; name: string };
  /** The command as the user types it, for messages ("npm run peft -- train"). */
  command?: string;
}

/** A mistake in the command line: reported as one line with exit code 2. */
export class UsageError extends Error {}

export function usage(spec: Record<string, Spec>): string {
  return Object.entries(spec)
    .map(([k, s]) => `  --${k}${s.type === "boolean" ? "" : ` <${s.type}>`}  ${s.help} (default ${JSON.stringify(s.default)})`)
    .concat("  --debug  show the stack trace of an error")
    .join("\n");
}

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return row[b.length];
}

function nearest(key: string, known: string[]): string | undefined {
  // A known option the given one starts with, or that starts with it, is the likeliest meaning (--rank → --r).
  const prefix = known.filter((k) => key.startsWith(k) || k.startsWith(key)).sort((x, y) => Math.abs(x.length - key.length) - Math.abs(y.length - key.length));
  if (prefix.length > 0 && key.length > 0) return prefix[0];
  const scored = known.map((k) => [k, distance(key, k)] as const).sort((x, y) => x[1] - y[1]);
  return scored.length && scored[0][1] <= Math.max(2, Math.floor(key.length / 3)) ? scored[0][0] : undefined;
}

function checkNumber(key: string, s: NumberSpec, raw: string): number {
  const n = raw.trim() === "" ? NaN : Number(raw);
  if (!Number.isFinite(n)) throw new UsageError(`--${key} expects a number, got "${raw}"`);
  if (s.integer && !Number.isInteger(n)) throw new UsageError(`--${key} expects a whole number, got ${raw}`);
  if (s.min !== undefined && n < s.min) throw new UsageError(`--${key} must be at least ${s.min}, got ${raw}`);
  if (s.above !== undefined && !(n > s.above)) throw new UsageError(`--${key} must be greater than ${s.above}, got ${raw}`);
  return n;
}

function parse<S extends Record<string, Spec>>(argv: string[], spec: S, opts: ParseOptions): Parsed<S> {
  const given = new Set<string>();
  const out: Record<string, unknown> = { _: [] as string[], given, debug: false };
  for (const [k, s] of Object.entries(spec)) out[k] = s.default;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--help" || a === "-h") {
      console.log(`${opts.command ? `${opts.command} ` : ""}options:\n${usage(spec)}`);
      process.exit(0);
    }
    if (a === "--debug") {
      out.debug = true;
      continue;
    }
    if (!a.startsWith("-") || a === "-") {
      const words = out._ as string[];
      const max = opts.positionals?.max ?? 0;
      if (words.length >= max) {
        throw new UsageError(
          max === 0 ? `unexpected argument "${a}" (options start with --)` : `too many arguments: "${a}" (at most ${max} ${opts.positionals?.name})`,
        );
      }
      words.push(a);
      continue;
    }
    const eq = a.indexOf("=");
    const key = a.slice(a.startsWith("--") ? 2 : 1, eq < 0 ? undefined : eq);
    const s = spec[key];
    if (!s) {
      const near = nearest(key, Object.keys(spec));
      throw new UsageError(`unknown option ${a.slice(0, eq < 0 ? undefined : eq)}${near ? `; did you mean --${near}?` : ""} (--help lists the options)`);
    }
    given.add(key);
    if (s.type === "boolean") {
      const v = eq < 0 ? "true" : a.slice(eq + 1);
      if (v !== "true" && v !== "false") throw new UsageError(`--${key} is a flag: give it alone (or --${key}=false)`);
      out[key] = v === "true";
      continue;
    }
    const raw = eq < 0 ? argv[++i] : a.slice(eq + 1);
    if (raw === undefined || (eq < 0 && raw.startsWith("--"))) throw new UsageError(`--${key} needs a value`);
    out[key] = s.type === "number" ? checkNumber(key, s, raw) : raw;
  }
  return out as Parsed<S>;
}

/** The script's name for messages: "peft" for scripts/peft.ts. */
function scriptName(): string {
  const file = process.argv[1] ?? "command";
  return file.replace(/^.*[\\/]/, "").replace(/\.[cm]?[jt]s$/, "");
}

/** Parses `argv`; a mistake prints one line and exits with code 2 (with --debug it throws instead). */
export function parseArgs<S extends Record<string, Spec>>(argv: string[], spec: S, opts: ParseOptions = {}): Parsed<S> {
  try {
    return parse(argv, spec, opts);
  } catch (e) {
    if (!(e instanceof UsageError) || argv.includes("--debug")) throw e;
    failUsage(e.message);
  }
}

/** One line on stderr, exit code 2. */
export function failUsage(message: string): never {
  console.error(`${scriptName()}: ${message}`);
  process.exit(2);
}

/**
 * Runs a script's main function: an error is one line on stderr (exit 2 for a UsageError, 1 otherwise),
 * with its stack trace only when the command line has --debug.
 */
export function runMain(main: () => Promise<number | void> | number | void): void {
  const debug = process.argv.includes("--debug");
  Promise.resolve()
    .then(main)
    .then(
      (code) => process.exit(typeof code === "number" ? code : 0),
      (e: unknown) => {
        if (debug) console.error(e);
        else console.error(`${scriptName()}: ${e instanceof Error ? e.message : String(e)}${e instanceof UsageError ? "" : "  (--debug shows where)"}`);
        process.exit(e instanceof UsageError ? 2 : 1);
      },
    );
}
