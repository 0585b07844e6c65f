/**
 * npm run grade -- PATH [--instructor] [--source FILE] [--json FILE] [--out DIR] [--csv FILE] [--html]
 *   Grades one notebook, or every notebook in a folder of submissions, through the real tslab kernel.
 *   Student mode (default): public tests only. --instructor: restores test cells from the source (found by
 *   the same path under solutions/, or --source) and runs hidden tests too.
 *   Writes <name>.feedback/report.json and <name>.feedback/<name>.ipynb (the executed copy) beside each
 *   notebook (or under --out), and for a folder a CSV (default <folder>/grades.csv).
 * npm run grade -- --verify-solutions [FILES...]   every source notebook scores 100 %
 * npm run grade -- --verify-release [FILES...]     student versions are up to date and fail on the stubs
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { gradeNotebook, GradeReport } from "../lib/grader/grade";
import { exportHtml } from "../lib/grader/html-export";
import { formatReport, reportsToCsv } from "../lib/grader/report";
import { findNotebooks, SOURCES_DIR, sourcePathFor, Verdict, verifyRelease, verifySolution } from "../lib/grader/verify";
import { CellRun } from "../lib/grader/run-notebook";
import { NbCell, readNotebook } from "../lib/notebook/ipynb";
import { parseArgs } from "../lib/util/args";

const ROOT = path.resolve(__dirname, "..");

const args = parseArgs(process.argv.slice(2), {
  instructor: { type: "boolean", default: false, help: "grade as the instructor: restore test cells from the source and run hidden tests" },
  source: { type: "string", default: "", help: "the source notebook (default: the same path under solutions/)" },
  json: { type: "string", default: "", help: "also write the report (a list of reports for a folder) to this file" },
  out: { type: "string", default: "", help: "folder for feedback (default: <notebook>.feedback/ beside each notebook)" },
  csv: { type: "string", default: "", help: "CSV of a folder's scores (default: <folder>/grades.csv)" },
  html: { type: "boolean", default: false, help: "also export the executed copy to HTML (needs Jupyter's nbconvert)" },
  quiet: { type: "boolean", default: false, help: "do not print a line per cell" },
  "verify-solutions": { type: "boolean", default: false, help: "check that every source notebook scores 100 %" },
  "verify-release": { type: "boolean", default: false, help: "check that the student versions are released and fail on the stubs" },
});

function progress(run: CellRun, cell: NbCell): void {
  if (args.quiet) return;
  const id = (cell.metadata.nbgrader as { grade_id?: string } | undefined)?.grade_id;
  process.stderr.write(`    cell ${String(run.index + 1).padStart(3)} ${run.status.padEnd(7)} ${(run.durationMs / 1000).toFixed(1).padStart(6)} s${id ? `  ${id}` : ""}\n`);
}

async function verify(kind: "solutions" | "release"): Promise<number> {
  const files = args._.length > 0 ? args._.flatMap((p) => findNotebooks(path.resolve(p))) : findNotebooks(path.join(ROOT, SOURCES_DIR));
  if (files.length === 0) throw new Error(`no source notebooks found under ${SOURCES_DIR}/`);
  const verdicts: Verdict[] = [];
  for (const file of files) {
    console.log(`${kind === "solutions" ? "verify-solutions" : "verify-release"}: ${path.relative(ROOT, file)}`);
    const v = kind === "solutions" ? await verifySolution(ROOT, file, { onCell: progress }) : await verifyRelease(ROOT, file, { onCell: progress });
    verdicts.push(v);
    const secs = v.report ? ` (${(v.report.duration_ms / 1000).toFixed(1)} s, ${v.report.score}/${v.report.max_score} points)` : "";
    console.log(`  ${v.ok ? "ok" : "FAILED"}${secs}`);
    for (const p of v.problems) console.log(`    - ${p}`);
    for (const n of v.notes) console.log(`    note: ${n}`);
  }
  const failed = verdicts.filter((v) => !v.ok).length;
  const seconds = verdicts.reduce((s, v) => s + (v.report?.duration_ms ?? 0), 0) / 1000;
  console.log(`${verdicts.length - failed} of ${verdicts.length} notebooks ok (${seconds.toFixed(1)} s in the kernel in all)`);
  return failed === 0 ? 0 : 1;
}

async function gradeOne(file: string, outBase: string): Promise<GradeReport> {
  const stem = path.basename(file, ".ipynb");
  const feedback = path.join(outBase || path.dirname(file), `${stem}.feedback`);
  let source;
  if (args.instructor) {
    const sourceFile = args.source || sourcePathFor(ROOT, file);
    if (!sourceFile) throw new Error(`no source notebook for ${file}: none with the same path or name under ${SOURCES_DIR}/; give it with --source FILE`);
    source = readNotebook(sourceFile);
  }
  console.log(`grading ${file}${args.instructor ? " (instructor)" : ""}`);
  const executedPath = path.join(feedback, `${stem}.ipynb`);
  const { report, executed } = await gradeNotebook(file, { mode: args.instructor ? "instructor" : "student", root: ROOT, source, executedPath, onCell: progress });
  fs.mkdirSync(feedback, { recursive: true });
  fs.writeFileSync(path.join(feedback, "report.json"), `${JSON.stringify(report, null, 2)}\n`);
  if (args.html && executed) {
    try {
      console.log(`  HTML: ${exportHtml(executedPath)}`);
    } catch (e) {
      report.warnings.push(`HTML export failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  console.log(formatReport(report));
  console.log(`  feedback: ${path.relative(process.cwd(), feedback) || "."}/ (report.json, ${stem}.ipynb)`);
  return report;
}

async function main(): Promise<number> {
  if (args["verify-solutions"]) return verify("solutions");
  if (args["verify-release"]) return verify("release");
  if (args._.length !== 1) {
    console.error("usage: npm run grade -- PATH [--instructor] [--source FILE] [--json FILE] [--out DIR] [--csv FILE] [--html]\n       npm run grade -- --verify-solutions | --verify-release   (npm run grade -- --help for all options)");
    return 2;
  }
  const target = path.resolve(args._[0]);
  if (!fs.existsSync(target)) throw new Error(`${args._[0]} does not exist`);
  const out = args.out ? path.resolve(args.out) : "";
  if (fs.statSync(target).isFile()) {
    const report = await gradeOne(target, out);
    if (args.json) fs.writeFileSync(args.json, `${JSON.stringify(report, null, 2)}\n`);
    return 0;
  }
  const files = findNotebooks(target);
  if (files.length === 0) throw new Error(`no notebooks (.ipynb) under ${args._[0]}`);
  const reports: GradeReport[] = [];
  for (const file of files) reports.push(await gradeOne(file, out ? path.join(out, path.dirname(path.relative(target, file))) : ""));
  const csv = args.csv || path.join(target, "grades.csv");
  fs.writeFileSync(csv, reportsToCsv(reports, target));
  if (args.json) fs.writeFileSync(args.json, `${JSON.stringify(reports, null, 2)}\n`);
  console.log(`\n${reports.length} notebooks graded; scores in ${csv}`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(`grade: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  },
);
