/**
 * Showing danfojs DataFrames readably. danfojs' `print()` cuts every column to 16 characters
 * ("gradients measu…") and draws a box table as wide as the data, which wraps in a notebook's output area.
 * Here:
 *   - `fitColumns(df)` sizes each text column to its longest entry (capped) for `df.print()`;
 *   - `showFrame(df)` shows the frame in a notebook as an HTML table (with the text table as the plain-text
 *     fallback), and prints the text table elsewhere;
 *   - `printRows(rows)` builds a DataFrame from row objects and shows it that way.
 *
 *   printRows([{ method: "full", "trainable params": 1478786 }, { method: "head", "trainable params": 16770 }]);
 */
import type { DataFrame } from "danfojs";
import { rowsToDataFrame } from "../data/dataframe";
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

function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** The frame as an HTML table (index column first; numbers right-aligned), at most `maxRows` rows. */
export function frameHtml(df: DataFrame, opts: PrintFrameOptions = {}): string {
  const rows = (df.values as unknown as unknown[][]).slice(0, opts.maxRows ?? Infinity);
  const index = df.index.map((i) => String(i));
  const head = `<tr><th></th>${df.columns.map((c) => `<th>${escapeHtml(c)}</th>`).join("")}</tr>`;
  const body = rows
    .map((r, i) => {
      const cells = r.map((v) => `<td style="text-align:${typeof v === "number" ? "right" : "left"}">${escapeHtml(String(v))}</td>`).join("");
      return `<tr><th>${escapeHtml(index[i] ?? "")}</th>${cells}</tr>`;
    })
    .join("");
  const more = df.values.length > rows.length ? `<p>… ${df.values.length - rows.length} more rows</p>` : "";
  return `<table class="dataframe"><thead>${head}</thead><tbody>${body}</tbody></table>${more}`;
}

/** In a notebook: an HTML table with the text table as fallback; elsewhere: the text table on stdout. */
export function showFrame(df: DataFrame, opts: PrintFrameOptions = {}): void {
  fitColumns(df, opts);
  if (!notebookDisplayBundle({ "text/html": frameHtml(df, opts), "text/plain": df.toString() })) df.print();
}

/**
 * Shows row objects as a DataFrame (columns in the first row's key order); see showFrame. Returns nothing,
 * so that as a cell's last statement it shows only the table.
 */
export function printRows(rows: ReadonlyArray<Record<string, string | number>>, opts: PrintFrameOptions = {}): void {
  showFrame(rowsToDataFrame(rows), opts);
}
