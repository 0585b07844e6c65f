/**
 * Look at a dataset as a danfojs DataFrame (handy in the notebooks:
 * `df.head()`, `df["label"].valueCounts()`, `df.print()`).
 *
 * danfojs takes about a second to load, so it is required lazily, on the
 * first call of {@link toDataFrame}; importing lib/data stays instant.
 */
import type { DataFrame } from "danfojs";
import type { Example } from "./datasets";

/** The danfojs module, loaded on first use. */
type Danfo = typeof import("danfojs");
let danfo: Danfo | undefined;

export function loadDanfo(): Danfo {
  danfo ??= require("danfojs") as Danfo;
  return danfo;
}

/** Options of {@link toDataFrame}. */
export interface DataFrameOptions {
  /** Ordered label list (see `labelNames`); adds a `label_id` column. */
  labelNames?: readonly string[];
}

/** The optional string fields of an Example that become columns when every example has them. */
const EXTRA_FIELDS = ["source", "lemma"] as const;

/**
 * One row per example. Columns: `text`, `label`, then `source` / `lemma`
 * when every example has that field, then `label_id` when `labelNames` is
 * given (-1 for a label not in the list).
 */
export function toDataFrame(examples: readonly Example[], opts: DataFrameOptions = {}): DataFrame {
  const columns: Record<string, (string | number)[]> = {
    text: examples.map((e) => e.text),
    label: examples.map((e) => e.label),
  };
  for (const field of EXTRA_FIELDS) {
    if (examples.length > 0 && examples.every((e) => typeof e[field] === "string")) {
      columns[field] = examples.map((e) => e[field] ?? "");
    }
  }
  if (opts.labelNames) {
    const index = new Map(opts.labelNames.map((n, i) => [n, i] as const));
    columns.label_id = examples.map((e) => index.get(e.label) ?? -1);
  }
  const { DataFrame: DataFrameClass } = loadDanfo();
  if (examples.length === 0) return new DataFrameClass([], { columns: Object.keys(columns) });
  return new DataFrameClass(columns);
}

/** A DataFrame from row objects (e.g. comparison results); columns in the order of the first row's keys. */
export function rowsToDataFrame(rows: ReadonlyArray<Record<string, string | number>>): DataFrame {
  const { DataFrame: DataFrameClass } = loadDanfo();
  if (rows.length === 0) return new DataFrameClass([]);
  const columns: Record<string, (string | number)[]> = {};
  for (const key of Object.keys(rows[0])) columns[key] = rows.map((r) => r[key]);
  return new DataFrameClass(columns);
}
