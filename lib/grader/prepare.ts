/**
 * The first step of grading: the notebook to run, the tests that count and the exercises' stubs, per mode.
 *   - instructor: the submission with every locked and graded cell of the source put back by grade_id
 *     (deleted ones re-inserted, edited ones overwritten, each with a warning), hidden tests included;
 *   - student: the notebook as it is; edited test cells and cells that only claim to be tests are reported.
 */
import { randomUUID } from "node:crypto";
import { cellName, cellSource, cloneNotebook, JsonObject, NbCell, Notebook } from "../notebook/ipynb";
import { gradeIdOf, isGraded, isHiddenTest, isLocked, isSetupCell, isSolution, nbgraderChecksum, nbgraderMeta, TestSpec, testSpecs } from "./cells";
import { exerciseReferences, StudentCell, studentWrittenCells } from "./forbidden-names";
import { releaseCell } from "./release";

/** What the execute and verdict steps need. */
export interface PreparedNotebook {
  notebook: Notebook;
  tests: TestSpec[];
  /** The released stub of each exercise, by grade_id: a failing test whose exercise is still its stub is "not attempted". */
  stubs: Map<string, string>;
  /** The cells the student wrote, and the library code each exercise asks them to write themselves. */
  studentCells: StudentCell[];
  references: Map<string, string[]>;
  warnings: string[];
}

/** Instructor mode: the source's tests restored into the submission; the stubs are the source's released cells. */
export function prepareForInstructor(submission: Notebook, source: Notebook): PreparedNotebook {
  const { notebook, warnings } = restoreFromSource(submission, source);
  const stubs = new Map<string, string>();
  const sourceTexts = new Set<string>();
  source.cells.forEach((c, k) => {
    const released = cellSource(releaseCell(c, k));
    if (isSolution(c)) stubs.set(gradeIdOf(c) as string, released);
    sourceTexts.add(cellSource(c)).add(released);
  });
  return {
    notebook,
    tests: testSpecs(source),
    stubs,
    studentCells: studentWrittenCells(notebook, source, sourceTexts),
    references: exerciseReferences(source),
    warnings,
  };
}

/** Student mode: the notebook as it is, with warnings for edited tests and for cells that only claim to be tests. */
export function prepareForStudent(submission: Notebook): PreparedNotebook {
  const nb = cloneNotebook(submission);
  const warnings = editedTestWarnings(nb);
  // A released test cell carries the release's checksum; a cell that only claims to be a test does not.
  nb.cells.forEach((c, i) => {
    if (isGraded(c) && !nbgraderMeta(c)?.checksum) {
      warnings.push(`${cellName(nb, i)} claims to be test "${gradeIdOf(c)}" but was not released as one: not counted`);
      delete c.metadata.nbgrader;
    }
  });
  // An exercise cell whose content still matches the release's checksum is the untouched stub.
  const stubs = new Map<string, string>();
  for (const c of nb.cells) {
    const m = nbgraderMeta(c);
    if (m && isSolution(c) && m.checksum && nbgraderChecksum(c) === m.checksum) stubs.set(m.grade_id, cellSource(c));
  }
  return { notebook: nb, tests: testSpecs(nb), stubs, studentCells: studentWrittenCells(nb), references: exerciseReferences(nb), warnings };
}

/**
 * Instructor mode: the notebook to run — the submission with every locked/graded cell of the source put
 * back by grade_id, in the source's order relative to the cells around it.
 */
export function restoreFromSource(submission: Notebook, source: Notebook): { notebook: Notebook; warnings: string[] } {
  const warnings: string[] = [];
  const nb = cloneNotebook(submission);
  nb.metadata = { ...source.metadata, ...nb.metadata, kernelspec: source.metadata.kernelspec, coursekit: source.metadata.coursekit ?? {} };
  const sourceIds = new Set(source.cells.map(gradeIdOf).filter((id): id is string => id !== undefined));
  // Cells that pretend to be tests the source does not have, and duplicates of real ones, count for nothing.
  const seen = new Set<string>();
  nb.cells.forEach((cell, i) => {
    const id = gradeIdOf(cell);
    if (!id) return;
    const duplicate = seen.has(id);
    seen.add(id);
    if (!duplicate && sourceIds.has(id)) return;
    if (isGraded(cell) || isLocked(cell)) {
      warnings.push(`${cellName(nb, i)} claims to be ${duplicate ? `a second copy of "${id}"` : `"${id}", which is not in the source`}: not counted`);
    }
    delete cell.metadata.nbgrader;
  });
  let anchor = -1; // index in nb.cells after which the next missing cell is inserted
  for (const [k, src] of source.cells.entries()) {
    const id = gradeIdOf(src);
    if (!id) continue;
    const at = nb.cells.findIndex((c) => gradeIdOf(c) === id);
    if (!(isLocked(src) || isGraded(src))) {
      if (at >= 0) {
        // The student's content stays; its role comes from the source (an exercise cannot become a test).
        nb.cells[at].metadata.nbgrader = JSON.parse(JSON.stringify(src.metadata.nbgrader)) as JsonObject;
        anchor = at;
      } else if (isSolution(src)) {
        warnings.push(`exercise cell "${id}" was deleted: it is re-inserted as the student version (stub)`);
        nb.cells.splice(anchor + 1, 0, releaseCell(src, k));
        anchor += 1;
      }
      continue;
    }
    const restored: NbCell = JSON.parse(JSON.stringify(src)) as NbCell;
    if (restored.cell_type === "code") {
      restored.outputs = [];
      restored.execution_count = null;
    }
    if (at < 0) {
      warnings.push(`${isGraded(src) ? "test" : "read-only"} cell "${id}" was deleted: re-inserted from the source`);
      nb.cells.splice(anchor + 1, 0, restored);
      anchor += 1;
      continue;
    }
    const released = releaseCell(src, k);
    const given = nb.cells[at];
    if (cellSource(given) !== cellSource(released) && cellSource(given) !== cellSource(src)) {
      warnings.push(`${isGraded(src) ? "test" : "read-only"} cell "${id}" was edited: restored from the source`);
    }
    nb.cells[at] = restored;
    anchor = at;
  }
  // nbformat 4.5 (what JupyterLab saves) requires an id on every cell, also the re-inserted ones.
  if (nb.nbformat_minor >= 5) for (const c of nb.cells) if (!c.id) c.id = randomUUID().slice(0, 8);
  return { notebook: nb, warnings };
}

/** Student mode: warnings for test cells whose content no longer matches the released checksum. */
function editedTestWarnings(nb: Notebook): string[] {
  return nb.cells.flatMap((cell) => {
    const m = nbgraderMeta(cell);
    if (!m || !(isGraded(cell) || isLocked(cell)) || !m.checksum) return [];
    return nbgraderChecksum(cell) === m.checksum
      ? []
      : [`${isGraded(cell) ? "test" : "read-only"} cell "${m.grade_id}" was edited: your instructor grades with the original, so this result may differ`];
  });
}

/**
 * Instructor mode, the feedback run (what comes back to the student): the restored notebook with each hidden
 * test as the student has it (its hidden region removed), so that no code of a hidden test is ever in the
 * kernel whose outputs are handed back.
 */
export function feedbackRunNotebook(nb: Notebook, source: Notebook): Notebook {
  const copy = cloneNotebook(nb);
  const sourceIndex = new Map(source.cells.map((c, k) => [gradeIdOf(c), k] as const));
  copy.cells = copy.cells.map((cell) => {
    const k = isGraded(cell) ? sourceIndex.get(gradeIdOf(cell)) : undefined;
    if (k === undefined || !isHiddenTest(source.cells[k])) return cell;
    const released = releaseCell(source.cells[k], k);
    return { ...released, id: cell.id, outputs: [], execution_count: null } as NbCell;
  });
  return copy;
}

/**
 * Instructor mode, the verdict run (whose outputs never come back): the same cells in the same places, but
 * only the setup cells, the cells the student wrote and the tests (hidden ones included) keep their code;
 * every other cell is emptied (not run). Its kernel's library lacks what the exercises imitate.
 *
 * Each test runs in strict mode (a "use strict" directive on its first line: tslab wraps a cell's code in a
 * function, and the directive becomes that function's), so a student's function called by a test cannot read
 * the test through `fn.caller` (V8 hides a strict caller: `null`).
 */
export function verdictRunNotebook(nb: Notebook, studentCells: StudentCell[]): Notebook {
  const copy = cloneNotebook(nb);
  const student = new Set(studentCells.map((c) => c.index));
  copy.cells.forEach((cell, i) => {
    if (cell.cell_type !== "code" || student.has(i) || isSetupCell(cell)) return;
    if (isGraded(cell)) {
      cell.source = `${STRICT} ${cellSource(cell)}`;
      return;
    }
    cell.source = "";
    cell.outputs = [];
  });
  return copy;
}

/** The directive that makes a test cell strict (kept on the cell's first line, so line numbers stay). */
export const STRICT = '"use strict";';
