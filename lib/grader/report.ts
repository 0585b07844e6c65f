/** How a grading report is shown: a readable summary, and one CSV row per notebook for a folder. */
import * as path from "node:path";
import { describeCheck } from "../notebook/grading";
import { cloneNotebook, NbOutput, Notebook } from "../notebook/ipynb";
import { gradeIdOf, isGraded } from "./cells";
import type { CheckpointRecord } from "../notebook/checkpoint";
import type { KernelLimits, LimitEnforcement } from "./kernel-client";
import type { CellProblem, GradeMode, TestResult } from "./verdicts";

/** What grading a notebook found: written as report.json, summarised by formatReport, a row of the CSV. */
export interface GradeReport {
  notebook: string;
  mode: GradeMode;
  score: number;
  max_score: number;
  /** Student mode: points in hidden tests, not included in max_score. */
  hidden_max_score: number;
  tests: TestResult[];
  checkpoints: CheckpointRecord[];
  /** Cells that did not finish cleanly (errors, timeouts, kernel deaths, not run). */
  cell_problems: CellProblem[];
  warnings: string[];
  env: Record<string, string>;
  /** The seed the test inputs were drawn from (instructor mode: chosen at grading time). */
  seed: number;
  /** Whether the kernel ran in the sandbox. */
  sandboxed: boolean;
  /** The limits the kernel ran under. */
  limits: KernelLimits;
  /** How its memory, process and CPU limits were held: by a cgroup, or only watched (and why). */
  enforcement: LimitEnforcement;
  /** The factor every cell's time limit and the budget were multiplied by (`--time-scale`; 1 normally). */
  time_scale: number;
  duration_ms: number;
}

const MARK: Record<TestResult["status"], string> = { passed: "✔", failed: "✘", error: "✘", timeout: "⏱", not_run: "·", not_attempted: "○" };

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + " ".repeat(n - s.length);
}

/** The readable summary: one line per test (status, points, the hint), then the warnings. */
export function formatReport(r: GradeReport): string {
  const lines: string[] = [];
  const hidden = r.hidden_max_score > 0 ? ` (+${r.hidden_max_score} points in hidden tests, run when your instructor grades)` : "";
  lines.push(`${path.basename(r.notebook)} — ${r.score}/${r.max_score} points${hidden} [${r.mode} mode, ${(r.duration_ms / 1000).toFixed(1)} s]`);
  const width = Math.max(8, ...r.tests.map((t) => t.grade_id.length));
  for (const t of r.tests) {
    const points = `${t.score}/${t.max_score}`;
    const vis = t.visibility === "hidden" ? " (hidden)" : "";
    lines.push(`  ${MARK[t.status]} ${pad(t.grade_id, width)}  ${pad(points, 6)} ${pad(t.status, 13)}${t.message ? ` ${t.message}` : ""}${vis}`);
  }
  const cps = r.checkpoints;
  if (cps.length > 0) lines.push(`  checkpoints: ${cps.filter((c) => c.status === "correct").length}/${cps.length} answered correctly (not graded)`);
  const problems = r.cell_problems.filter((p) => !r.tests.some((t) => t.grade_id === p.grade_id));
  if (problems.length > 0) {
    lines.push("  cells that did not finish cleanly:");
    for (const p of problems) lines.push(`    ${p.name}${p.grade_id ? ` (${p.grade_id})` : ""}: ${p.status}${p.message ? ` — ${p.message}` : ""}`);
  }
  const watched = (["memory", "processes", "cpu"] as const).filter((k) => r.enforcement?.[k] === "watched");
  if (r.sandboxed && watched.length > 0) {
    lines.push(`  limits only watched, not enforced by a cgroup: ${watched.join(", ")} (${r.enforcement.reason ?? "no cgroup"})`);
  }
  if (r.warnings.length > 0) {
    lines.push("  warnings:");
    for (const w of r.warnings) lines.push(`    - ${w}`);
  }
  return lines.join("\n");
}

function csvField(v: string | number): string {
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** One row per report: notebook, score, max_score, each test's score (columns: every grade_id seen), warnings. */
export function reportsToCsv(reports: GradeReport[], relativeTo: string): string {
  const ids: string[] = [];
  for (const r of reports) for (const t of r.tests) if (!ids.includes(t.grade_id)) ids.push(t.grade_id);
  const header = ["notebook", "score", "max_score", ...ids, "warnings"];
  const rows = reports.map((r) => {
    const byId = new Map(r.tests.map((t) => [t.grade_id, t]));
    return [path.relative(relativeTo, r.notebook), r.score, r.max_score, ...ids.map((id) => byId.get(id)?.score ?? ""), r.warnings.length];
  });
  return [header, ...rows].map((row) => row.map(csvField).join(",")).join("\n") + "\n";
}

/** The executed copy handed back: each test cell ends with the grader's verdict; hidden tests show nothing else. */
export function feedbackCopy(nb: Notebook, results: TestResult[], mode: GradeMode): Notebook {
  const copy = cloneNotebook(nb);
  const byId = new Map(results.map((r) => [r.grade_id, r]));
  for (const cell of copy.cells) {
    const id = gradeIdOf(cell);
    const result = id && isGraded(cell) ? byId.get(id) : undefined;
    if (!result || cell.cell_type !== "code") continue;
    const line = describeCheck({
      grade_id: result.grade_id,
      score: result.score,
      max_score: result.max_score,
      status: result.status === "passed" ? "passed" : result.status === "failed" ? "failed" : "error",
      message: result.status === "passed" ? "" : `${result.status}: ${result.message}`,
    });
    const verdict: NbOutput = { output_type: "display_data", data: { "text/plain": `grader (${mode} mode): ${line}` }, metadata: {} };
    if (result.visibility === "hidden" && mode === "instructor") {
      cell.source = `// Hidden test "${result.grade_id}" (${result.max_score} point${result.max_score === 1 ? "" : "s"}): its code is not handed back; the grader's verdict is below.`;
      cell.outputs = [verdict];
    } else {
      cell.outputs = [...(cell.outputs ?? []), verdict];
    }
  }
  return copy;
}
