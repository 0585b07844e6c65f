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
import { cellTimeoutS, gradeIdOf } from "../../lib/grader/cells";
import { gradeNotebook, GradeOptions, GradeReport } from "../../lib/grader/grade";
import { processTree } from "../../lib/grader/proc";
import { SANDBOX_UID, sandboxUnavailableReason } from "../../lib/grader/sandbox";
import { cellSource, NbCell, Notebook, outputText, readNotebook, writeNotebook } from "../../lib/notebook/ipynb";
import { RESULT_MIME } from "../../lib/notebook/grading";

const ROOT = path.resolve(__dirname, "..", "..");
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
  // Display updates used to be kept without counting against the cap.
  "a 96 MiB display update": `const shown = require("tslab").newDisplay();
shown.text("a small display first");
shown.text("u".repeat(96 << 20));`,
  "memory exhausted": `const hog: Buffer[] = [];
for (let i = 0; i < 60; i++) hog.push(Buffer.alloc(100 * 1024 * 1024, 1));`,
  "a fork bomb": `const cp = require("child_process");
for (let i = 0; i < 200; i++) cp.spawn("sleep", ["30"], { stdio: "ignore" });
await new Promise((r) => setTimeout(r, 3000));`,
  "the disk filled": `import * as fs from "fs";
try { for (let i = 0; i < 100; i++) fs.writeFileSync("/tmp/fill" + i, Buffer.alloc(16 << 20, 1)); } catch (e) { console.log("disk:", (e as any).code); }
try { fs.writeFileSync("out-of-repo.bin", Buffer.alloc(1 << 20)); console.log("scratch write ok"); } catch (e) { console.log("scratch:", (e as any).code); }`,
};

/**
 * The library code an exercise imitates, reached at run time by ways no reading of the text sees (the
 * sample's first exercise names countAdapterParameters). Each passes the notebook's own test in the
 * student's kernel, where the whole library is; the graded run's library does not have the implementation.
 */
const REFERENCE_ESCAPES: Record<string, string> = {
  "the reference through a require under another name": `const load = require;
function loraParams(dIn: number, dOut: number, r: number): number {
  const lib = load("./lib/index");
  return lib.countAdapterParameters(new lib.ModuleDict([["q", new lib.LinearShape(dIn, dOut)]]), lib.loraConfig({ r, targetModules: ["q"] }));
}`,
  "the reference found in require.cache": `function libraryFromCache(): any {
  const seen = new Set<any>();
  const stack: any[] = Object.values(require.cache);
  while (stack.length > 0) {
    const m = stack.pop();
    if (!m || seen.has(m)) continue;
    seen.add(m);
    if (m.exports && typeof m.exports.countAdapterParameters === "function" && m.exports.ModuleDict) return m.exports;
    stack.push(...(m.children ?? []));
  }
}
function loraParams(dIn: number, dOut: number, r: number): number {
  const lib = libraryFromCache();
  return lib.countAdapterParameters(new lib.ModuleDict([["q", new lib.LinearShape(dIn, dOut)]]), lib.loraConfig({ r, targetModules: ["q"] }));
}`,
  "the reference through Function and tslab's globals": `function loraParams(dIn: number, dOut: number, r: number): number {
  const req = [].constructor.constructor("return globalThis.__tslab__.require")();
  const lib = req("./lib/" + "index");
  return lib.countAdapterParameters(new lib.ModuleDict([["q", new lib.LinearShape(dIn, dOut)]]), lib.loraConfig({ r, targetModules: ["q"] }));
}`,
  "the reference through a .js file written to /tmp": `import * as fs from "fs";
fs.writeFileSync("/tmp/escape.js", "const seen = new Set(); const stack = Object.values(require.cache); let found; while (stack.length) { const m = stack.pop(); if (!m || seen.has(m)) continue; seen.add(m); if (m.exports && m.exports.countAdapterParameters && m.exports.ModuleDict) { found = m.exports; break; } stack.push(...(m.children || [])); } module.exports = found;");
const viaFile: any = require("/tmp/escape.js");
function loraParams(dIn: number, dOut: number, r: number): number {
  return viaFile.countAdapterParameters(new viaFile.ModuleDict([["q", new viaFile.LinearShape(dIn, dOut)]]), viaFile.loraConfig({ r, targetModules: ["q"] }));
}`,
};

/** Reads the hidden test's source through Function.caller (tslab compiles cells in sloppy mode) and prints it later. */
const HIDDEN_SOURCE_THIEF = `function loraParams(dIn: number, dOut: number, r: number): number {
  try { const caller = (loraParams as any).caller; if (caller) (globalThis as any).stolen = ((globalThis as any).stolen ?? "") + String(caller); } catch { /* strict caller */ }
  return r * (dIn + dOut);
}`;
const HIDDEN_SOURCE_PRINT = `console.log("STOLEN", (globalThis as any).stolen);
${WRONG_DELTA}`;
/** The same, thrown from inside the hidden test if it can read it: its error would name the source if the grader quoted it. */
const HIDDEN_SOURCE_THROWER = `function loraParams(dIn: number, dOut: number, r: number): number {
  const caller = String((loraParams as any).caller ?? "");
  if (caller.includes("random shape")) throw new Error(caller);
  return r * (dIn + dOut);
}`;
/** A line of the hidden test's source that appears nowhere else. */
const HIDDEN_SECRET = "2 * dIn + 1";

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
    const names = [
      ...Object.keys(ATTACKS),
      ...Object.keys(REFERENCE_ESCAPES),
      "the hidden tests' source read through Function.caller",
      "the hidden tests' source thrown from inside the test",
    ];
    await pool(names, 2, async (name) => {
      const file = path.join(tmp, `${name.replace(/\W+/g, "-")}.ipynb`);
      const escape = REFERENCE_ESCAPES[name];
      if (name.includes("Function.caller")) writeNotebook(file, submission(HIDDEN_SOURCE_THIEF, HIDDEN_SOURCE_PRINT));
      else if (name.includes("thrown from inside")) writeNotebook(file, submission(HIDDEN_SOURCE_THROWER, WRONG_DELTA));
      else if (escape) writeNotebook(file, submission(escape, WRONG_DELTA));
      else writeNotebook(file, submission(ATTACKS[name].includes("function loraParams") ? ATTACKS[name] : `${ATTACKS[name]}\n${WRONG_PARAMS}`, WRONG_DELTA));
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

  for (const name of Object.keys(REFERENCE_ESCAPES)) {
    it(`scores 0 though the notebook's own test passed: ${name}`, () => {
      const r = results.get(name);
      assert.ok(r, "graded");
      const params = r.report.tests.filter((t) => t.grade_id.startsWith("test-sample-params"));
      assert.deepEqual(
        params.map((t) => `${t.grade_id} ${t.score}`),
        ["test-sample-params 0", "test-sample-params-hidden 0"],
      );
      // The attack worked where the whole library is: the student's kernel printed ✔ for the public test...
      const publicCell = r.executed.cells.find((c) => gradeIdOf(c) === "test-sample-params") as NbCell;
      assert.match(allOutput({ ...r.executed, cells: [publicCell] }), /✔ test-sample-params: 1\/1/);
      // ...and the grade says why it did not count.
      assert.match(params[0].message, /passed when your notebook ran, but not in the graded run/);
    });
  }

  it("the hidden tests' source is nowhere in what is handed back, even when the student's code reads it", () => {
    const r = results.get("the hidden tests' source read through Function.caller");
    assert.ok(r, "graded");
    assert.equal(r.report.tests.find((t) => t.grade_id === "test-sample-params-hidden")?.score, 1, "the honest part still scores");
    const handedBack = `${JSON.stringify(r.executed)}${JSON.stringify(r.report)}`;
    assert.match(handedBack, /STOLEN/, "the printing cell ran in the feedback run");
    assert.ok(!handedBack.includes(HIDDEN_SECRET), "no line of the hidden test");
    const thrown = results.get("the hidden tests' source thrown from inside the test");
    // The graded run's tests are strict: the student's function sees no caller (null), so it computes and does not throw.
    assert.equal(
      thrown?.report.tests.find((t) => t.grade_id === "test-sample-params-hidden")?.score,
      1,
      "a strict test's source cannot be read through fn.caller in the graded run",
    );
    for (const { executed, report } of results.values()) assert.ok(!`${JSON.stringify(executed)}${JSON.stringify(report)}`.includes(HIDDEN_SECRET));
  });

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
    const update = results.get("a 96 MiB display update") as { report: GradeReport; feedbackBytes: number };
    assert.match(update.report.warnings.join("\n"), /printed more output than allowed: the rest was dropped/);
    assert.ok(update.feedbackBytes - plain < 3 * 1048576, `feedback file ${update.feedbackBytes} bytes: the 96 MiB update was dropped`);
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
        assert.match(allOutput({ ...executed, cells: [c] }), /grader \(instructor mode\): [✘✔] test-sample-\w+-hidden: [01]\/1/);
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

/** The processes of a running sandbox: those in a mount namespace other than ours whose command is tslab. */
function sandboxedKernels(): number[] {
  const own = fs.readlinkSync("/proc/self/ns/mnt");
  return fs
    .readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return fs.readlinkSync(`/proc/${p}/ns/mnt`) !== own && fs.readFileSync(`/proc/${p}/cmdline`, "utf8").includes("tslab");
      } catch {
        return false;
      }
    })
    .map(Number);
}

describe("the sandbox holds on the host side (real kernel)", function () {
  this.timeout(900000);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "coursekit-host-"));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  before(function () {
    const why = sandboxUnavailableReason();
    if (why) assert.fail(`the sandbox is unavailable (${why}): npm run setup installs bubblewrap`);
  });

  /** Grades a submission whose first exercise cell starts with `attack`; `extra` adds options. */
  async function gradeAttack(name: string, attack: string, extra: Partial<GradeOptions> = {}) {
    const file = path.join(tmp, `${name}.ipynb`);
    writeNotebook(file, submission(`${attack}\n${WRONG_PARAMS}`, WRONG_DELTA));
    const executedPath = path.join(tmp, `${name}.feedback.ipynb`);
    const { report, executed } = await gradeNotebook(file, opts({ executedPath, ...extra }));
    return { report, executed: executed as Notebook };
  }

  it("a setuid file planted in every writable place inside cannot be run by any other user, and nothing lands on the host's disk", async function () {
    if (process.getuid?.() !== 0) this.skip(); // running it as another user needs root's setpriv
    // Setuid files in the host's temporary folder (folders that vanish while find walks, other kernels', are no error).
    const setuidFiles = () => spawnSync("find", [os.tmpdir(), "-xdev", "-perm", "-4000", "-type", "f"], { encoding: "utf8" }).stdout;
    const setuidBefore = setuidFiles();
    const plant = `import * as fs from "fs";
const planted: string[] = [];
for (const dir of ["/tmp", "/dev/shm", process.cwd(), "/run/coursekit-kernel", "/", "/dev"]) {
  const f = dir.replace(/\\/$/, "") + "/idcopy";
  try { fs.copyFileSync("/usr/bin/id", f); fs.chmodSync(f, 0o4755); planted.push(f); } catch (e) { console.log("refused", dir, (e as any).code); }
}
console.log("PLANTED " + JSON.stringify(planted));`;
    let checked = 0;
    const failures: string[] = [];
    const onCell = (run: { status: string }, cell: NbCell) => {
      if (!cellSource(cell).includes("PLANTED") || run.status !== "ok") return;
      const planted = JSON.parse(/PLANTED (.*)/.exec(allOutput({ cells: [cell] } as Notebook))?.[1] ?? "[]") as string[];
      assert.deepEqual(planted.sort(), ["/dev/shm/idcopy", "/run/coursekit-kernel/idcopy", "/tmp/idcopy", `${fs.realpathSync(ROOT)}/idcopy`].sort());
      const kernels = sandboxedKernels();
      assert.ok(kernels.length > 0, "the kernel is still running");
      for (const pid of kernels) {
        for (const f of planted) {
          const inside = `/proc/${pid}/root${f}`;
          // The grader sees the file: the plant happened, a setuid file (on a nosuid tmpfs of the sandbox's own).
          if ((fs.statSync(inside).mode & 0o4000) === 0) failures.push(`${inside} is not setuid`);
          // Any other user (a shell of theirs executing it): cannot even reach it.
          for (const uid of ["12345", String(SANDBOX_UID)]) {
            const r = spawnSync("setpriv", [`--reuid=${uid}`, `--regid=${uid}`, "--clear-groups", "/bin/sh", "-c", `exec ${inside}`], { encoding: "utf8" });
            if (r.status === 0 || !/Permission denied/.test(r.stderr)) failures.push(`uid ${uid} ran ${inside}: ${r.stdout}${r.stderr}`);
          }
          checked++;
        }
      }
    };
    const { executed } = await gradeAttack("setuid", plant, { onCell });
    assert.ok(checked >= 4, `checked ${checked} planted files`);
    assert.deepEqual(failures, []);
    const out = allOutput(executed);
    assert.match(out, /refused \/ EROFS/);
    assert.match(out, /refused \/dev EROFS/);
    const setuidAfter = setuidFiles();
    assert.equal(setuidAfter, setuidBefore, "no setuid file appeared in the host's temporary folder");
  });

  const FILL = `import * as fs from "fs";
for (const f of ["/planted", "/dev/planted"]) { try { fs.writeFileSync(f, "x"); console.log("wrote", f); } catch (e) { console.log("refused", f, (e as any).code); } }
const chunk = Buffer.alloc(16 << 20, 1);
for (const dir of ["/dev/shm", "/tmp", process.cwd()]) for (let i = 0; i < 15; i++) { try { fs.writeFileSync(dir + "/fill" + i, chunk); } catch (e) { console.log("full", dir, (e as any).code); break; } }
await new Promise((r) => setTimeout(r, 3000));
console.log("FILLED and still running");`;
  const BURN = `const cp = require("child_process");
for (let i = 0; i < 3000; i++) cp.spawnSync("sh", ["-c", "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done"]);
console.log("BURNT and still running");`;
  /** 5 s of CPU for the cell that burns, the usual limits elsewhere. */
  const burnLimit = (cell: NbCell) => (cellSource(cell).includes("BURNT") ? 5000 : cellTimeoutS(cell) * 1000);

  for (const mode of ["cgroup", "watched"] as const) {
    describe(`limits ${mode === "cgroup" ? "enforced by a cgroup" : "watched from outside (COURSEKIT_CGROUPS=none)"}`, () => {
      before(function () {
        if (mode === "watched") process.env.COURSEKIT_CGROUPS = "none";
      });
      after(() => delete process.env.COURSEKIT_CGROUPS);

      it("files in /dev/shm, /tmp and the scratch space count as memory: the kernel is stopped at its limit; / and /dev are read-only", async function () {
        const { report, executed } = await gradeAttack(`fill-${mode}`, FILL, { limits: { memoryMiB: 600, diskMiB: 256 } });
        if (mode === "cgroup" && report.enforcement.memory !== "cgroup") this.skip(); // no writable cgroup v1 here
        assert.equal(report.enforcement.memory, mode);
        const out = allOutput(executed);
        assert.match(out, /refused \/planted EROFS/);
        assert.match(out, /refused \/dev\/planted EROFS/);
        assert.doesNotMatch(out, /FILLED and still running/);
        assert.match(report.warnings.join("\n"), /the kernel went over its memory limit/);
      });

      it("CPU burnt in short-lived children counts: the cell is stopped at its CPU limit, not the wall-clock backstop", async function () {
        const { report } = await gradeAttack(`burn-${mode}`, BURN, { timeoutMsFor: burnLimit });
        if (mode === "cgroup" && report.enforcement.cpu !== "cgroup") this.skip();
        assert.equal(report.enforcement.cpu, mode);
        const problem = report.cell_problems.find((p) => p.grade_id === "sample-params");
        assert.equal(problem?.status, "timeout", JSON.stringify(report.cell_problems));
        assert.match(report.warnings.join("\n"), /it used more than 5 s of CPU time/);
      });
    });
  }
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
    const partial = execFileSync("find", [dir, "-name", "*.tmp", "-o", "-name", "grading-in-progress.json"], { encoding: "utf8" }).trim();
    assert.equal(partial, "", "no partial file, no in-progress marker");
    assert.ok(!fs.existsSync(path.join(dir, "grades.csv")), "no CSV for an unfinished batch");
  });

  /** The CSV's rows by student folder: "score/max". */
  const scores = (dir: string): Record<string, string> =>
    Object.fromEntries(
      fs
        .readFileSync(path.join(dir, "grades.csv"), "utf8")
        .trim()
        .split("\n")
        .slice(1)
        .map((row) => row.split(","))
        .map(([nb, score, max]) => [path.dirname(nb), `${score}/${max}`]),
    );
  const report = (dir: string, student: string): GradeReport =>
    JSON.parse(fs.readFileSync(path.join(dir, student, "assignment.feedback", "report.json"), "utf8")) as GradeReport;

  it("a submission that floods the grader with 400 MB display updates cannot stop the batch: both correct students get full marks", () => {
    const dir = path.join(tmp, "grader-memory");
    const flood = `const flood = require("tslab").newDisplay();
const big = "m".repeat(400 << 20);
for (let i = 0; i < 12; i++) flood.text(big);`;
    // ada and zed also hand in the same longer answer, variables renamed: the batch reports it (scores unchanged).
    const copied = (a: string, b: string) => `function loraParams(dIn: number, dOut: number, r: number): number {
  // A is r × dIn and B is dOut × r: count each matrix, then add them up.
  const ${a}Rows = r;
  const ${a}Cols = dIn;
  const ${b}Rows = dOut;
  const ${b}Cols = r;
  if (${a}Rows === 0) return 0;
  const ${a}Count = ${a}Rows * ${a}Cols;
  const ${b}Count = ${b}Rows * ${b}Cols;
  const total = ${a}Count + ${b}Count;
  return total;
}`;
    const students = {
      ada: submission(copied("a", "b"), RIGHT_DELTA),
      mal: submission(`${flood}\n${WRONG_PARAMS}`, WRONG_DELTA),
      zed: submission(copied("down", "up"), RIGHT_DELTA),
    };
    for (const [name, nb] of Object.entries(students)) {
      fs.mkdirSync(path.join(dir, name), { recursive: true });
      writeNotebook(path.join(dir, name, "assignment.ipynb"), nb);
    }
    const r = grade([dir, "--instructor", "--quiet", "--jobs", "2", "--seed", String(SEED)]);
    assert.equal(r.status, 0, r.stderr.slice(-3000) + r.stdout.slice(-3000));
    assert.deepEqual(scores(dir), { ada: "5/5", mal: "0/5", zed: "5/5" });
    const feedback = path.join(dir, "mal", "assignment.feedback", "assignment.ipynb");
    assert.ok(fs.statSync(feedback).size < 20 * 1048576, `the flooder's feedback copy is ${fs.statSync(feedback).size} bytes`);
    assert.match(report(dir, "mal").warnings.join("\n"), /printed more output than allowed|over its time limit|memory limit/);
    const similarity = JSON.parse(fs.readFileSync(path.join(dir, "similarity.json"), "utf8")) as {
      flagged: Array<{ notebook: string; findings: Array<{ exercise: string; kind: string; other: string; score: number; lines: string }> }>;
    };
    assert.deepEqual(
      similarity.flagged.map((f) => [f.notebook, f.findings.map((x) => `${x.exercise} ${x.kind} ${x.other} ${x.score}`)]),
      [
        ["ada/assignment.ipynb", ["sample-params submission zed/assignment.ipynb 1"]],
        ["zed/assignment.ipynb", ["sample-params submission ada/assignment.ipynb 1"]],
      ],
    );
    assert.match(r.stdout, /ada\/assignment\.ipynb "sample-params": 100 % like zed\/assignment\.ipynb \(In \[2\] lines 3-12/);
    assert.ok(!JSON.stringify(report(dir, "ada")).includes("zed"), "a student's own report does not name other students");
  });

  it("if the grader itself dies, the next run grades again what it was grading, and fails a file it died on alone", async () => {
    const dir = path.join(tmp, "grader-died");
    for (const name of ["ada", "bo"]) {
      fs.mkdirSync(path.join(dir, name), { recursive: true });
      writeNotebook(path.join(dir, name, "assignment.ipynb"), submission(RIGHT_PARAMS, RIGHT_DELTA));
    }
    const marker = (name: string) => path.join(dir, name, "assignment.feedback", "grading-in-progress.json");
    /** Starts a grader and kills it (SIGKILL: no handler runs) once it is grading; which files were in progress. */
    const killWhileGrading = async (jobs: number): Promise<string[]> => {
      const child = spawn(
        process.execPath,
        ["--import", "tsx", path.join(ROOT, "scripts", "grade.ts"), dir, "--instructor", "--quiet", "--jobs", String(jobs), "--seed", String(SEED)],
        {
          cwd: ROOT,
          stdio: "ignore",
        },
      );
      const deadline = Date.now() + 120000;
      const busy = () => ["ada", "bo"].filter((n) => fs.existsSync(marker(n)));
      while (busy().length < jobs && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      const inProgress = busy();
      child.kill("SIGKILL");
      await new Promise((r) => child.on("exit", r));
      return inProgress;
    };
    // Killed while grading two files side by side: neither is to blame; the next run grades both, one at a time.
    assert.deepEqual(await killWhileGrading(2), ["ada", "bo"]);
    const rerun = grade([dir, "--instructor", "--quiet", "--jobs", "2", "--seed", String(SEED)]);
    assert.equal(rerun.status, 0, rerun.stderr);
    assert.equal((rerun.stdout.match(/graded again at the end, on its own/g) ?? []).length, 2, rerun.stdout);
    assert.deepEqual(scores(dir), { ada: "5/5", bo: "5/5" });
    // Killed while grading one file alone: the next run does not try it again; it fails it with the reason.
    fs.rmSync(path.join(dir, "ada", "assignment.feedback"), { recursive: true, force: true });
    fs.rmSync(path.join(dir, "bo", "assignment.feedback"), { recursive: true, force: true });
    const [culprit] = await killWhileGrading(1);
    assert.ok(culprit, "a file was being graded");
    const last = grade([dir, "--instructor", "--quiet", "--jobs", "1", "--seed", String(SEED)]);
    assert.equal(last.status, 0, last.stderr);
    const other = culprit === "ada" ? "bo" : "ada";
    assert.deepEqual(scores(dir), { [culprit]: "0/5", [other]: "5/5" });
    assert.match(report(dir, culprit).warnings[0], /the grader stopped while grading this file on its own .* --regrade/);
    assert.ok(!fs.existsSync(marker(culprit)), "its marker is gone");
    assert.deepEqual(sandboxedKernels(), [], "the killed graders' kernels died with them");
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

describe("the library code an exercise imitates is not in the graded run (02-lora and 07-qlora-nf4, real kernel)", function () {
  this.timeout(1200000);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "coursekit-escape-"));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const LORA_SOURCE = path.join(ROOT, "solutions", "week03", "02-lora.ipynb");
  const LORA_STUDENT = path.join(ROOT, "notebooks", "week03", "02-lora.ipynb");

  it("LoraLayer and countAdapterParameters reached through tslab's exports pass in the notebook and score 0; the exercise written from the math keeps its 3 points", async () => {
    const source = readNotebook(LORA_SOURCE);
    const nb = readNotebook(LORA_STUDENT);
    const solutionOf = (id: string) => cellSource(source.cells.find((c) => gradeIdOf(c) === id) as NbCell);
    const cellOf = (id: string) => nb.cells.find((c) => gradeIdOf(c) === id) as NbCell;
    // tslab keeps the setup cell's imports on `exports`: the names are built at run time, so no reading of the text finds them.
    cellOf("lora-delta").source = `function loraDelta(x: tf.Tensor2D, A: tf.Tensor2D, B: tf.Tensor2D, alpha: number, r: number): tf.Tensor2D {
  const Layer: any = Reflect.get(exports, "Lora" + "Layer");
  const layer = new Layer(new Linear(A.shape[1], B.shape[0], { rng: new Rng(1) }));
  layer.addAdapter("default", { r, alpha, dropout: 0, useRslora: false, useDora: false, init: true, rng: new Rng(2) });
  const params = new Map<string, any>(layer.namedParameters());
  params.get("lora_A.default.weight").assign(A);
  params.get("lora_B.default.weight").assign(B);
  const out = tf.tidy(() => tf.sub(layer.forward(x), layer.base.forward(x))) as tf.Tensor2D;
  layer.dispose();
  return out;
}`;
    cellOf("lora-count").source = `function countLoraParameters(model: Module, targets: string[], r: number): number {
  const count: any = Reflect.get(exports, "countAdapter" + "Parameters");
  const config: any = Reflect.get(exports, "lora" + "Config");
  return targets.length === 0 ? 0 : count(model, config({ r, targetModules: targets }));
}`;
    cellOf("lora-layer-impl").source = solutionOf("lora-layer-impl");
    const file = path.join(tmp, "02-lora.ipynb");
    writeNotebook(file, nb);
    const { report, executed } = await gradeNotebook(file, { mode: "instructor", root: ROOT, source, sourcePath: LORA_SOURCE, seed: SEED });
    assert.deepEqual(
      report.tests.map((t) => `${t.grade_id} ${t.score}/${t.max_score}`),
      ["lora-delta-hand 0/2", "lora-delta-layer 0/2", "lora-count-bert 0/2", "lora-count-llama 0/2", "lora-layer 3/3"],
      JSON.stringify(report.tests, null, 1),
    );
    // In the student's kernel, where the whole library is, the notebook's own tests passed.
    for (const id of ["lora-delta-hand", "lora-delta-layer"]) {
      const cell = executed?.cells.find((c) => gradeIdOf(c) === id) as NbCell;
      assert.match(allOutput({ ...(executed as Notebook), cells: [cell] }), new RegExp(`✔ ${id}: 2/2`), id);
      assert.match(report.tests.find((t) => t.grade_id === id)?.message ?? "", /passed when your notebook ran, but not in the graded run/);
    }
    assert.equal(report.score, 3);
  });

  it("07-qlora-nf4: the quant namespace reached through tslab's exports passes the notebook's tests and scores 0; a constant the library computes at load is no way in", async () => {
    const source = readNotebook(path.join(ROOT, "solutions", "week03", "07-qlora-nf4.ipynb"));
    const nb = readNotebook(path.join(ROOT, "notebooks", "week03", "07-qlora-nf4.ipynb"));
    const cellOf = (id: string) => nb.cells.find((c) => gradeIdOf(c) === id) as NbCell;
    // Both exercises handed to the library (names built at run time): blockwise NF4 and the storage it measures.
    cellOf("nf4-blockwise").source =
      `function quantizeBlockwise(x: Float32Array, code: ArrayLike<number>, blocksize: number): { codes: Uint8Array; absmax: Float32Array } {
  const q: any = Reflect.get(exports, "qu" + "ant");
  const r = q["quantize" + "NF4"](x, { blocksize });
  return { codes: q["unpack" + "4bit"](r.packed, r.n), absmax: r.absmax };
}
function dequantizeBlockwise(codes: Uint8Array, absmax: Float32Array, code: ArrayLike<number>, blocksize: number): Float32Array {
  return Float32Array.from(codes, (c, i) => code[c] * absmax[Math.floor(i / blocksize)]);
}`;
    cellOf("nf4-bits").source =
      `function bitsPerParameter(codeBits: number, blocksize: number, scaleBits: number, second?: { blocksize: number; scaleBits: number }): number {
  const q: any = Reflect.get(exports, "qu" + "ant");
  // the library measures codes + fp32 scales; the rest is added by hand
  const stored = q["bitsPer" + "Parameter"](q["quan" + "tize"](new Float32Array(64 * 256).fill(0.5), { quantType: codeBits === 8 ? "int8" : "nf4", blocksize }));
  return stored + (scaleBits - 32) / blocksize + (second ? second.scaleBits / (blocksize * second.blocksize) : 0);
}`;
    const file = path.join(tmp, "07-qlora-nf4.ipynb");
    writeNotebook(file, nb);
    const { report, executed } = await gradeNotebook(file, {
      mode: "instructor",
      root: ROOT,
      source,
      sourcePath: path.join(ROOT, "solutions", "week03", "07-qlora-nf4.ipynb"),
      seed: SEED,
    });
    assert.deepEqual(
      report.tests.map((t) => `${t.grade_id} ${t.score}/${t.max_score}`),
      ["nf4-blockwise-hand 0/3", "nf4-blockwise-lib 0/3", "nf4-bits-hand 0/2", "nf4-bits-measured 0/2"],
      JSON.stringify(report.tests, null, 1),
    );
    // In the student's kernel, where the whole library is, the lecture's numbers came out right.
    const bitsHand = executed?.cells.find((c) => gradeIdOf(c) === "nf4-bits-hand") as NbCell;
    assert.match(allOutput({ ...(executed as Notebook), cells: [bitsHand] }), /✔ nf4-bits-hand: 2\/2/);
    assert.match(report.tests.find((t) => t.grade_id === "nf4-bits-hand")?.message ?? "", /passed when your notebook ran, but not in the graded run/);
  });
});
