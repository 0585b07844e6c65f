/**
 * The instructor's two checks over the course's notebooks:
 *   - verify-solutions: every source notebook (solutions/) runs with no cell failing, every test's own
 *     assertions pass on the solution, every test records observations, every checkpoint is answered
 *     correctly; and the source graded as a submission (a second kernel, the same seed) scores 100 %
 *     against that reference run, which proves the observations are reproducible;
 *   - verify-release: every student version (notebooks/) is exactly what the release produces from its
 *     source, and every exercise's tests fail on the stubs (cells after the last test are not run: they
 *     cannot change a verdict).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { readNotebook, serializeNotebook } from "../notebook/ipynb";
import { CHECKPOINT_MIME, CheckpointRecord } from "../notebook/checkpoint";
import { defaultSeed, gradeNotebook, GradeOptions, GradeReport, sandboxDecision } from "./grade";
import { referenceFor } from "./reference";
import { gradeIdOf, isGraded } from "./cells";
import { releaseNotebook } from "./release";
import { recordsIn } from "./records";

export interface Verdict {
  file: string;
  ok: boolean;
  problems: string[];
  /** Worth knowing, not a failure (e.g. cells a student's "Run All" stops at before doing the exercises). */
  notes: string[];
  report?: GradeReport;
}

export const SOURCES_DIR = "solutions";
export const RELEASE_DIR = "notebooks";

/** Every .ipynb under a folder (sorted), skipping checkpoints and feedback folders. */
export function findNotebooks(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  if (fs.statSync(dir).isFile()) return [dir];
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name === ".ipynb_checkpoints" || entry.name.endsWith(".feedback") || entry.name === "node_modules") continue;
      out.push(...findNotebooks(p));
    } else if (entry.name.endsWith(".ipynb") && !entry.name.endsWith(".executed.ipynb")) {
      out.push(p);
    }
  }
  return out;
}

/** notebooks/<rel> for solutions/<rel>. */
export function releasePathFor(root: string, sourceFile: string): string {
  const rel = path.relative(path.join(root, SOURCES_DIR), path.resolve(sourceFile));
  if (rel.startsWith("..")) throw new Error(`${sourceFile} is not under ${SOURCES_DIR}/`);
  return path.join(root, RELEASE_DIR, rel);
}

/**
 * The source of a submission: the same relative path under solutions/ when the file is under notebooks/
 * (or is a source itself); otherwise the one source notebook with the same file name.
 */
export function sourcePathFor(root: string, file: string): string | undefined {
  const abs = path.resolve(file);
  for (const dir of [RELEASE_DIR, SOURCES_DIR]) {
    const rel = path.relative(path.join(root, dir), abs);
    if (!rel.startsWith("..") && !path.isAbsolute(rel)) {
      const candidate = path.join(root, SOURCES_DIR, rel);
      if (fs.existsSync(candidate)) return candidate;
    }
  }
  const matches = findNotebooks(path.join(root, SOURCES_DIR)).filter((s) => path.basename(s) === path.basename(abs));
  return matches.length === 1 ? matches[0] : undefined;
}

type RunOpts = Pick<GradeOptions, "onCell" | "timeoutMsFor" | "timeScale" | "seed">;

export async function verifySolution(root: string, sourceFile: string, opts: RunOpts = {}): Promise<Verdict> {
  const source = readNotebook(sourceFile);
  const problems: string[] = [];
  // The reference run: the solution's own assertions, its observations, its checkpoints.
  const sandbox = sandboxDecision("student"); // the instructor's own code: the sandbox where there is one
  const seed = opts.seed ?? defaultSeed();
  const ref = await referenceFor(source, {
    root,
    seed,
    sandbox,
    cwd: path.dirname(sourceFile),
    onCell: opts.onCell,
    timeoutMsFor: opts.timeoutMsFor,
    timeScale: opts.timeScale,
  });
  for (const cell of ref.notebook.cells.filter(isGraded)) {
    const id = gradeIdOf(cell) as string;
    const verdict = ref.verdicts.get(id);
    const record = ref.records.get(id);
    if (verdict && verdict.status !== "passed") problems.push(`test "${id}": its own assertions fail on the solution (${verdict.status}: ${verdict.message})`);
    if (!record) problems.push(`test "${id}": records no observations on the solution (call t.observe(...) in check's test function)`);
    else if (record.error) problems.push(`test "${id}": stopped on the solution: ${record.error}`);
    else if (record.observations.length === 0) problems.push(`test "${id}": observes nothing, so the grader has nothing to compare (call t.observe(...))`);
  }
  const refCheckpoints = ref.notebook.cells.flatMap((c) => recordsIn<CheckpointRecord>(c.outputs, CHECKPOINT_MIME));
  for (const c of refCheckpoints) if (c.status !== "correct") problems.push(`checkpoint "${c.id}": ${c.status} (${c.message})`);
  for (const r of ref.runs) if (r.status !== "ok") problems.push(`cell ${r.index + 1} of the reference run: ${r.status}${r.reason ? ` ${r.reason}` : ""}`);
  for (const w of ref.warnings) problems.push(`warning (reference run): ${w}`);
  // The solution graded as a submission, in a second kernel, against that reference.
  const { report } = await gradeNotebook(sourceFile, { mode: "instructor", root, source, unsandboxed: true, ...opts, seed });
  if (report.score !== report.max_score) problems.push(`scores ${report.score}/${report.max_score}, not 100 %`);
  if (report.max_score === 0) problems.push("has no graded tests");
  for (const t of report.tests) if (t.status !== "passed") problems.push(`test "${t.grade_id}": ${t.status} ${t.message}`);
  for (const p of report.cell_problems) problems.push(`cell ${p.cell}${p.grade_id ? ` (${p.grade_id})` : ""}: ${p.status} ${p.message}`);
  for (const c of report.checkpoints) if (c.status !== "correct") problems.push(`checkpoint "${c.id}": ${c.status} (${c.message})`);
  for (const w of report.warnings) problems.push(`warning: ${w}`);
  return { file: sourceFile, ok: problems.length === 0, problems, notes: [], report };
}

/** Is the committed student version exactly the release of its source? (No kernel needed.) */
export function releaseDiffers(root: string, sourceFile: string): string | null {
  const target = releasePathFor(root, sourceFile);
  const expected = serializeNotebook(releaseNotebook(readNotebook(sourceFile)));
  if (!fs.existsSync(target)) return `${path.relative(root, target)} is missing: run npm run release`;
  if (fs.readFileSync(target, "utf8") !== expected)
    return `${path.relative(root, target)} differs from the release of ${path.relative(root, sourceFile)}: run npm run release (never edit student versions by hand)`;
  return null;
}

export async function verifyRelease(root: string, sourceFile: string, opts: RunOpts = {}): Promise<Verdict> {
  const problems: string[] = [];
  let differs: string | null;
  try {
    differs = releaseDiffers(root, sourceFile);
  } catch (e) {
    return { file: sourceFile, ok: false, problems: [e instanceof Error ? e.message : String(e)], notes: [] };
  }
  if (differs) return { file: sourceFile, ok: false, problems: [differs], notes: [] };
  const source = readNotebook(sourceFile);
  const { report } = await gradeNotebook(releasePathFor(root, sourceFile), {
    mode: "instructor",
    root,
    source,
    stopAfterLastTest: true,
    unsandboxed: true,
    ...opts,
  });
  for (const t of report.tests) {
    if (t.status === "passed") problems.push(`test "${t.grade_id}" passes on the stub: it does not test the exercise`);
    if (t.status === "timeout") problems.push(`test "${t.grade_id}" times out on the stub`);
  }
  for (const w of report.warnings) problems.push(`warning: ${w}`);
  const tests = new Set(report.tests.map((t) => t.grade_id));
  const notes = report.cell_problems
    .filter((p) => !(p.grade_id && tests.has(p.grade_id)))
    .map(
      (p) =>
        `cell ${p.cell}${p.grade_id ? ` (${p.grade_id})` : ""} fails on the stubs (${p.message}): a student's Run All stops there until the exercise is done`,
    );
  return { file: sourceFile, ok: problems.length === 0, problems, notes, report };
}
