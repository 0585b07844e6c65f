/**
 * npm run grade -- PATH [--instructor] [--source FILE] [--json FILE] [--out DIR] [--csv FILE] [--html]
 *                      [--jobs N] [--regrade] [--seed N] [--time-scale K] [--unsandboxed]
 *   Grades one notebook, or every notebook in a folder of submissions, through the real tslab kernel.
 *   Student mode (default): public tests only. --instructor: restores test cells from the source (found by
 *   the same path under solutions/, or --source), runs hidden tests too, and scores every test by comparing
 *   its observations with the solution's on a seed chosen now (lib/grader/grade.ts). Kernels run in the
 *   bubblewrap sandbox; instructor grading refuses to run without it unless --unsandboxed.
 *   Writes <name>.feedback/report.json and <name>.feedback/<name>.ipynb (the executed copy, hidden tests'
 *   code removed) beside each notebook (or under --out), and for a folder a CSV (default <folder>/grades.csv).
 *   A folder: --jobs N submissions at once (default: the number of cores); a submission already graded
 *   (its report.json is newer than it) is skipped unless --regrade, so an interrupted batch resumes.
 *   While a file is graded, <name>.feedback/grading-in-progress.json says so: if the grader itself dies
 *   (killed, out of memory, a power cut), the next run grades the files it was grading alone, one at a
 *   time, and a file the grader died on while grading it alone gets a failed report (0 points, the reason)
 *   instead of stopping every later run at the same place (--regrade grades it again).
 *   Instructor mode also reports copying, for the instructor to judge (lib/grader/similarity.ts): each
 *   exercise near-identical to the library code it imitates or to the same exercise in another submission,
 *   with the matched lines, printed and written to <folder>/similarity.json (never into the students'
 *   reports: it names other students). Scores are not changed by it.
 *   Every file is written atomically; Ctrl-C stops the kernels and leaves no partial file behind.
 * npm run grade -- --verify-solutions [FILES...]   every source notebook scores 100 %
 * npm run grade -- --verify-release [FILES...]     student versions are up to date and fail on the stubs
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as os from "node:os";
import { defaultSeed, failedReport, gradeNotebook, GradeReport, sandboxDecision, SandboxRequiredError } from "../lib/grader/grade";
import { DEFAULT_LIMITS } from "../lib/grader/kernel-client";
import { testSpecs } from "../lib/grader/cells";
import { writeFileAtomic } from "../lib/util/files";
import { killAllKernels } from "../lib/grader/kernel-client";
import { exportHtml } from "../lib/grader/html-export";
import { formatReport, reportsToCsv } from "../lib/grader/report";
import { findNotebooks, SOURCES_DIR, sourcePathFor, Verdict, verifyRelease, verifySolution } from "../lib/grader/verify";
import { CellRun } from "../lib/grader/run-notebook";
import { NbCell, readNotebook } from "../lib/notebook/ipynb";
import { parseArgs, UsageError } from "../lib/util/args";
import { batchFindings, libraryFindings, SimilarityFinding } from "../lib/grader/similarity";

const ROOT = path.resolve(__dirname, "..");
/**
 * The folder the user typed the command in: npm runs scripts from the repository root and passes the
 * original folder as INIT_CWD, so `npm run grade -- 02-lora.ipynb` works from notebooks/week03.
 */
const USER_CWD =
  process.env.npm_lifecycle_event === "grade" && process.env.INIT_CWD && fs.existsSync(process.env.INIT_CWD) ? process.env.INIT_CWD : process.cwd();
/** A path the user gave, resolved from their folder. */
const given = (p: string): string => path.resolve(USER_CWD, p);
/** A path as the user would type it from their folder. */
const shown = (p: string): string => path.relative(USER_CWD, p) || ".";

const args = parseArgs(
  process.argv.slice(2),
  {
    instructor: { type: "boolean", default: false, help: "grade as the instructor: restore test cells from the source and run hidden tests" },
    source: { type: "string", default: "", help: "the source notebook (default: the same path under solutions/)" },
    json: { type: "string", default: "", help: "also write the report (a list of reports for a folder) to this file" },
    out: { type: "string", default: "", help: "folder for feedback (default: <notebook>.feedback/ beside each notebook)" },
    csv: { type: "string", default: "", help: "CSV of a folder's scores (default: <folder>/grades.csv)" },
    html: { type: "boolean", default: false, help: "also export the executed copy to HTML (needs Jupyter's nbconvert)" },
    quiet: { type: "boolean", default: false, help: "do not print a line per cell" },
    jobs: { type: "number", default: 0, min: 1, integer: true, help: "grade this many submissions at once (not given: one per CPU core)" },
    regrade: { type: "boolean", default: false, help: "grade again the submissions that already have a report" },
    seed: { type: "number", default: 0, min: 1, integer: true, help: "the seed for the tests' inputs (not given: a new random one; the report records it)" },
    "time-scale": {
      type: "number",
      default: 1,
      min: 1,
      help: "multiply every cell's time limit and the notebook's budget by this (a slow machine, e.g. a software GPU adapter)",
    },
    unsandboxed: { type: "boolean", default: false, help: "instructor mode: run submissions even where the sandbox (bubblewrap) is unavailable" },
    "verify-solutions": { type: "boolean", default: false, help: "check that every source notebook scores 100 %" },
    "verify-release": { type: "boolean", default: false, help: "check that the student versions are released and fail on the stubs" },
  },
  { positionals: { max: Infinity, name: "notebooks or folders" } },
);

function progress(run: CellRun, cell: NbCell): void {
  if (args.quiet) return;
  const id = (cell.metadata.nbgrader as { grade_id?: string } | undefined)?.grade_id;
  process.stderr.write(`    ${run.name.padEnd(8)} ${run.status.padEnd(7)} ${(run.durationMs / 1000).toFixed(1).padStart(6)} s${id ? `  ${id}` : ""}\n`);
}

async function verify(kind: "solutions" | "release"): Promise<number> {
  const files = args._.length > 0 ? args._.flatMap((p) => findNotebooks(given(p))) : findNotebooks(path.join(ROOT, SOURCES_DIR));
  if (files.length === 0) throw new Error(`no source notebooks found under ${SOURCES_DIR}/`);
  const verdicts: Verdict[] = [];
  const runOpts = { onCell: progress, timeScale: args["time-scale"] };
  for (const file of files) {
    console.log(`${kind === "solutions" ? "verify-solutions" : "verify-release"}: ${path.relative(ROOT, file)}`);
    const v = kind === "solutions" ? await verifySolution(ROOT, file, runOpts) : await verifyRelease(ROOT, file, runOpts);
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

const feedbackDir = (file: string, outBase: string): string => path.join(outBase || path.dirname(file), `${path.basename(file, ".ipynb")}.feedback`);

/** A report already written for this file, newer than the file (an interrupted batch resumes there). */
function existingReport(file: string, outBase: string): GradeReport | undefined {
  const reportFile = path.join(feedbackDir(file, outBase), "report.json");
  try {
    if (fs.statSync(reportFile).mtimeMs < fs.statSync(file).mtimeMs) return undefined;
    const r = JSON.parse(fs.readFileSync(reportFile, "utf8")) as GradeReport;
    return r.mode === (args.instructor ? "instructor" : "student") && Array.isArray(r.tests) ? r : undefined;
  } catch {
    return undefined;
  }
}

/** A report for a submission the grader could not grade (the batch goes on): its tests score 0, `why` says why. */
function notGradedReport(file: string, why: string, seed: number): GradeReport {
  let tests: ReturnType<typeof testSpecs> = [];
  try {
    const sourcePath = args.instructor ? (args.source ? given(args.source) : sourcePathFor(ROOT, file)) : file;
    if (sourcePath) tests = testSpecs(readNotebook(sourcePath));
  } catch {
    // no readable source: no test columns
  }
  return failedReport(file, {
    mode: args.instructor ? "instructor" : "student",
    tests,
    why,
    root: ROOT,
    started: Date.now(),
    seed,
    sandboxed: false,
    limits: DEFAULT_LIMITS,
    timeScale: args["time-scale"],
  });
}

/** What grading-in-progress.json records while a file is being graded. */
interface InProgress {
  pid: number;
  started: string;
  /** Graded alone (no other submission at the same time): if the grader died then, this file killed it. */
  alone: boolean;
}

const IN_PROGRESS = "grading-in-progress.json";
/** The in-progress markers this process wrote and has not removed yet (removed on Ctrl-C). */
const markers = new Set<string>();

/** A grader process that is still running (not this one): its markers are not stale. */
function graderAlive(pid: number): boolean {
  if (pid === process.pid) return false;
  try {
    return /grade/.test(fs.readFileSync(`/proc/${pid}/cmdline`, "utf8"));
  } catch {
    try {
      process.kill(pid, 0);
      return process.platform !== "linux";
    } catch {
      return false;
    }
  }
}

/** The marker a grader left for this file and never removed, because it died while grading it. */
function staleMarker(file: string, outBase: string): InProgress | undefined {
  try {
    const m = JSON.parse(fs.readFileSync(path.join(feedbackDir(file, outBase), IN_PROGRESS), "utf8")) as InProgress;
    return typeof m.pid === "number" && !graderAlive(m.pid) ? m : undefined;
  } catch {
    return undefined;
  }
}

async function gradeOne(file: string, outBase: string, seed: number, log: (line: string) => void, alone: boolean): Promise<GradeReport> {
  const stem = path.basename(file, ".ipynb");
  const feedback = feedbackDir(file, outBase);
  let source;
  let sourcePath: string | undefined;
  if (args.instructor) {
    sourcePath = args.source ? given(args.source) : sourcePathFor(ROOT, file);
    if (!sourcePath) throw new Error(`no source notebook for ${file}: none with the same path or name under ${SOURCES_DIR}/; give it with --source FILE`);
    source = readNotebook(sourcePath);
  }
  log(`grading ${shown(file)}${args.instructor ? " (instructor)" : ""}`);
  const marker = path.join(feedback, IN_PROGRESS);
  writeFileAtomic(marker, `${JSON.stringify({ pid: process.pid, started: new Date().toISOString(), alone } satisfies InProgress)}\n`);
  markers.add(marker);
  try {
    return await gradeMarked(file, feedback, stem, seed, log, sourcePath, source);
  } finally {
    fs.rmSync(marker, { force: true });
    markers.delete(marker);
  }
}

async function gradeMarked(
  file: string,
  feedback: string,
  stem: string,
  seed: number,
  log: (line: string) => void,
  sourcePath: string | undefined,
  source: ReturnType<typeof readNotebook> | undefined,
): Promise<GradeReport> {
  const executedPath = path.join(feedback, `${stem}.ipynb`);
  const { report, executed } = await gradeNotebook(file, {
    mode: args.instructor ? "instructor" : "student",
    root: ROOT,
    source,
    sourcePath,
    executedPath,
    onCell: progress,
    seed,
    timeScale: args["time-scale"],
    unsandboxed: args.unsandboxed,
  });
  if (args.html && executed) {
    try {
      log(`  HTML: ${shown(exportHtml(executedPath, undefined, { report }))}`);
    } catch (e) {
      report.warnings.push(`HTML export failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  writeFileAtomic(path.join(feedback, "report.json"), `${JSON.stringify(report, null, 2)}\n`);
  log(formatReport(report));
  log(`  feedback: ${shown(feedback)}/ (report.json, ${stem}.ipynb)`);
  return report;
}

/**
 * Grades the files with `jobs` workers; the reports come back in the files' order. Files a dead grader left
 * in progress are graded last, one at a time; one it died on while grading it alone gets a failed report.
 */
async function gradeAll(files: string[], outFor: (file: string) => string, seed: number, jobs: number): Promise<GradeReport[]> {
  const reports: GradeReport[] = new Array(files.length);
  const now: number[] = [];
  const later: number[] = [];
  files.forEach((file, i) => {
    const done = !args.regrade ? existingReport(file, outFor(file)) : undefined;
    if (done) {
      console.log(`skipping ${shown(file)}: already graded (${done.score}/${done.max_score}; --regrade grades it again)`);
      reports[i] = done;
      return;
    }
    const stale = !args.regrade ? staleMarker(file, outFor(file)) : undefined;
    if (stale?.alone) {
      const why = `the grader stopped while grading this file on its own (a run started ${stale.started} never finished: the grader process died, was killed or ran out of memory), so it was not graded again: 0 points. To try once more: npm run grade -- ${shown(file)}${args.instructor ? " --instructor" : ""} --regrade`;
      reports[i] = notGradedReport(file, why, seed);
      const feedback = feedbackDir(file, outFor(file));
      writeFileAtomic(path.join(feedback, "report.json"), `${JSON.stringify(reports[i], null, 2)}\n`);
      fs.rmSync(path.join(feedback, IN_PROGRESS), { force: true });
      console.log(`${shown(file)}: ${why}`);
    } else if (stale) {
      console.log(`${shown(file)}: an earlier run stopped while grading it alongside others; it is graded again at the end, on its own`);
      later.push(i);
    } else {
      now.push(i);
    }
  });
  const gradeIndex = async (i: number, alone: boolean, quietLog: boolean) => {
    const file = files[i];
    const lines: string[] = [];
    const log = quietLog ? (l: string) => lines.push(l) : (l: string) => console.log(l);
    try {
      reports[i] = await gradeOne(file, outFor(file), seed, log, alone);
    } catch (e) {
      if (e instanceof SandboxRequiredError) throw e;
      reports[i] = notGradedReport(file, `the grader could not grade this file: ${e instanceof Error ? e.message : String(e)}`, seed);
      lines.push(`${shown(file)}: ${reports[i].warnings[0]}`);
    }
    if (lines.length > 0) console.log(lines.join("\n"));
  };
  let next = 0;
  const workers = Math.max(1, Math.min(jobs, now.length));
  const worker = async () => {
    while (next < now.length) await gradeIndex(now[next++], workers === 1, jobs > 1);
  };
  await Promise.all(Array.from({ length: workers }, worker));
  for (const i of later) await gradeIndex(i, true, false);
  return reports;
}

/**
 * Instructor mode: copying findings for every graded file (library and, for a folder, every other submission
 * of the same notebook). An exercise whose model answer is itself near the library's code is left out of the
 * library comparison (a correct answer looks like it there), and the summary says so.
 */
function similarityFindings(files: string[]): { findings: Map<string, SimilarityFinding[]>; notes: string[] } {
  const findings = new Map<string, SimilarityFinding[]>(files.map((f) => [f, []]));
  const notes: string[] = [];
  const bySource = new Map<string, Array<{ path: string; notebook: ReturnType<typeof readNotebook> }>>();
  for (const file of files) {
    const sourcePath = args.source ? given(args.source) : sourcePathFor(ROOT, file);
    if (!sourcePath) continue;
    try {
      const notebook = readNotebook(file);
      bySource.set(sourcePath, [...(bySource.get(sourcePath) ?? []), { path: file, notebook }]);
    } catch {
      // not a notebook: its report says so already
    }
  }
  for (const [sourcePath, subs] of bySource) {
    const source = readNotebook(sourcePath);
    const natural = new Set(libraryFindings(source, source, ROOT).map((f) => f.exercise));
    for (const id of natural)
      notes.push(`${path.relative(ROOT, sourcePath)} "${id}": the model answer itself is near the library's code, so library matches are not reported for it`);
    for (const s of subs) findings.get(s.path)?.push(...libraryFindings(s.notebook, source, ROOT).filter((f) => !natural.has(f.exercise)));
    if (subs.length > 1) for (const [file, list] of batchFindings(subs, source)) findings.get(file)?.push(...list);
  }
  return { findings, notes };
}

/** Prints the copying findings and writes them to `file` (JSON: one entry per file with findings). */
function reportSimilarity(files: string[], relativeTo: string, file: string | undefined): void {
  const { findings, notes } = similarityFindings(files);
  const flagged = [...findings].filter(([, list]) => list.length > 0);
  const rows = flagged.map(([f, list]) => ({
    notebook: path.relative(relativeTo, f),
    findings: list.map((x) => ({ ...x, other: x.kind === "submission" ? path.relative(relativeTo, x.other) : x.other })),
  }));
  if (file) writeFileAtomic(file, `${JSON.stringify({ generatedBy: "npm run grade -- --instructor", notes, flagged: rows }, null, 2)}\n`);
  console.log(
    `\nsimilarity (for you to judge; scores are unchanged): ${flagged.length === 0 ? "nothing near-identical" : `${flagged.length} file(s) flagged`}${file ? ` — ${shown(file)}` : ""}`,
  );
  for (const row of rows)
    for (const x of row.findings) console.log(`  ${row.notebook} "${x.exercise}": ${Math.round(x.score * 100)} % like ${x.other} (${x.lines})`);
}

async function main(): Promise<number> {
  if (args["verify-solutions"]) return verify("solutions");
  if (args["verify-release"]) return verify("release");
  if (args._.length !== 1) {
    console.error(
      "usage: npm run grade -- PATH [--instructor] [--source FILE] [--json FILE] [--out DIR] [--csv FILE] [--html] [--jobs N] [--regrade]\n       npm run grade -- --verify-solutions | --verify-release   (npm run grade -- --help for all options)",
    );
    return 2;
  }
  const target = given(args._[0]);
  if (!fs.existsSync(target)) throw new UsageError(`${args._[0]} does not exist`);
  // A file that is not a notebook by its name is a slip of the command line: nothing is written beside it.
  if (fs.statSync(target).isFile() && !target.endsWith(".ipynb"))
    throw new UsageError(`${args._[0]} is not a notebook (.ipynb): give a notebook or a folder of them`);
  sandboxDecision(args.instructor ? "instructor" : "student", args.unsandboxed); // refuse before running anything
  const seed = args.given.has("seed") ? args.seed : defaultSeed();
  const out = args.out ? given(args.out) : "";
  if (fs.statSync(target).isFile()) {
    const [report] = await gradeAll([target], () => out, seed, 1);
    if (args.json) writeFileAtomic(given(args.json), `${JSON.stringify(report, null, 2)}\n`);
    if (args.instructor) reportSimilarity([target], path.dirname(target), undefined);
    return 0;
  }
  const files = findNotebooks(target);
  if (files.length === 0) throw new UsageError(`no notebooks (.ipynb) under ${args._[0]}`);
  const jobs = args.given.has("jobs") ? args.jobs : os.cpus().length;
  // Kernels graded side by side share the cores: each one's helper threads for products get its share
  // (lib/ops/wasm-threads.ts), unless COURSEKIT_THREADS says otherwise.
  process.env.COURSEKIT_THREADS ??= String(Math.max(1, Math.floor(os.cpus().length / Math.min(jobs, files.length))));
  const started = Date.now();
  const reports = await gradeAll(files, (file) => (out ? path.join(out, path.dirname(path.relative(target, file))) : ""), seed, jobs);
  const csv = args.csv ? given(args.csv) : path.join(target, "grades.csv");
  writeFileAtomic(csv, reportsToCsv(reports, target));
  if (args.json) writeFileAtomic(given(args.json), `${JSON.stringify(reports, null, 2)}\n`);
  if (args.instructor) reportSimilarity(files, target, path.join(path.dirname(csv), "similarity.json"));
  console.log(
    `\n${reports.length} notebooks graded in ${((Date.now() - started) / 1000).toFixed(1)} s (${jobs} at a time, seed ${seed}); scores in ${shown(csv)}`,
  );
  return 0;
}

// Ctrl-C (or a kill): stop every kernel and its sandbox, remove their folders, leave no partial file.
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(signal, () => {
    killAllKernels();
    for (const marker of markers) fs.rmSync(marker, { force: true });
    console.error(`\ngrade: stopped (${signal}); the kernels were stopped. Run the same command again to resume.`);
    process.exit(130);
  });
}

main().then(
  (code) => process.exit(code),
  (e) => {
    killAllKernels();
    console.error(`grade: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(e instanceof SandboxRequiredError || e instanceof UsageError ? 2 : 1);
  },
);
