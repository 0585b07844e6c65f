/**
 * Jupyter notebook files (nbformat 4): types, reading with clear errors, and writing the way Jupyter does
 * (sorted keys, one-space indent, sources split into lines), so a generated file is byte-for-byte stable.
 */
import * as fs from "node:fs";

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export interface NbOutput {
  output_type: "stream" | "display_data" | "execute_result" | "error" | "update_display_data";
  name?: "stdout" | "stderr";
  text?: string | string[];
  data?: Record<string, JsonValue>;
  metadata?: JsonObject;
  execution_count?: number | null;
  ename?: string;
  evalue?: string;
  traceback?: string[];
}

export interface NbCell {
  cell_type: "code" | "markdown" | "raw";
  id?: string;
  metadata: JsonObject;
  source: string | string[];
  outputs?: NbOutput[];
  execution_count?: number | null;
  attachments?: JsonObject;
}

export interface Notebook {
  nbformat: number;
  nbformat_minor: number;
  metadata: JsonObject;
  cells: NbCell[];
}

/** A file that is not a notebook of the course's format; the message says what is wrong and what to do. */
export class NotebookFormatError extends Error {
  constructor(file: string, problem: string) {
    super(`${file}: ${problem}`);
    this.name = "NotebookFormatError";
  }
}

/** A cell's source as one string. */
export function cellSource(cell: NbCell): string {
  return Array.isArray(cell.source) ? cell.source.join("") : cell.source;
}

/**
 * How a student finds cell `index`: "In [k]" for a code cell (k counts code cells from 1, which is what
 * Jupyter shows beside it after Run All in a fresh kernel), "markdown cell k" otherwise.
 */
export function cellName(nb: Notebook, index: number): string {
  const kind = nb.cells[index]?.cell_type ?? "code";
  const k = nb.cells.slice(0, index + 1).filter((c) => c.cell_type === kind).length;
  return kind === "code" ? `In [${k}]` : `${kind} cell ${k}`;
}

/** Text of a stream output as one string. */
export function outputText(o: NbOutput): string {
  return Array.isArray(o.text) ? o.text.join("") : (o.text ?? "");
}

/** Splits text into Jupyter's list-of-lines form (every line but the last keeps its "\n"). */
export function splitLines(text: string): string[] {
  if (text === "") return [];
  const lines = text.split("\n").map((l, i, all) => (i < all.length - 1 ? `${l}\n` : l));
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Checks the structure of parsed JSON and returns it as a Notebook, or throws NotebookFormatError. */
export function asNotebook(value: unknown, file = "notebook"): Notebook {
  if (!isObject(value)) throw new NotebookFormatError(file, "is not a Jupyter notebook (the file is JSON but not an object).");
  if (value.nbformat !== 4) {
    throw new NotebookFormatError(
      file,
      `is not an nbformat 4 notebook (nbformat: ${JSON.stringify(value.nbformat)}). Open it in JupyterLab and save it again, or download a fresh copy.`,
    );
  }
  if (!Array.isArray(value.cells)) throw new NotebookFormatError(file, "has no list of cells.");
  value.cells.forEach((cell, i) => {
    if (!isObject(cell) || !["code", "markdown", "raw"].includes(String(cell.cell_type))) {
      throw new NotebookFormatError(file, `cell ${i + 1} is not a code, markdown or raw cell.`);
    }
    if (typeof cell.source !== "string" && !(Array.isArray(cell.source) && cell.source.every((s) => typeof s === "string"))) {
      throw new NotebookFormatError(file, `cell ${i + 1} has no text source.`);
    }
    if (cell.metadata === undefined) cell.metadata = {};
    if (!isObject(cell.metadata)) throw new NotebookFormatError(file, `cell ${i + 1} has metadata that is not an object.`);
  });
  if (value.metadata === undefined) value.metadata = {};
  if (!isObject(value.metadata)) throw new NotebookFormatError(file, "has notebook metadata that is not an object.");
  return value as unknown as Notebook;
}

/** Reads and checks a notebook file (clear errors for a missing file, bad JSON, or another format). */
export function readNotebook(file: string): Notebook {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new NotebookFormatError(file, `cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)}).`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new NotebookFormatError(file, `is not a Jupyter notebook: it is not valid JSON (${(e as Error).message}). Was it saved as .ipynb from Jupyter?`);
  }
  return asNotebook(parsed, file);
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (isObject(value)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) out[key] = sortKeys(value[key]);
    return out;
  }
  return value;
}

/** The notebook as Jupyter writes it: sources and stream texts as lists of lines, sorted keys, indent 1. */
export function serializeNotebook(nb: Notebook): string {
  const cells = nb.cells.map((cell) => {
    const out: NbCell = { ...cell, source: splitLines(cellSource(cell)) };
    if (cell.outputs) out.outputs = cell.outputs.map((o) => (o.output_type === "stream" ? { ...o, text: splitLines(outputText(o)) } : o));
    return out;
  });
  return `${JSON.stringify(sortKeys({ ...nb, cells }), null, 1)}\n`;
}

export function writeNotebook(file: string, nb: Notebook): void {
  fs.writeFileSync(file, serializeNotebook(nb));
}

/** A deep copy (notebooks are plain JSON). */
export function cloneNotebook(nb: Notebook): Notebook {
  return JSON.parse(JSON.stringify(nb)) as Notebook;
}
