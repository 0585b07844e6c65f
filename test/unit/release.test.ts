/** The release tool and the notebook format checks (no kernel needed). */
import { strict as assert } from "node:assert";
import * as path from "node:path";
import { isLocked, lintNotebook, nbgraderChecksum, testSpecs } from "../../lib/grader/cells";
import { CODE_STUB, HIDDEN_NOTE, ReleaseError, releaseCell, releaseNotebook } from "../../lib/grader/release";
import { findNotebooks, releaseDiffers } from "../../lib/grader/verify";
import { asNotebook, cellName, cellSource, NbCell, Notebook, readNotebook, serializeNotebook } from "../../lib/notebook/ipynb";

const ROOT = path.resolve(__dirname, "..", "..");
const SAMPLE = path.join(ROOT, "solutions", "sample", "assignment.ipynb");

function cell(source: string, nbgrader?: Record<string, unknown>, coursekit?: Record<string, unknown>): NbCell {
  const metadata: NbCell["metadata"] = {};
  if (nbgrader) metadata.nbgrader = { schema_version: 3, ...nbgrader } as NbCell["metadata"];
  if (coursekit) metadata.coursekit = coursekit as NbCell["metadata"];
  return { cell_type: "code", metadata, source, outputs: [], execution_count: null };
}

function notebook(cells: NbCell[]): Notebook {
  return {
    nbformat: 4,
    nbformat_minor: 4,
    metadata: { kernelspec: { name: "peft-course", display_name: "TypeScript (PEFT course)", language: "typescript" } },
    cells,
  };
}

const exercise = (id: string, body: string) => cell(body, { grade_id: id, solution: true, grade: false, locked: false });
const test = (id: string, points: number, body: string, ex: string) =>
  cell(body, { grade_id: id, grade: true, solution: false, locked: true, points }, { exercise: ex });

describe("release: source notebook → student version", () => {
  it("replaces a solution region by the stub at the marker's indentation and keeps the rest", () => {
    const src = exercise("ex", "function f(x: number): number {\n  // ### BEGIN SOLUTION\n  const y = x * 2;\n  return y;\n  // ### END SOLUTION\n}");
    const out = releaseCell(src, 0);
    assert.equal(cellSource(out), `function f(x: number): number {\n  ${CODE_STUB[0]}\n  ${CODE_STUB[1]}\n}`);
    assert.equal(cellSource(src).includes("x * 2"), true, "the source cell is not modified");
  });

  it("removes hidden tests, marks the cell hidden, locks it and records nbgrader's checksum", () => {
    const src = test("t", 2, 'await check("t", 2, () => {});\n// ### BEGIN HIDDEN TESTS\nsecret();\n// ### END HIDDEN TESTS', "ex");
    src.outputs = [{ output_type: "stream", name: "stdout", text: "old output" }];
    src.execution_count = 7;
    const out = releaseCell(src, 0);
    assert.equal(cellSource(out), `await check("t", 2, () => {});\n${HIDDEN_NOTE}`);
    assert.equal(cellSource(out).includes("secret"), false);
    assert.deepEqual(out.outputs, []);
    assert.equal(out.execution_count, null);
    assert.equal((out.metadata.coursekit as { visibility?: string }).visibility, "hidden");
    assert.equal(out.metadata.editable, false);
    assert.equal(out.metadata.deletable, false);
    assert.equal((out.metadata.nbgrader as { checksum?: string }).checksum, nbgraderChecksum(out));
    assert.equal(isLocked(out), true);
    assert.deepEqual(
      testSpecs(notebook([out])).map((t) => t.visibility),
      ["hidden"],
    );
  });

  it("nbgrader's checksum changes with the source, the points and the role", () => {
    const a = test("t", 2, "x", "ex");
    const base = nbgraderChecksum(a);
    assert.match(base, /^[0-9a-f]{32}$/);
    assert.notEqual(nbgraderChecksum(test("t", 2, "x ", "ex")), base);
    assert.notEqual(nbgraderChecksum(test("t", 3, "x", "ex")), base);
    assert.notEqual(nbgraderChecksum(exercise("t", "x")), base);
  });

  it("rejects broken markers and roles with the cell named", () => {
    assert.throws(
      () => releaseCell(exercise("ex", "// ### BEGIN SOLUTION\nx"), 3),
      (e: Error) => e instanceof ReleaseError && /cell 4 \(ex\).*BEGIN marker without its END/.test(e.message),
    );
    assert.throws(() => releaseCell(exercise("ex", "x\n// ### END SOLUTION"), 0), /END marker without its BEGIN/);
    assert.throws(() => releaseCell(cell("// ### BEGIN SOLUTION\nx\n// ### END SOLUTION"), 0), /not an exercise cell/);
    assert.throws(() => releaseCell(cell("// ### BEGIN HIDDEN TESTS\nx\n// ### END HIDDEN TESTS"), 0), /not a graded cell/);
  });

  it("lists every problem of a source: kernel, duplicate ids, check() that does not match, untested exercises", () => {
    const nb = notebook([
      exercise("ex", "function f() {\n// ### BEGIN SOLUTION\n// ### END SOLUTION\n}"),
      exercise("lonely", "function g() {}"),
      test("t1", 2, 'await check("t1", 3, () => {});', "ex"),
      test("t1", 1, 'await check("t1", 1, () => {});', "missing"),
    ]);
    nb.metadata.kernelspec = { name: "python3" };
    const problems = lintNotebook(nb).join("\n");
    assert.match(problems, /kernel is "python3"/);
    assert.match(problems, /grade_id "t1" is also used by cell 3/);
    assert.match(problems, /check\("t1", 3, \.\.\.\) does not match the cell's grade_id "t1" and points 2/);
    assert.match(problems, /exercise "missing", but no code exercise cell/);
    assert.match(problems, /exercise "lonely" has no graded test/);
    assert.throws(() => releaseNotebook(nb), ReleaseError);
  });

  it("is deterministic: releasing twice gives the same bytes, in Jupyter's layout", () => {
    const source = readNotebook(SAMPLE);
    const once = serializeNotebook(releaseNotebook(source));
    assert.equal(serializeNotebook(releaseNotebook(asNotebook(JSON.parse(serializeNotebook(source))))), once);
    assert.match(once, /^\{\n "cells": \[/);
    assert.equal(once.includes("BEGIN SOLUTION"), false);
    assert.equal(once.includes("BEGIN HIDDEN TESTS"), false);
  });

  it("every committed student version is exactly the release of its source", () => {
    const sources = findNotebooks(path.join(ROOT, "solutions"));
    assert.ok(sources.length >= 1);
    for (const file of sources) assert.equal(releaseDiffers(ROOT, file), null, `${path.relative(ROOT, file)}`);
  });
});

describe("notebook files: clear errors for what is not a course notebook", () => {
  it("cellName: a code cell is named In [k] as after Run All (k counts code cells), others by kind", () => {
    const cell = (cell_type: NbCell["cell_type"]): NbCell => ({ cell_type, metadata: {}, source: "" });
    const nb = { cells: [cell("markdown"), cell("code"), cell("code"), cell("markdown"), cell("code")] } as unknown as Notebook;
    assert.deepEqual(
      nb.cells.map((_, i) => cellName(nb, i)),
      ["markdown cell 1", "In [1]", "In [2]", "markdown cell 2", "In [3]"],
    );
  });

  it("says what is wrong with bad JSON, nbformat 3 and cells without source", () => {
    assert.throws(() => asNotebook({ nbformat: 3, worksheets: [] }, "old.ipynb"), /old\.ipynb: is not an nbformat 4 notebook \(nbformat: 3\)/);
    assert.throws(() => asNotebook([], "x.ipynb"), /is not a Jupyter notebook/);
    assert.throws(() => asNotebook({ nbformat: 4, cells: [{ cell_type: "code" }] }, "x.ipynb"), /cell 1 has no text source/);
    assert.throws(() => readNotebook(path.join(ROOT, "package.json")), /has no list of cells|not an nbformat 4/);
    assert.throws(() => readNotebook(path.join(ROOT, "README.md")), /not valid JSON/);
  });
});

describe("release: never loses a student's work", () => {
  const fs = require("node:fs") as typeof import("node:fs");
  const os = require("node:os") as typeof import("node:os");
  const { releaseFiles } = require("../../lib/grader/release-files") as typeof import("../../lib/grader/release-files");

  it("refuses to overwrite a student version changed since the last release; --force keeps a backup first", () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "coursekit-release-"));
    try {
      const source = path.join(root, "solutions", "sample", "assignment.ipynb");
      const target = path.join(root, "notebooks", "sample", "assignment.ipynb");
      fs.mkdirSync(path.dirname(source), { recursive: true });
      fs.copyFileSync(SAMPLE, source);
      assert.deepEqual(releaseFiles(root, [source]).refused, []);
      assert.match(fs.readFileSync(target, "utf8"), /YOUR CODE HERE/);
      // A new edition of the source over an untouched release: updated, no question asked.
      const edited = readNotebook(source);
      edited.cells[0].source = `${cellSource(edited.cells[0])}\n\nSecond edition.`;
      fs.writeFileSync(source, serializeNotebook(edited));
      const second = releaseFiles(root, [source]);
      assert.deepEqual(second.refused, []);
      assert.match(second.lines.join("\n"), /updated/);
      // A student saves their work over the student version; the instructor releases again.
      const work = readNotebook(target);
      work.cells.find((c) => cellSource(c).includes("loraParams") && !cellSource(c).includes("check("))!.source =
        "function loraParams(dIn: number, dOut: number, r: number): number {\n  return r * (dIn + dOut); // mine\n}";
      fs.writeFileSync(target, serializeNotebook(work));
      const mine = fs.readFileSync(target, "utf8");
      edited.cells[0].source = `${cellSource(edited.cells[0])}\n\nThird edition.`;
      fs.writeFileSync(source, serializeNotebook(edited));
      const refused = releaseFiles(root, [source]);
      assert.deepEqual(refused.refused, [target]);
      assert.equal(fs.readFileSync(target, "utf8"), mine, "the student's work is untouched");
      const forced = releaseFiles(root, [source], { force: true, now: new Date("2026-12-02T10:00:00Z") });
      assert.deepEqual(forced.refused, []);
      const backup = `${target}.2026-12-02T10-00-00-000Z.bak`;
      assert.equal(fs.readFileSync(backup, "utf8"), mine, "kept as a backup first");
      assert.match(fs.readFileSync(target, "utf8"), /Third edition/);
      assert.deepEqual(findNotebooks(path.join(root, "notebooks")), [target], "the backup is not taken for a notebook");
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
