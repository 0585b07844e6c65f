/**
 * Showing danfojs DataFrames readably. danfojs' `print()` cuts every column to 16 characters
 * ("gradients measu…") and draws a box table as wide as the data, which wraps in a notebook's output area.
 * Here:
 *   - `fitColumns(df)` sizes each text column to its longest entry (capped) for `df.print()`;
 *   - `showFrame(df)` shows the frame in a notebook as an HTML table (with the text table as the plain-text
 *     fallback), and prints the text table elsewhere;
 *   - `printRows(rows)` shows row objects the same way without building a DataFrame (no danfojs to load).
 *
 *   printRows([{ method: "full", "trainable params": 1478786 }, { method: "head", "trainable params": 16770 }]);
 */
import type { DataFrame } from "danfojs";
import { escapeHtml } from "../util/html";
import { notebookDisplayBundle } from "./tslab";

export interface PrintFrameOptions {
  /** The widest a column of the text table may be (longer entries end in "…"); default 48. */
  maxWidth?: number;
  /** The most rows shown; default: all of them. */
  maxRows?: number;
}

type TableConfig = Parameters<DataFrame["config"]["setTableDisplayConfig"]>[0];

/** Makes `df.print()` show whole column names and values (up to `maxWidth` characters); returns `df`. */
export function fitColumns(df: DataFrame, opts: PrintFrameOptions = {}): DataFrame {
  const maxWidth = opts.maxWidth ?? 48;
  const rows = df.values as unknown as unknown[][];
  const index = df.index.map((i) => String(i));
  const header = ["", ...df.columns];
  const columns: Record<number, { width: number; truncate: number }> = {};
  header.forEach((name, c) => {
    const cells = c === 0 ? index : rows.map((r) => String(r[c - 1]));
    const width = Math.max(1, Math.min(maxWidth, Math.max(name.length, ...cells.map((s) => s.length))));
    columns[c] = { width, truncate: width };
  });
  const config: TableConfig = { columns };
  df.config.setTableDisplayConfig(config);
  df.config.setTableMaxColInConsole(header.length);
  df.config.setMaxRow(opts.maxRows ?? Math.max(1, rows.length));
  return df;
}

/** Cells as an HTML table (index column first; numbers right-aligned), at most `maxRows` rows. */
function tableHtml(columns: readonly string[], index: readonly string[], rows: ReadonlyArray<readonly unknown[]>, maxRows = Infinity): string {
  const shown = rows.slice(0, maxRows);
  const head = `<tr><th></th>${columns.map((c) => `<th>${escapeHtml(c)}</th>`).join("")}</tr>`;
  const body = shown
    .map((r, i) => {
      const cells = r.map((v) => `<td style="text-align:${typeof v === "number" ? "right" : "left"}">${escapeHtml(String(v))}</td>`).join("");
      return `<tr><th>${escapeHtml(index[i] ?? "")}</th>${cells}</tr>`;
    })
    .join("");
  const more = rows.length > shown.length ? `<p>… ${rows.length - shown.length} more rows</p>` : "";
  return `<table class="dataframe"><thead>${head}</thead><tbody>${body}</tbody></table>${more}`;
}

/** Cells as a plain-text table, each column as wide as its widest entry (up to `maxWidth`). */
function tableText(columns: readonly string[], index: readonly string[], rows: ReadonlyArray<readonly unknown[]>, opts: PrintFrameOptions = {}): string {
  const maxWidth = opts.maxWidth ?? 48;
  const shown = rows.slice(0, opts.maxRows ?? Infinity);
  const cut = (s: string) => (s.length > maxWidth ? `${s.slice(0, maxWidth - 1)}…` : s);
  const grid = [["", ...columns], ...shown.map((r, i) => [index[i] ?? "", ...r.map((v) => String(v))])].map((r) => r.map(cut));
  const width = grid[0].map((_, c) => Math.max(...grid.map((r) => r[c].length)));
  const line = (r: string[]) =>
    r
      .map((v, c) => (c > 0 && typeof shown[0]?.[c - 1] === "number" ? v.padStart(width[c]) : v.padEnd(width[c])))
      .join("  ")
      .trimEnd();
  const more = rows.length > shown.length ? [`… ${rows.length - shown.length} more rows`] : [];
  return [line(grid[0]), width.map((w) => "-".repeat(w)).join("  "), ...grid.slice(1).map(line), ...more].join("\n");
}

/** The frame as an HTML table (index column first; numbers right-aligned), at most `maxRows` rows. */
export function frameHtml(df: DataFrame, opts: PrintFrameOptions = {}): string {
  return tableHtml(
    df.columns,
    df.index.map((i) => String(i)),
    df.values as unknown as unknown[][],
    opts.maxRows,
  );
}

/** In a notebook: an HTML table with the text table as fallback; elsewhere: the text table on stdout. */
function showTable(columns: readonly string[], index: readonly string[], rows: ReadonlyArray<readonly unknown[]>, opts: PrintFrameOptions): void {
  const text = tableText(columns, index, rows, opts);
  if (!notebookDisplayBundle({ "text/html": tableHtml(columns, index, rows, opts.maxRows), "text/plain": text })) console.log(text);
}

/** In a notebook: an HTML table with the text table as fallback; elsewhere: the text table on stdout. */
export function showFrame(df: DataFrame, opts: PrintFrameOptions = {}): void {
  // Built from the frame's columns, index and values only: no danfojs display settings, which frames made
  // by groupby().agg() do not have.
  showTable(
    df.columns,
    df.index.map((i) => String(i)),
    df.values as unknown as unknown[][],
    opts,
  );
}

/**
 * Shows row objects as a table (columns in the first row's key order, rows numbered from 0 like a
 * DataFrame's index): in a notebook an HTML table with a text table as fallback, elsewhere the text table.
 * Needs no danfojs (which takes seconds and ~50 MB to load). Returns nothing, so that as a cell's last
 * statement it shows only the table.
 */
export function printRows(rows: ReadonlyArray<Record<string, string | number>>, opts: PrintFrameOptions = {}): void {
  const columns = rows.length > 0 ? Object.keys(rows[0]) : [];
  showTable(
    columns,
    rows.map((_, i) => String(i)),
    rows.map((r) => columns.map((c) => r[c] ?? "")),
    opts,
  );
}
