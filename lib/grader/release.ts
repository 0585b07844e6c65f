/**
 * The release: an instructor source notebook → the student version (the format: solutions/README.md).
 *   - solution regions (// ### BEGIN SOLUTION … // ### END SOLUTION) become a stub at the marker's
 *     indentation: "// YOUR CODE HERE" + throw new Error("Not implemented"); in Markdown "YOUR ANSWER HERE";
 *   - hidden-test regions (// ### BEGIN HIDDEN TESTS … // ### END HIDDEN TESTS) are removed, leaving a
 *     comment that says they run at grading; the cell is marked coursekit.visibility = "hidden";
 *   - outputs and execution counts are cleared;
 *   - locked and graded cells are made read-only in Jupyter (metadata.editable/deletable = false), and every
 *     nbgrader cell gets nbgrader's checksum, so an edited test cell can be recognised.
 */
import { cellSource, cloneNotebook, JsonObject, NbCell, Notebook } from "../notebook/ipynb";
import { HIDDEN_BEGIN, HIDDEN_END, isGraded, isLocked, isSolution, lintNotebook, nbgraderChecksum, nbgraderMeta } from "./cells";

const CODE_BEGIN = /^(\s*)\/\/\s*### BEGIN SOLUTION\s*$/;
const CODE_END = /^\s*\/\/\s*### END SOLUTION\s*$/;
const MD_BEGIN = /^(\s*)(?:<!--\s*)?### BEGIN SOLUTION(?:\s*-->)?\s*$/;
const MD_END = /^\s*(?:<!--\s*)?### END SOLUTION(?:\s*-->)?\s*$/;

export const CODE_STUB = ["// YOUR CODE HERE", 'throw new Error("Not implemented");'];
export const MARKDOWN_STUB = ["YOUR ANSWER HERE"];
export const HIDDEN_NOTE = "// (hidden tests: they run when your instructor grades this notebook)";

export class ReleaseError extends Error {
  constructor(problems: string[]) {
    super(`the source notebook cannot be released:\n  - ${problems.join("\n  - ")}`);
    this.name = "ReleaseError";
  }
}

/**
 * Replaces every region between lines matching begin/end with replace(indent). Throws on a region that
 * is not closed, or an end marker without a begin.
 */
function replaceRegions(text: string, begin: RegExp, end: RegExp, replace: (indent: string) => string[], where: string): { text: string; count: number } {
  const out: string[] = [];
  let open: string | null = null;
  let count = 0;
  for (const line of text.split("\n")) {
    const b = begin.exec(line);
    if (open === null && b) {
      open = b[1] ?? "";
      count += 1;
      continue;
    }
    if (open !== null) {
      if (begin.test(line)) throw new ReleaseError([`${where}: a region opens inside another one`]);
      if (end.test(line)) {
        out.push(...replace(open).map((l) => `${open}${l}`));
        open = null;
      }
      continue;
    }
    if (end.test(line)) throw new ReleaseError([`${where}: an END marker without its BEGIN marker`]);
    out.push(line);
  }
  if (open !== null) throw new ReleaseError([`${where}: a BEGIN marker without its END marker`]);
  return { text: out.join("\n"), count };
}

function cellLabel(cell: NbCell, index: number): string {
  const id = nbgraderMeta(cell)?.grade_id;
  return `cell ${index + 1}${id ? ` (${id})` : ""}`;
}

/** The student version of one cell. */
export function releaseCell(source: NbCell, index: number): NbCell {
  const cell: NbCell = JSON.parse(JSON.stringify(source)) as NbCell;
  const where = cellLabel(source, index);
  let text = cellSource(cell);
  const md = cell.cell_type === "markdown";
  const solution = replaceRegions(text, md ? MD_BEGIN : CODE_BEGIN, md ? MD_END : CODE_END, () => (md ? MARKDOWN_STUB : CODE_STUB), where);
  if (solution.count > 0 && !isSolution(cell))
    throw new ReleaseError([`${where}: has a solution region but is not an exercise cell (nbgrader.solution: true)`]);
  text = solution.text;
  if (cell.cell_type === "code") {
    const hidden = replaceRegions(text, HIDDEN_BEGIN, HIDDEN_END, () => [HIDDEN_NOTE], where);
    if (hidden.count > 0 && !isGraded(cell)) throw new ReleaseError([`${where}: has a hidden-tests region but is not a graded cell (nbgrader.grade: true)`]);
    text = hidden.text;
    if (hidden.count > 0) cell.metadata.coursekit = { ...((cell.metadata.coursekit as JsonObject | undefined) ?? {}), visibility: "hidden" };
    cell.outputs = [];
    cell.execution_count = null;
  }
  cell.source = text;
  if (isLocked(cell)) {
    cell.metadata.editable = false;
    cell.metadata.deletable = false;
  }
  delete cell.metadata.execution;
  const m = cell.metadata.nbgrader as JsonObject | undefined;
  if (m && typeof m.grade_id === "string") m.checksum = nbgraderChecksum(cell);
  return cell;
}

/** The student version of a source notebook; throws ReleaseError listing every problem of the source. */
export function releaseNotebook(source: Notebook): Notebook {
  const problems = lintNotebook(source);
  source.cells.forEach((cell, i) => {
    if (cell.cell_type === "code" && (cell.outputs?.length ?? 0) > 0)
      problems.push(`cell ${i + 1}: the source is committed with outputs (clear them: sources are committed without outputs)`);
  });
  if (problems.length > 0) throw new ReleaseError(problems);
  const nb = cloneNotebook(source);
  nb.cells = source.cells.map((cell, i) => releaseCell(cell, i));
  return nb;
}
