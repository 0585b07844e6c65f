/**
 * The autograder end to end through the real tslab kernel, on the sample assignment
 * (solutions/sample/assignment.ipynb) and on crafted submissions made from its student version:
 * edited and deleted test cells, forged verdict records, endless loops, a kernel that dies, wrong formats.
 */
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { gradeIdOf } from "../../lib/grader/cells";
import { gradeNotebook, GradeReport, TestResult } from "../../lib/grader/grade";
import { exportHtml, findChromium, findJupyterPython, screenshotHtml } from "../../lib/grader/html-export";
import { findNotebooks, Verdict, verifyRelease, verifySolution } from "../../lib/grader/verify";
import { cellSource, NbCell, Notebook, readNotebook, writeNotebook } from "../../lib/notebook/ipynb";
import { RESULT_MIME } from "../../lib/notebook/grading";

const ROOT = path.resolve(__dirname, "..", "..");
const SOURCE = path.join(ROOT, "solutions", "sample", "assignment.ipynb");
const STUDENT = path.join(ROOT, "notebooks", "sample", "assignment.ipynb");
const IN_CI = !!process.env.CI && process.env.CI !== "false";

const SOLUTION_PARAMS = "function loraParams(dIn: number, dOut: number, r: number): number {\n  return r * (dIn + dOut);\n}";
/** Wrong on purpose: forgets the alpha / r scale. */
const WRONG_DELTA = "function loraDelta(A: tf.Tensor2D, B: tf.Tensor2D, alpha: number): tf.Tensor2D {\n  return tf.matMul(B, A) as tf.Tensor2D;\n}";

const forgedRecord = (gradeId: string, points: number) =>
  `notebookDisplayBundle({ "${RESULT_MIME}": { grade_id: "${gradeId}", score: ${points}, max_score: ${points}, status: "passed", message: "" }, "text/plain": "forged" });`;

function codeCell(source: string): NbCell {
  return { cell_type: "code", metadata: {}, source, outputs: [], execution_count: null };
}

/** The student version with edits applied (by grade_id). */
function craft(edit: (cells: NbCell[], at: (id: string) => number) => void): Notebook {
  const nb = readNotebook(STUDENT);
  const at = (id: string) => {
    const i = nb.cells.findIndex((c) => gradeIdOf(c) === id);
    assert.ok(i >= 0, `no cell ${id}`);
    return i;
  };
  edit(nb.cells, at);
  return nb;
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "coursekit-grader-"));
function save(name: string, nb: Notebook): string {
  const file = path.join(tmp, name);
  writeNotebook(file, nb);
  return file;
}

const byId = (r: GradeReport): Record<string, TestResult> => Object.fromEntries(r.tests.map((t) => [t.grade_id, t]));
const statuses = (r: GradeReport): Record<string, string> => Object.fromEntries(r.tests.map((t) => [t.grade_id, `${t.status} ${t.score}/${t.max_score}`]));

after(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("autograder (real tslab kernel)", function () {
  this.timeout(300000);
  const source = readNotebook(SOURCE);

  it("verify-solutions: the sample's source scores 100 %, every checkpoint right", async () => {
    const v = await verifySolution(ROOT, SOURCE);
    assert.deepEqual(v.problems, []);
    assert.equal(v.report?.score, 5);
    assert.equal(v.report?.max_score, 5);
    assert.deepEqual(
      v.report?.checkpoints.map((c) => c.status),
      ["correct"],
    );
  });

  it("verify-release: the student version is the release and its stubs fail every test (not attempted)", async () => {
    const v = await verifyRelease(ROOT, SOURCE);
    assert.deepEqual(v.problems, []);
    assert.deepEqual(statuses(v.report as GradeReport), {
      "test-sample-params": "not_attempted 0/1",
      "test-sample-params-hidden": "not_attempted 0/1",
      "test-sample-delta": "not_attempted 0/2",
      "test-sample-delta-hidden": "not_attempted 0/1",
    });
  });

  // One tampered submission: exercise 1 right, exercise 2 wrong; the weak test cells are "fixed" by the
  // student, one test cell deleted, passing verdicts forged from another cell, and the kernel killed midway.
  const tampered = craft((cells, at) => {
    cells[at("sample-params")].source = SOLUTION_PARAMS;
    // The exercise cell relabelled as a test worth 10 points: its role comes back from the source.
    cells[at("sample-params")].metadata.nbgrader = { grade: true, solution: false, locked: true, points: 10, grade_id: "sample-params", schema_version: 3 };
    cells[at("sample-delta")].source = WRONG_DELTA;
    cells[at("test-sample-params")].source = 'await check("test-sample-params", 1, () => {});';
    cells[at("test-sample-delta-hidden")].source = 'await check("test-sample-delta-hidden", 1, () => {});';
    cells.splice(at("test-sample-delta"), 1);
    const forge = codeCell(
      `import { notebookDisplayBundle } from "./lib/notebook/tslab";\n${forgedRecord("test-sample-delta", 2)}\n${forgedRecord("test-sample-delta-hidden", 1)}`,
    );
    const fakeTest = codeCell('await check("test-bonus", 10, () => {});');
    fakeTest.metadata.nbgrader = { grade: true, solution: false, locked: true, points: 10, grade_id: "test-bonus", schema_version: 3 };
    const die = codeCell('console.log("bye"); process.exit(1);');
    cells.splice(at("sample-delta") + 1, 0, forge, fakeTest, die);
  });

  it("instructor mode restores edited and deleted tests, ignores forged records, survives a kernel death", async () => {
    const { report, executed } = await gradeNotebook(save("tampered.ipynb", tampered), { mode: "instructor", root: ROOT, source });
    assert.deepEqual(statuses(report), {
      "test-sample-params": "passed 1/1",
      "test-sample-params-hidden": "passed 1/1",
      "test-sample-delta": "failed 0/2",
      "test-sample-delta-hidden": "failed 0/1",
    });
    assert.equal(report.score, 2);
    assert.equal(report.max_score, 5, "the relabelled exercise cell adds no test");
    const w = report.warnings.join("\n");
    assert.match(w, /test cell "test-sample-params" was edited: restored/);
    assert.match(w, /test cell "test-sample-delta-hidden" was edited: restored/);
    assert.match(w, /test cell "test-sample-delta" was deleted: re-inserted/);
    assert.match(w, /claims to be "test-bonus", which is not in the source: not counted/);
    assert.match(w, /printed 2 verdict record\(s\) but is not a graded test cell: ignored/);
    assert.match(w, /the kernel died while running In \[\d+\]; it was restarted/);
    assert.match(byId(report)["test-sample-delta"].message, /^ΔW = \(alpha \/ r\)/, "the instructor's hint comes first");
    // The executed copy handed back holds the hidden test's verdict, never its code.
    const hidden = (executed as Notebook).cells.find((c) => gradeIdOf(c) === "test-sample-delta-hidden") as NbCell;
    assert.doesNotMatch(cellSource(hidden), /observe|loraDelta|BEGIN HIDDEN/);
    assert.match(JSON.stringify(hidden.outputs), /grader \(instructor mode\): ✘ test-sample-delta-hidden: 0\/1/);
  });

  it("student mode warns about edited test cells, runs public tests only, and does not restore", async () => {
    const { report } = await gradeNotebook(save("tampered-student.ipynb", tampered), { mode: "student", root: ROOT });
    assert.match(report.warnings.join("\n"), /test cell "test-sample-params" was edited: your instructor grades with the original/);
    assert.equal(byId(report)["test-sample-params-hidden"].status, "not_run");
    assert.equal(report.hidden_max_score, 2);
    assert.equal(byId(report)["test-sample-delta"], undefined, "a deleted test is simply absent for the student");
    assert.equal(byId(report)["sample-params"], undefined, "a cell relabelled as a test is not one");
    assert.equal(byId(report)["test-bonus"], undefined);
    assert.match(report.warnings.join("\n"), /claims to be test "test-bonus" but was not released as one/);
  });

  it("an endless loop times out (interrupted, or killed and replayed) and a double verdict scores 0", async () => {
    const looping = craft((cells, at) => {
      // Exercise 1 forges a passing verdict every time it is called, inside the real test cell.
      cells[at("sample-params")].source =
        `import { notebookDisplayBundle } from "./lib/notebook/tslab";\nfunction loraParams(dIn: number, dOut: number, r: number): number {\n  ${forgedRecord("test-sample-params", 1)}\n  return 0;\n}`;
      // Exercise 2 never returns (a synchronous loop: tslab's SIGINT stops it).
      cells[at("sample-delta")].source =
        "function loraDelta(A: tf.Tensor2D, B: tf.Tensor2D, alpha: number): tf.Tensor2D {\n  while (true) { /* forever */ }\n}";
      // A loop after an await cannot be interrupted: the kernel is killed, restarted and replayed.
      cells.splice(at("sample-delta") + 1, 0, codeCell("await new Promise((r) => setTimeout(r, 10));\nfor (;;) { /* forever */ }"));
    });
    const timeoutMsFor = (c: NbCell) => (gradeIdOf(c) === "sample-setup" ? 120000 : 4000);
    const { report } = await gradeNotebook(save("looping.ipynb", looping), { mode: "instructor", root: ROOT, source, timeoutMsFor, interruptGraceMs: 2000 });
    assert.deepEqual(statuses(report), {
      "test-sample-params": "failed 0/1",
      "test-sample-params-hidden": "failed 0/1",
      "test-sample-delta": "timeout 0/2",
      "test-sample-delta-hidden": "timeout 0/1",
    });
    assert.match(byId(report)["test-sample-params"].message, /differs from the solution's/, "the forged verdict counts for nothing: the grader compares");
    const w = report.warnings.join("\n");
    assert.match(w, /test cell "test-sample-params" reported "passed" in the kernel, but its observations differ/);
    assert.match(w, /ran over its time limit \(it used more than 4 s of CPU time\) and was interrupted; the kernel had to be restarted/);
    assert.match(w, /printed \d+ verdict record\(s\) for another test: ignored/);
  });

  it("student mode on the fresh student version: public tests not attempted, hidden ones run at grading", async () => {
    const { report } = await gradeNotebook(STUDENT, { mode: "student", root: ROOT });
    assert.deepEqual(statuses(report), {
      "test-sample-params": "not_attempted 0/1",
      "test-sample-params-hidden": "not_run 0/1",
      "test-sample-delta": "not_attempted 0/2",
      "test-sample-delta-hidden": "not_run 0/1",
    });
    assert.equal(report.max_score, 3);
    assert.equal(report.hidden_max_score, 2);
    assert.deepEqual(report.warnings, []);
    assert.deepEqual(
      report.checkpoints.map((c) => c.status),
      ["unanswered"],
    );
  });

  it("the notebook's time budget (CPU seconds after the first cell): once it is used up, the remaining cells are not run", async () => {
    const tight = readNotebook(SOURCE);
    // One run (no verdict run): the busy cell is one of the source's own, which a verdict run would not run.
    tight.metadata.coursekit = { ...(tight.metadata.coursekit as object), budget_s: 2, verdict_run: false };
    // A cell that computes for 20 s uses up the 2 s budget and is interrupted.
    tight.cells.splice(2, 0, codeCell("const t0 = Date.now();\nwhile (Date.now() - t0 < 20000) { /* busy */ }"));
    const { report } = await gradeNotebook(save("tight.ipynb", tight), { mode: "instructor", root: ROOT, source: tight });
    assert.equal(report.score, 0);
    assert.ok(
      report.tests.every((t) => t.status === "not_run" && /time budget \(2 s\) was used up/.test(t.message)),
      JSON.stringify(report.tests),
    );
    assert.equal(report.cell_problems[0].status, "timeout", "the cell running when the budget ran out was interrupted");
    // the limit it is said to have run over is what was left of the budget, decided before it ran
    assert.match(report.warnings.join("\n"), /ran over its time limit \(.* \d+ s.*, what was left of the notebook's 2 s time budget\) and was interrupted/);
    assert.match(report.warnings.join("\n"), /time budget \(2 s\) was used up before In \[\d+\] \([\w-]+\): it and the cells after it were not run/);
    assert.equal(report.warnings.filter((w) => /was used up/.test(w)).length, 1, "one warning, not one per cell");
  });

  it("--time-scale multiplies the budget and the cells' limits: a cell over the 2 s budget runs within 5 × 2 s", async () => {
    const tight = readNotebook(SOURCE);
    tight.metadata.coursekit = { ...(tight.metadata.coursekit as object), budget_s: 2, verdict_run: false };
    tight.cells.splice(2, 0, codeCell("const t0 = Date.now();\nwhile (Date.now() - t0 < 3000) { /* busy: 3 s of CPU */ }"));
    const file = save("tight-scaled.ipynb", tight);
    const { report } = await gradeNotebook(file, { mode: "instructor", root: ROOT, source: tight, timeScale: 5 });
    assert.deepEqual(report.cell_problems, []);
    assert.equal(report.score, report.max_score);
    assert.equal(report.time_scale, 5, "the report says the limits were scaled");
  });

  it("a file that is not a course notebook gives a report with 0 points, never a crash", async () => {
    const notJson = path.join(tmp, "notjson.ipynb");
    fs.writeFileSync(notJson, "this is not json");
    const old = path.join(tmp, "old.ipynb");
    fs.writeFileSync(old, JSON.stringify({ nbformat: 3, nbformat_minor: 0, worksheets: [], metadata: {} }));
    const python = save("python.ipynb", { ...readNotebook(STUDENT), metadata: { kernelspec: { name: "python3" } } });
    const r1 = (await gradeNotebook(notJson, { mode: "instructor", root: ROOT, source })).report;
    assert.equal(r1.score, 0);
    assert.equal(r1.max_score, 5);
    assert.ok(r1.tests.every((t) => t.status === "not_run"));
    assert.match(r1.warnings[0], /not valid JSON/);
    assert.match((await gradeNotebook(old, { mode: "student", root: ROOT })).report.warnings[0], /not an nbformat 4 notebook/);
    assert.match((await gradeNotebook(python, { mode: "student", root: ROOT })).report.warnings[0], /not a course notebook \(its kernel is "python3"/);
  });

  it("npm run grade on a folder writes a report per notebook and one CSV", () => {
    const folder = path.join(tmp, "submissions");
    fs.mkdirSync(path.join(folder, "alice"), { recursive: true });
    fs.mkdirSync(path.join(folder, "bob"), { recursive: true });
    const alice = craft((cells, at) => {
      cells[at("sample-params")].source = SOLUTION_PARAMS;
    });
    writeNotebook(path.join(folder, "alice", "assignment.ipynb"), alice);
    fs.writeFileSync(path.join(folder, "bob", "assignment.ipynb"), "{ broken");
    // Right answers, but exercise 1 reaches the library through eval (its cell declares countAdapterParameters
    // as the reference it must not use): both of its tests count 0.
    const carol = craft((cells, at) => {
      cells[at("sample-params")].source = 'function loraParams(dIn: number, dOut: number, r: number): number {\n  return eval("r * (dIn + dOut)");\n}';
      cells[at("sample-delta")].source =
        "function loraDelta(A: tf.Tensor2D, B: tf.Tensor2D, alpha: number): tf.Tensor2D {\n  return tf.tidy(() => tf.matMul(B, A).mul(alpha / A.shape[0]) as tf.Tensor2D);\n}";
    });
    fs.mkdirSync(path.join(folder, "carol"), { recursive: true });
    writeNotebook(path.join(folder, "carol", "assignment.ipynb"), carol);
    const out = execFileSync(
      process.execPath,
      ["--import", "tsx", path.join(ROOT, "scripts", "grade.ts"), folder, "--instructor", "--quiet", "--json", path.join(tmp, "all.json")],
      { cwd: ROOT, encoding: "utf8" },
    );
    assert.match(out, /3 notebooks graded/);
    const csv = fs.readFileSync(path.join(folder, "grades.csv"), "utf8").trim().split("\n");
    assert.equal(csv[0], "notebook,score,max_score,test-sample-params,test-sample-params-hidden,test-sample-delta,test-sample-delta-hidden,warnings");
    assert.equal(csv[1], "alice/assignment.ipynb,2,5,1,1,0,0,0");
    assert.equal(csv[2], "bob/assignment.ipynb,0,5,0,0,0,0,1");
    assert.equal(csv[3], "carol/assignment.ipynb,3,5,0,0,2,1,1");
    const carolReport = JSON.parse(fs.readFileSync(path.join(folder, "carol", "assignment.feedback", "report.json"), "utf8")) as GradeReport;
    assert.match(
      carolReport.tests[0].message,
      /exercise "sample-params" uses eval \(code built at run time\) \(In \[\d+\]\): this exercise asks you to write that yourself/,
    );
    const report = JSON.parse(fs.readFileSync(path.join(folder, "alice", "assignment.feedback", "report.json"), "utf8")) as GradeReport;
    assert.deepEqual(Object.keys(report).slice(0, 4), ["notebook", "mode", "score", "max_score"]);
    assert.equal(report.tests[0].visibility, "public");
    assert.ok(fs.existsSync(path.join(folder, "alice", "assignment.feedback", "assignment.ipynb")), "the executed copy");
    // Kernels graded side by side (one per core by default) share the cores: each gets its share of threads.
    const banner = (
      readNotebook(path.join(folder, "alice", "assignment.feedback", "assignment.ipynb")).cells.find((c) => c.cell_type === "code")?.outputs ?? []
    )
      .map((o) => [o.text ?? ""].flat().join(""))
      .join("");
    const share = Number(process.env.COURSEKIT_THREADS || Math.max(1, Math.floor(os.cpus().length / Math.min(os.cpus().length, 3))));
    assert.match(banner, new RegExp(`TensorFlow.js backend: wasm, large products on ${share} threads?`), banner);
    assert.ok(fs.existsSync(path.join(folder, "bob", "assignment.feedback", "report.json")), "a report even for a broken file");
  });

  it("an executed notebook exported to HTML renders its plotly chart in headless Chromium", async function () {
    if (!findJupyterPython() || !findChromium()) {
      if (IN_CI) assert.fail("CI needs Jupyter's nbconvert and Chromium (npm run setup; apt-get install chromium)");
      this.skip();
    }
    const executedPath = path.join(tmp, "html", "assignment.ipynb");
    const { report } = await gradeNotebook(SOURCE, { mode: "instructor", root: ROOT, source, executedPath });
    const saved = fs.readFileSync(executedPath, "utf8");
    assert.ok(!saved.includes("plotly.js v3"), "plotly.js is never embedded in a notebook");
    const html = exportHtml(executedPath, undefined, { report });
    const page = fs.readFileSync(html, "utf8");
    assert.match(page, /Plotly\.newPlot|Plotly\.react/);
    assert.equal(page.split("plotly.js v3").length - 1, 1, "the page carries plotly.js exactly once");
    const banner = page.indexOf(`Score: ${report.score} / ${report.max_score} points`);
    const firstCell = page.indexOf("jp-Cell-inputWrapper", page.indexOf("</head>"));
    assert.ok(banner > page.indexOf("</head>") && banner < firstCell, "the page opens with the score total");
    const png = path.join(tmp, "html", "page.png");
    screenshotHtml(html, png, { width: 1000, height: 3200 });
    const { bars, nonWhite } = analysePng(png);
    assert.ok(nonWhite > 0.01, `the page is not blank (${(nonWhite * 100).toFixed(2)} % of pixels non-white)`);
    assert.ok(bars > 500, `plotly drew its bars (${bars} pixels of plotly.js 3's first trace colour #1f77b4)`);
  });
});

/** Counts plotly.js 3's first trace colour (#1f77b4) and non-white pixels in a PNG (decoded with zlib). */
function analysePng(file: string): { bars: number; nonWhite: number } {
  const { inflateSync } = require("node:zlib") as typeof import("node:zlib");
  const buf = fs.readFileSync(file);
  let pos = 8;
  let width = 0;
  let height = 0;
  let colorType = 0;
  const idat: Buffer[] = [];
  while (pos < buf.length) {
    const len = buf.readUInt32BE(pos);
    const type = buf.toString("ascii", pos + 4, pos + 8);
    const data = buf.subarray(pos + 8, pos + 8 + len);
    if (type === "IHDR") {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      colorType = data[9];
    } else if (type === "IDAT") idat.push(data);
    pos += 12 + len;
  }
  const bpp = colorType === 6 ? 4 : 3;
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * bpp;
  const prev = Buffer.alloc(stride);
  const line = Buffer.alloc(stride);
  let bars = 0;
  let nonWhite = 0;
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    for (let x = 0; x < stride; x++) {
      const v = raw[y * (stride + 1) + 1 + x];
      const a = x >= bpp ? line[x - bpp] : 0;
      const b = prev[x];
      const c = x >= bpp ? prev[x - bpp] : 0;
      let out = v;
      if (filter === 1) out = v + a;
      else if (filter === 2) out = v + b;
      else if (filter === 3) out = v + ((a + b) >> 1);
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a),
          pb = Math.abs(p - b),
          pc = Math.abs(p - c);
        out = v + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
      }
      line[x] = out & 0xff;
    }
    for (let x = 0; x < width; x++) {
      const [r, g, bl] = [line[x * bpp], line[x * bpp + 1], line[x * bpp + 2]];
      if (r < 250 || g < 250 || bl < 250) nonWhite++;
      if (Math.abs(r - 0x1f) < 12 && Math.abs(g - 0x77) < 12 && Math.abs(bl - 0xb4) < 12) bars++;
    }
    line.copy(prev);
  }
  return { bars, nonWhite: nonWhite / (width * height) };
}

describe("every notebook of the course (real tslab kernel)", function () {
  this.timeout(3600000);
  const sources = findNotebooks(path.join(ROOT, "solutions")).filter((f) => f !== SOURCE);
  const verdicts = new Map<string, { solution: Verdict; release: Verdict }>();
  // Two notebooks at a time (one per core): time limits count CPU seconds, so a busy machine changes nothing.
  before(async () => {
    let next = 0;
    await Promise.all(
      [0, 1].map(async () => {
        while (next < sources.length) {
          const file = sources[next++];
          const solution = await verifySolution(ROOT, file);
          const release = await verifyRelease(ROOT, file); // compared with the same reference run
          verdicts.set(file, { solution, release });
        }
      }),
    );
  });
  for (const file of sources) {
    const rel = path.relative(ROOT, file);
    it(`verify-solutions: ${rel} scores 100 % against a second run of itself`, () => {
      const v = verdicts.get(file)?.solution as Verdict;
      assert.deepEqual(v.problems, [], `${rel}: ${(v.report?.duration_ms ?? 0) / 1000} s`);
      assert.equal(v.report?.score, v.report?.max_score);
    });
    it(`verify-release: ${rel}'s stubs fail every test`, () => {
      const v = verdicts.get(file)?.release as Verdict;
      assert.deepEqual(v.problems, []);
      assert.ok((v.report?.tests.length ?? 0) > 0 && v.report?.tests.every((t) => t.status !== "passed"));
    });
  }
});
