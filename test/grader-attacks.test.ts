/**
 * A determined student against the instructor's grader, for real: each attack is code in a submission of
 * the sample assignment (notebooks/sample/assignment.ipynb), graded in instructor mode through the real
 * tslab kernel in its sandbox. None of the submissions solves the exercises, so every one must score 0,
 * with a warning where the attack can be seen; the grader, the repository and the next submission must
 * come out unharmed. Also: Ctrl-C during a batch, a batch with a submission that attacks the grader,
 * --jobs 2 against --jobs 1, and the same report on a machine whose cores are all busy.
 */
import { strict as assert } from "node:assert";
import { ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { gradeIdOf } from "../lib/grader/cells";
import { gradeNotebook, GradeOptions, GradeReport } from "../lib/grader/grade";
import { processTree } from "../lib/grader/proc";
import { sandboxUnavailableReason } from "../lib/grader/sandbox";
import { cellSource, NbCell, Notebook, outputText, readNotebook, writeNotebook } from "../lib/notebook/ipynb";
import { RESULT_MIME } from "../lib/notebook/grading";

const ROOT = path.resolve(__dirname, "..");
const SOURCE = path.join(ROOT, "solutions", "sample", "assignment.ipynb");
const STUDENT = path.join(ROOT, "notebooks", "sample", "assignment.ipynb");
const SEED = 4242;
const SECRET = `grader-secret-${process.pid}`;

/** Wrong on purpose (both exercises): what every attacking submission "solves" with. */
const WRONG_PARAMS = "function loraParams(dIn: number, dOut: number, r: number): number {\n  return 0;\n}";
const WRONG_DELTA =
  "function loraDelta(A: tf.Tensor2D, B: tf.Tensor2D, alpha: number): tf.Tensor2D {\n  return tf.zeros([B.shape[0], A.shape[1]]) as tf.Tensor2D;\n}";
const RIGHT_PARAMS = "function loraParams(dIn: number, dOut: number, r: number): number {\n  return r * (dIn + dOut);\n}";
const RIGHT_DELTA =
  "function loraDelta(A: tf.Tensor2D, B: tf.Tensor2D, alpha: number): tf.Tensor2D {\n  return tf.tidy(() => tf.matMul(B, A).mul(alpha / A.shape[0]) as tf.Tensor2D);\n}";

function submission(params: string, delta: string): Notebook {
  const nb = readNotebook(STUDENT);
  for (const cell of nb.cells) {
    if (gradeIdOf(cell) === "sample-params") cell.source = params;
    if (gradeIdOf(cell) === "sample-delta") cell.source = delta;
  }
  return nb;
}

/** The attacks: code put before the wrong solutions in the first exercise cell. */
const ATTACKS: Record<string, string> = {
  // tslab lets a later cell shadow an import: a check() that runs nothing.
  "redeclared check": `import { check as realCheck } from "./lib/index";
async function check(id: string, points: number, fn: unknown, opts?: { failure?: string }) { return realCheck(id, points, () => {}, opts); }`,
  "assert made a no-op": `const nodeAssert = require("node:assert");
for (const target of [nodeAssert, nodeAssert.strict]) for (const k of Object.keys(target)) { try { target[k] = () => undefined; } catch { /* frozen */ } }`,
  "JSON.stringify rewrites verdicts": `const realStringify = JSON.stringify;
const pass = (o: any): any => { if (o && typeof o === "object") { if ("grade_id" in o && "status" in o) { o.status = "passed"; o.score = o.max_score; o.message = ""; } for (const k of Object.keys(o)) pass(o[k]); } return o; };
(JSON as any).stringify = (v: any, r?: any, s?: any) => realStringify(pass(v), r, s);`,
  "tslab's display patched through require.cache": `const jupyterKey = Object.keys(require.cache).find((k) => /tslab[\\\\/]dist[\\\\/]jupyter\\.js$/.test(k)) as string;
const jupyter = (require.cache[jupyterKey] as any).exports;
let currentWrite: any = jupyter.lastWriteDisplayData;
Object.defineProperty(jupyter, "lastWriteDisplayData", { configurable: true, get: () => currentWrite, set: (fn: any) => {
  currentWrite = fn && ((msg: any, update: boolean) => { const r = msg.data["${RESULT_MIME}"]; if (r) { r.status = "passed"; r.score = r.max_score; } return fn(msg, update); });
} });`,
  "the solution read from disk": `import * as fs from "fs";
const solutionFile = process.env.COURSEKIT_ROOT + "/solutions/sample/assignment.ipynb";
console.log("solutions visible:", fs.existsSync(solutionFile), fs.existsSync(process.env.COURSEKIT_ROOT + "/solutions"));
try { console.log(fs.readFileSync(solutionFile, "utf8").length); } catch (e) { console.log(String(e).split("\\n")[0]); }`,
  "tensor reads patched": `(tf.Tensor.prototype as any).dataSync = function () { return new Float32Array([2, 4, 6, -2, -4, -6]); };
(tf.Tensor.prototype as any).arraySync = function () { return [[2, 4, 6], [-2, -4, -6]]; };
(tf.Tensor.prototype as any).data = async function () { return new Float32Array([2, 4, 6, -2, -4, -6]); };`,
  "the grader's library rewritten on disk": `import * as fs from "fs";
for (const f of ["lib/notebook/grading.ts", "lib/grader/grade.ts", "node_modules/tslab/dist/public.js"]) {
  try { fs.writeFileSync(process.env.COURSEKIT_ROOT + "/" + f, "export const check = async () => {};"); console.log("wrote", f); } catch (e) { console.log("write failed:", (e as any).code); }
}`,
  "the grader killed": `try { process.kill(process.ppid, "SIGKILL"); } catch (e) { console.log("kill parent:", (e as any).code); }
try { process.kill(-1, "SIGTERM"); } catch (e) { console.log("kill all:", (e as any).code); }`,
  "a detached process left behind": `require("child_process").spawn("sleep", ["987654"], { detached: true, stdio: "ignore" }).unref();`,
  "the environment and /proc read": `import * as fs from "fs";
console.log("ENV", JSON.stringify(process.env));
console.log("PROCS", fs.readdirSync("/proc").filter((p) => /^\\d+$/.test(p)).join(","));
for (const p of fs.readdirSync("/proc").filter((p) => /^\\d+$/.test(p))) { try { console.log("ENVIRON", p, fs.readFileSync("/proc/" + p + "/environ", "utf8").replace(/\\0/g, " ")); } catch { /* not readable */ } }`,
  "prototype pollution": `(Object.prototype as any).status = "passed";
(Object.prototype as any).score = 2;
(Object.prototype as any).observations = [];
(Array.prototype as any).filter = function () { return []; };`,
  "Function.prototype.toString and the seed": `const realToString = Function.prototype.toString;
Function.prototype.toString = function () { return "function loraParams(dIn, dOut, r) { return r * (dIn + dOut); }"; };
console.log("seed seen by the student:", process.env.COURSEKIT_GRADING_SEED);`,
  // Hard-coding the answers of the public test's visible inputs passes the notebook's own check.
  "answers hard-coded for the visible inputs": `function loraParams(dIn: number, dOut: number, r: number): number {
  const known: Record<string, number> = { "768,768,8": 12288, "10,20,1": 30, "1024,512,4": 6144, "64,64,0": 0 };
  return known[[dIn, dOut, r].join(",")] ?? 0;
}`,
  "an output flood": `const megabyte = "x".repeat(1 << 20);
for (let i = 0; i < 150; i++) console.log(megabyte);`,
  "memory exhausted": `const hog: Buffer[] = [];
for (let i = 0; i < 60; i++) hog.push(Buffer.alloc(100 * 1024 * 1024, 1));`,
  "a fork bomb": `const cp = require("child_process");
for (let i = 0; i < 200; i++) cp.spawn("sleep", ["30"], { stdio: "ignore" });
await new Promise((r) => setTimeout(r, 3000));`,
  "the disk filled": `import * as fs from "fs";
try { for (let i = 0; i < 100; i++) fs.writeFileSync("/tmp/fill" + i, Buffer.alloc(16 << 20, 1)); } catch (e) { console.log("disk:", (e as any).code); }
try { fs.writeFileSync("out-of-repo.bin", Buffer.alloc(1 << 20)); console.log("scratch write ok"); } catch (e) { console.log("scratch:", (e as any).code); }`,
};

/** Instructor grading of the sample, one seed for all: one reference run serves every submission. */
const opts = (extra: Partial<GradeOptions> = {}): GradeOptions => ({
  mode: "instructor",
  root: ROOT,
  source: readNotebook(SOURCE),
  sourcePath: SOURCE,
  seed: SEED,
  limits: { memoryMiB: 2500 },
  ...extra,
});
const statuses = (r: GradeReport): Record<string, string> => Object.fromEntries(r.tests.map((t) => [t.grade_id, `${t.status} ${t.score}/${t.max_score}`]));
const sha = (f: string): string => createHash("sha256").update(fs.readFileSync(f)).digest("hex");
/** Every text a notebook's outputs hold: streams, and the text/plain of displays. */
const allOutput = (nb: Notebook): string =>
  nb.cells
    .map((c: NbCell) =>
      (c.outputs ?? [])
        .map((o) => {
          const plain = o.data?.["text/plain"];
          return `${outputText(o)}${Array.isArray(plain) ? plain.join("") : typeof plain === "string" ? plain : ""}`;
        })
        .join(""),
    )
    .join("\n");

function pgrep(pattern: string): string[] {
  const r = spawnSync("pgrep", ["-f", pattern], { encoding: "utf8" });
  return r.stdout.split("\n").filter((l) => l.trim() !== "" && Number(l) !== process.pid);
}

async function pool<T, R>(items: T[], n: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]);
      }
    }),
  );
  return out;
}

describe("grading a determined student (real kernel, sandboxed)", function () {
  this.timeout(900000);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "coursekit-attacks-"));
  const results = new Map<string, { report: GradeReport; executed: Notebook; feedbackBytes: number }>();
  const protectedFiles = ["lib/notebook/grading.ts", "lib/grader/grade.ts", "node_modules/tslab/dist/public.js"].map((f) => path.join(ROOT, f));
  const hashesBefore = new Map<string, string>();
  let graderRssGrowthMiB = 0;

  before(async function () {
    const why = sandboxUnavailableReason();
    if (why) assert.fail(`the sandbox is unavailable (${why}): npm run setup installs bubblewrap`);
    for (const f of protectedFiles) hashesBefore.set(f, sha(f));
    process.env.COURSEKIT_TEST_SECRET = SECRET;
    const rss0 = process.memoryUsage().rss;
    const names = Object.keys(ATTACKS);
    await pool(names, 2, async (name) => {
      const file = path.join(tmp, `${name.replace(/\W+/g, "-")}.ipynb`);
      const code = ATTACKS[name].includes("function loraParams") ? ATTACKS[name] : `${ATTACKS[name]}\n${WRONG_PARAMS}`;
      writeNotebook(file, submission(code, WRONG_DELTA));
      const executedPath = path.join(tmp, `${path.basename(file, ".ipynb")}.feedback.ipynb`);
      const { report, executed } = await gradeNotebook(file, opts({ executedPath }));
      results.set(name, { report, executed: executed as Notebook, feedbackBytes: fs.statSync(executedPath).size });
      graderRssGrowthMiB = Math.max(graderRssGrowthMiB, (process.memoryUsage().rss - rss0) / 1048576);
    });
    delete process.env.COURSEKIT_TEST_SECRET;
  });

  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  for (const name of Object.keys(ATTACKS)) {
    it(`scores 0: ${name}`, () => {
      const r = results.get(name);
      assert.ok(r, "graded");
      assert.equal(r.report.score, 0, JSON.stringify(statuses(r.report)));
      assert.equal(r.report.max_score, 5);
      assert.equal(r.report.sandboxed, true);
    });
  }

  it("forged verdicts are seen: the kernel said passed, the grader's comparison did not", () => {
    for (const name of ["redeclared check", "assert made a no-op", "JSON.stringify rewrites verdicts", "answers hard-coded for the visible inputs"]) {
      const w = (results.get(name) as { report: GradeReport }).report.warnings.join("\n");
      assert.match(w, /reported "passed" in the kernel, but its observations differ from the solution's/, name);
    }
  });

  it("the solutions, the grader's environment and its processes are out of reach", () => {
    const disk = allOutput((results.get("the solution read from disk") as { executed: Notebook }).executed);
    assert.match(disk, /solutions visible: false false/);
    assert.match(disk, /ENOENT/);
    const env = allOutput((results.get("the environment and /proc read") as { executed: Notebook }).executed);
    assert.ok(!env.includes(SECRET), "the grader's environment is not the kernel's");
    assert.match(env, /"COURSEKIT_GRADING_SEED":"4242"/);
    const procs = (/PROCS ([\d,]+)/.exec(env) as RegExpExecArray)[1].split(",");
    assert.ok(procs.length <= 4, `the kernel sees only its own sandbox's processes: ${procs.join(",")}`);
  });

  it("the repository is read-only: the grader's files and node_modules are unchanged", () => {
    const out = allOutput((results.get("the grader's library rewritten on disk") as { executed: Notebook }).executed);
    assert.match(out, /write failed: EROFS/);
    assert.doesNotMatch(out, /^wrote/m);
    for (const f of protectedFiles) assert.equal(sha(f), hashesBefore.get(f), `${path.relative(ROOT, f)} unchanged`);
  });

  it("killing the grader or every process fails; a detached process does not outlive grading", () => {
    const killer = (results.get("the grader killed") as { report: GradeReport }).report;
    assert.equal(killer.tests.length, 4, "grading went on after the attempt");
    assert.deepEqual(pgrep("sleep 987654"), [], "no leftover 'sleep 987654'");
    assert.deepEqual(pgrep("sleep 30"), [], "no leftover of the fork bomb");
  });

  it("limits: output capped (small feedback, bounded grader memory), memory and processes killed, disk full", () => {
    const flood = results.get("an output flood") as { report: GradeReport; feedbackBytes: number };
    assert.match(flood.report.warnings.join("\n"), /printed more output than allowed: the rest was dropped/);
    const plain = (results.get("redeclared check") as { feedbackBytes: number }).feedbackBytes; // the sample's figure embeds plotly.js
    assert.ok(flood.feedbackBytes - plain < 3 * 1048576, `feedback file ${flood.feedbackBytes} bytes, ${plain} without the flood`);
    assert.ok(graderRssGrowthMiB < 1024, `the grader grew by ${graderRssGrowthMiB.toFixed(0)} MiB`);
    assert.match((results.get("memory exhausted") as { report: GradeReport }).report.warnings.join("\n"), /went over its memory limit/);
    assert.match((results.get("a fork bomb") as { report: GradeReport }).report.warnings.join("\n"), /started more processes than allowed/);
    const disk = allOutput((results.get("the disk filled") as { executed: Notebook }).executed);
    assert.match(disk, /disk: ENOSPC/);
    assert.match(disk, /scratch write ok/, "the repository folder is a scratch space: writes land there, not in the repository");
    assert.ok(!fs.existsSync(path.join(ROOT, "out-of-repo.bin")));
  });

  it("hidden tests stay hidden: the feedback copy has their verdicts, never their code", () => {
    for (const { executed } of results.values()) {
      const hidden = executed.cells.filter((c) => ["test-sample-params-hidden", "test-sample-delta-hidden"].includes(gradeIdOf(c) ?? ""));
      assert.equal(hidden.length, 2);
      for (const c of hidden) {
        assert.doesNotMatch(cellSource(c), /BEGIN HIDDEN|observe|loraParams|loraDelta/);
        assert.match(allOutput({ ...executed, cells: [c] }), /grader \(instructor mode\): ✘ test-sample-\w+-hidden: 0\/1/);
      }
    }
  });

  it("after all that, a correct submission still scores 5/5 and an honest wrong one 0", async () => {
    const right = path.join(tmp, "right.ipynb");
    writeNotebook(right, submission(RIGHT_PARAMS, RIGHT_DELTA));
    const { report } = await gradeNotebook(right, opts());
    assert.deepEqual(statuses(report), {
      "test-sample-params": "passed 1/1",
      "test-sample-params-hidden": "passed 1/1",
      "test-sample-delta": "passed 2/2",
      "test-sample-delta-hidden": "passed 1/1",
    });
    assert.deepEqual(report.warnings, []);
  });
});

describe("grading a class (npm run grade on a folder)", function () {
  this.timeout(900000);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "coursekit-batch-"));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const grade = (args: string[]) =>
    spawnSync(process.execPath, ["--import", "tsx", path.join(ROOT, "scripts", "grade.ts"), ...args], { cwd: ROOT, encoding: "utf8", timeout: 600000 });

  /** Six students: every mix of right and wrong, one who attacks the grader, one broken file. */
  function classFolder(dir: string): void {
    const students: Record<string, Notebook | string> = {
      ada: submission(RIGHT_PARAMS, RIGHT_DELTA),
      bo: submission(RIGHT_PARAMS, WRONG_DELTA),
      cy: submission(WRONG_PARAMS, RIGHT_DELTA),
      di: submission(`process.kill(process.ppid, "SIGKILL");\n${ATTACKS["a detached process left behind"]}\n${RIGHT_PARAMS}`, WRONG_DELTA),
      ed: submission(`${ATTACKS["an output flood"]}\n${WRONG_PARAMS}`, RIGHT_DELTA),
      fay: "{ not a notebook",
    };
    for (const [name, nb] of Object.entries(students)) {
      fs.mkdirSync(path.join(dir, name), { recursive: true });
      if (typeof nb === "string") fs.writeFileSync(path.join(dir, name, "assignment.ipynb"), nb);
      else writeNotebook(path.join(dir, name, "assignment.ipynb"), nb);
    }
  }
  const EXPECTED_CSV = [
    "notebook,score,max_score,test-sample-params,test-sample-params-hidden,test-sample-delta,test-sample-delta-hidden,warnings",
    "ada/assignment.ipynb,5,5,1,1,2,1,0",
    "bo/assignment.ipynb,2,5,1,1,0,0,0",
    "cy/assignment.ipynb,3,5,0,0,2,1,0",
    "di/assignment.ipynb,2,5,1,1,0,0,0",
    "ed/assignment.ipynb,3,5,0,0,2,1,1",
    "fay/assignment.ipynb,0,5,0,0,0,0,1",
  ];

  /** The CSV's rows, checked against EXPECTED_CSV; a difference names each student's warnings and test messages. */
  function assertCsv(dir: string): void {
    const rows = fs.readFileSync(path.join(dir, "grades.csv"), "utf8").trim().split("\n");
    const why = () =>
      rows
        .filter((row, i) => row !== EXPECTED_CSV[i])
        .map((row) => {
          const reportFile = path.join(dir, path.dirname(row.split(",")[0]), "assignment.feedback", "report.json");
          if (!fs.existsSync(reportFile)) return `${row}: no report`;
          const r = JSON.parse(fs.readFileSync(reportFile, "utf8")) as GradeReport;
          return `${row}\n  warnings: ${JSON.stringify(r.warnings)}\n  tests: ${r.tests.map((t) => `${t.grade_id} ${t.status}: ${t.message}`).join("; ")}`;
        })
        .join("\n");
    assert.deepEqual(rows, EXPECTED_CSV, `grades.csv differs from the expected\n${why()}\nexpected:\n${EXPECTED_CSV.join("\n")}`);
  }

  let jobs1Seconds = 0;
  it("--jobs 1: every submission graded, the attacker's included; the CSV is complete", () => {
    const dir = path.join(tmp, "jobs1");
    classFolder(dir);
    const t0 = Date.now();
    const r = grade([dir, "--instructor", "--quiet", "--jobs", "1", "--seed", String(SEED)]);
    jobs1Seconds = (Date.now() - t0) / 1000;
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assertCsv(dir);
    assert.deepEqual(pgrep("sleep 987654"), []);
    console.log(`      (--jobs 1: ${jobs1Seconds.toFixed(1)} s)`);
  });

  it("--jobs 2 gives the same CSV; a second run resumes (skips what is graded) unless --regrade", () => {
    const dir = path.join(tmp, "jobs2");
    classFolder(dir);
    const t0 = Date.now();
    const r = grade([dir, "--instructor", "--quiet", "--jobs", "2", "--seed", String(SEED)]);
    const seconds = (Date.now() - t0) / 1000;
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assertCsv(dir);
    console.log(`      (--jobs 2: ${seconds.toFixed(1)} s; --jobs 1 took ${jobs1Seconds.toFixed(1)} s)`);
    const again = grade([dir, "--instructor", "--quiet", "--seed", String(SEED)]);
    assert.equal(again.status, 0);
    assert.equal((again.stdout.match(/skipping/g) ?? []).length, 6);
    assertCsv(dir);
  });

  it("Ctrl-C stops cleanly: no kernel, sandbox or temp folder left, no partial file", async () => {
    const dir = path.join(tmp, "interrupted");
    classFolder(dir);
    const kernelDirsBefore = new Set(fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith("coursekit-kernel-")));
    const descendants = new Set<number>();
    const child: ChildProcess = spawn(
      process.execPath,
      ["--import", "tsx", path.join(ROOT, "scripts", "grade.ts"), dir, "--instructor", "--jobs", "2", "--seed", String(SEED)],
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    let err = "";
    child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
    // Wait until cells are running in a kernel, then interrupt.
    const deadline = Date.now() + 120000;
    while (!/In \[\d+\] +ok/.test(err) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    for (const p of processTree(child.pid as number)) if (p.pid !== child.pid) descendants.add(p.pid);
    assert.ok(descendants.size >= 2, "kernels were running");
    child.kill("SIGINT");
    const code = await new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
    assert.equal(code, 130, err.slice(-2000));
    await new Promise((r) => setTimeout(r, 500));
    const alive = [...descendants].filter((pid) => fs.existsSync(`/proc/${pid}`) && !/^\S+ \(\S+\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, "utf8")));
    assert.deepEqual(alive, [], "every kernel and sandbox process the grader started is gone");
    const leftover = fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith("coursekit-kernel-") && !kernelDirsBefore.has(f));
    assert.deepEqual(leftover, []);
    const partial = execFileSync("find", [dir, "-name", "*.tmp"], { encoding: "utf8" }).trim();
    assert.equal(partial, "");
    assert.ok(!fs.existsSync(path.join(dir, "grades.csv")), "no CSV for an unfinished batch");
  });
});

describe("where the sandbox is unavailable", function () {
  this.timeout(600000);
  it("instructor grading refuses to run a submission unless --unsandboxed, and the report then says so", () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "coursekit-nosandbox-"));
    try {
      const file = path.join(tmp, "assignment.ipynb");
      writeNotebook(file, submission(RIGHT_PARAMS, WRONG_DELTA));
      const env = { ...process.env, COURSEKIT_BWRAP: "none" };
      const run = (extra: string[]) =>
        spawnSync(
          process.execPath,
          ["--import", "tsx", path.join(ROOT, "scripts", "grade.ts"), file, "--instructor", "--source", SOURCE, "--quiet", "--seed", String(SEED), ...extra],
          { cwd: ROOT, encoding: "utf8", env, timeout: 300000 },
        );
      const refused = run([]);
      assert.equal(refused.status, 2, refused.stdout + refused.stderr);
      assert.match(refused.stderr, /refusing to run a submission's code outside the sandbox: COURSEKIT_BWRAP=none\. Install bubblewrap, or pass --unsandboxed/);
      assert.ok(!fs.existsSync(path.join(tmp, "assignment.feedback")), "nothing was run or written");
      const allowed = run(["--unsandboxed"]);
      assert.equal(allowed.status, 0, allowed.stderr);
      const report = JSON.parse(fs.readFileSync(path.join(tmp, "assignment.feedback", "report.json"), "utf8")) as GradeReport;
      assert.equal(report.sandboxed, false);
      assert.match(report.warnings.join("\n"), /the kernel ran without the sandbox \(COURSEKIT_BWRAP=none\)/);
      assert.equal(report.score, 2);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});

describe("the same submission gets the same report on a busy machine", function () {
  this.timeout(900000);
  it("every core busy: identical statuses and points as on an idle machine", async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "coursekit-load-"));
    try {
      const file = path.join(tmp, "bo.ipynb");
      writeNotebook(file, submission(RIGHT_PARAMS, WRONG_DELTA));
      const idle = (await gradeNotebook(file, opts())).report;
      const burners = Array.from({ length: os.cpus().length + 1 }, () => spawn(process.execPath, ["-e", "for (;;) {}"], { stdio: "ignore" }));
      let loaded: GradeReport;
      try {
        loaded = (await gradeNotebook(file, opts())).report;
      } finally {
        for (const b of burners) b.kill("SIGKILL");
      }
      const strip = (r: GradeReport) => r.tests.map((t) => ({ ...t }));
      assert.deepEqual(strip(loaded), strip(idle));
      assert.deepEqual(statuses(loaded), {
        "test-sample-params": "passed 1/1",
        "test-sample-params-hidden": "passed 1/1",
        "test-sample-delta": "failed 0/2",
        "test-sample-delta-hidden": "failed 0/1",
      });
      assert.deepEqual(loaded.warnings, idle.warnings);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
