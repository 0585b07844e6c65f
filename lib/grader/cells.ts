/**
 * The roles of a course notebook's cells, read from nbgrader's metadata (schema v3, under
 * `metadata.nbgrader`) and the kit's own options (under `metadata.coursekit`); see solutions/README.md.
 */
import { createHash } from "node:crypto";
import { cellSource, JsonObject, NbCell, Notebook } from "../notebook/ipynb";

import { KERNEL_NAME } from "../notebook/kernel-env";
export { KERNEL_NAME };
export const DEFAULT_CELL_TIMEOUT_S = 30;
export const DEFAULT_NOTEBOOK_BUDGET_S = 600;

export interface NbgraderMeta {
  grade_id: string;
  grade: boolean;
  solution: boolean;
  locked: boolean;
  points?: number;
  schema_version?: number;
  checksum?: string;
}

export interface CoursekitCellMeta {
  /** grade_id of the exercise a graded cell tests. */
  exercise?: string;
  timeout_s?: number;
  /** Written by the release: "hidden" when the source cell had a hidden-tests region. */
  visibility?: "public" | "hidden";
  /**
   * On an exercise cell: the library code the exercise asks the student to write themselves — names used as
   * values ("countAdapterParameters", "qrAdaptor") or property names (".numParameters"); see forbidden-names.ts.
   */
  reference?: string[];
}

const obj = (v: unknown): JsonObject | undefined => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as JsonObject) : undefined);

export function nbgraderMeta(cell: NbCell): NbgraderMeta | undefined {
  const m = obj(cell.metadata.nbgrader);
  if (!m || typeof m.grade_id !== "string") return undefined;
  return {
    grade_id: m.grade_id,
    grade: m.grade === true,
    solution: m.solution === true,
    locked: m.locked === true,
    points: typeof m.points === "number" ? m.points : undefined,
    schema_version: typeof m.schema_version === "number" ? m.schema_version : undefined,
    checksum: typeof m.checksum === "string" ? m.checksum : undefined,
  };
}

export function coursekitMeta(cell: NbCell): CoursekitCellMeta {
  const m = obj(cell.metadata.coursekit) ?? {};
  return {
    exercise: typeof m.exercise === "string" ? m.exercise : undefined,
    timeout_s: typeof m.timeout_s === "number" ? m.timeout_s : undefined,
    visibility: m.visibility === "hidden" || m.visibility === "public" ? m.visibility : undefined,
    reference: Array.isArray(m.reference) ? m.reference.filter((r): r is string => typeof r === "string") : undefined,
  };
}

export const gradeIdOf = (cell: NbCell): string | undefined => nbgraderMeta(cell)?.grade_id;
export const isGraded = (cell: NbCell): boolean => nbgraderMeta(cell)?.grade === true;
export const isSolution = (cell: NbCell): boolean => nbgraderMeta(cell)?.solution === true;
/** nbgrader's rule: solution cells are never locked, graded cells always are, others when they say so. */
export function isLocked(cell: NbCell): boolean {
  const m = nbgraderMeta(cell);
  if (!m || m.solution) return false;
  return m.grade || m.locked;
}
export const hasTag = (cell: NbCell, tag: string): boolean => Array.isArray(cell.metadata.tags) && cell.metadata.tags.includes(tag);

/**
 * Whether the instructor grades this notebook in two runs (grade.ts): `metadata.coursekit.verdict_run`.
 * Such a notebook's setup cells (imports, the backend; locked, tagged "setup") are the only given cells
 * the graded run executes besides the tests, so its tests may use nothing a demo cell makes.
 */
export function usesVerdictRun(nb: Notebook): boolean {
  return obj(nb.metadata.coursekit)?.verdict_run === true;
}

/** A setup cell: run in the graded run too (see usesVerdictRun). */
export const isSetupCell = (cell: NbCell): boolean => cell.cell_type === "code" && isLocked(cell) && hasTag(cell, "setup");

/** The per-cell time limit in seconds. */
export function cellTimeoutS(cell: NbCell): number {
  return coursekitMeta(cell).timeout_s ?? DEFAULT_CELL_TIMEOUT_S;
}

/** The whole-notebook time budget in seconds (metadata.coursekit.budget_s). */
export function notebookBudgetS(nb: Notebook): number {
  const b = obj(nb.metadata.coursekit)?.budget_s;
  return typeof b === "number" && b > 0 ? b : DEFAULT_NOTEBOOK_BUDGET_S;
}

/** Python's str(float(x)) for the numbers nbgrader hashes ("2.0", "0.5"). */
const pyFloat = (x: number): string => (Number.isInteger(x) ? x.toFixed(1) : String(x));
const pyBool = (b: boolean): string => (b ? "True" : "False");

/** nbgrader's compute_checksum (nbgrader/utils.py): md5 over source, type, roles, grade_id and points. */
export function nbgraderChecksum(cell: NbCell): string {
  const m = nbgraderMeta(cell);
  if (!m) throw new Error("nbgraderChecksum: the cell has no nbgrader metadata");
  const h = createHash("md5");
  h.update(cellSource(cell));
  h.update(cell.cell_type);
  h.update(pyBool(m.grade));
  h.update(pyBool(m.solution));
  h.update(pyBool(isLocked(cell)));
  h.update(m.grade_id);
  if (m.grade) h.update(pyFloat(m.points ?? 0));
  return h.digest("hex");
}

/** A graded test, as the grader sees it. */
export interface TestSpec {
  grade_id: string;
  points: number;
  exercise?: string;
  visibility: "public" | "hidden";
}

export const HIDDEN_BEGIN = /^\s*\/\/\s*### BEGIN HIDDEN TESTS\s*$/;
export const HIDDEN_END = /^\s*\/\/\s*### END HIDDEN TESTS\s*$/;

/** True when a (source) cell has a hidden-tests region, or the release marked it hidden. */
export function isHiddenTest(cell: NbCell): boolean {
  return (
    coursekitMeta(cell).visibility === "hidden" ||
    cellSource(cell)
      .split("\n")
      .some((l) => HIDDEN_BEGIN.test(l))
  );
}

export function testSpecs(nb: Notebook): TestSpec[] {
  return nb.cells.filter(isGraded).map((cell) => {
    const m = nbgraderMeta(cell) as NbgraderMeta;
    return { grade_id: m.grade_id, points: m.points ?? 0, exercise: coursekitMeta(cell).exercise, visibility: isHiddenTest(cell) ? "hidden" : "public" };
  });
}

/**
 * Problems that make a notebook unusable as a course source or release (one line each); empty when fine.
 * Checked: kernel, unique grade_ids, schema v3, points, check() calls that match their cell, exercises named
 * by tests exist and have tests.
 */
export function lintNotebook(nb: Notebook): string[] {
  const problems: string[] = [];
  const kernel = obj(nb.metadata.kernelspec)?.name;
  if (kernel !== KERNEL_NAME) problems.push(`the notebook's kernel is ${JSON.stringify(kernel)}, not "${KERNEL_NAME}" (metadata.kernelspec.name)`);
  const seen = new Map<string, number>();
  const exercises = new Set<string>();
  const tested = new Set<string>();
  nb.cells.forEach((cell, i) => {
    const where = `cell ${i + 1}`;
    const raw = obj(cell.metadata.nbgrader);
    if (raw && typeof raw.grade_id !== "string") problems.push(`${where}: nbgrader metadata without a grade_id`);
    const m = nbgraderMeta(cell);
    if (!m) return;
    if (seen.has(m.grade_id)) problems.push(`${where}: grade_id "${m.grade_id}" is also used by cell ${seen.get(m.grade_id)}`);
    seen.set(m.grade_id, i + 1);
    if (m.schema_version !== 3) problems.push(`${where} (${m.grade_id}): nbgrader schema_version must be 3`);
    if (m.solution && m.grade) problems.push(`${where} (${m.grade_id}): a cell is either an exercise (solution) or a graded test, not both`);
    if (m.solution && cell.cell_type === "code") exercises.add(m.grade_id);
    if (m.grade) {
      if (cell.cell_type !== "code") problems.push(`${where} (${m.grade_id}): graded cells must be code cells (no manual grading in this kit)`);
      if (!(typeof m.points === "number" && m.points > 0)) problems.push(`${where} (${m.grade_id}): a graded cell needs points > 0`);
      const calls = [...cellSource(cell).matchAll(/\bcheck\(\s*["'`]([^"'`]+)["'`]\s*,\s*([0-9.]+)/g)];
      if (calls.length !== 1)
        problems.push(`${where} (${m.grade_id}): a graded cell must call check("${m.grade_id}", ${m.points}, ...) exactly once (found ${calls.length})`);
      else if (calls[0][1] !== m.grade_id || Number(calls[0][2]) !== m.points) {
        problems.push(
          `${where} (${m.grade_id}): check("${calls[0][1]}", ${calls[0][2]}, ...) does not match the cell's grade_id "${m.grade_id}" and points ${m.points}`,
        );
      }
      if (!/\bt\.(observe|throws)\(/.test(cellSource(cell))) {
        problems.push(
          `${where} (${m.grade_id}): a graded cell must record what the grader compares: check("${m.grade_id}", ${m.points}, (t) => { t.observe("name", value); ... })`,
        );
      }
      const ex = coursekitMeta(cell).exercise;
      if (ex) tested.add(ex);
      else problems.push(`${where} (${m.grade_id}): a graded cell must name the exercise it tests (metadata.coursekit.exercise)`);
    }
  });
  for (const ex of tested) if (!exercises.has(ex)) problems.push(`a graded cell tests exercise "${ex}", but no code exercise cell has that grade_id`);
  for (const ex of exercises)
    if (!tested.has(ex) && !isCheckpointId(nb, ex)) problems.push(`exercise "${ex}" has no graded test (metadata.coursekit.exercise)`);
  return problems;
}

function isCheckpointId(nb: Notebook, id: string): boolean {
  const cell = nb.cells.find((c) => gradeIdOf(c) === id);
  return cell !== undefined && hasTag(cell, "checkpoint");
}
