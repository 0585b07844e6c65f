/**
 * The week 3 notebooks as course material (no kernel needed; executing them is test/grader.test.ts):
 * every lecture checkpoint question in the notebook of its section, at least two exercises each with a
 * graded test, hidden tests, a "Lecture vs reference" note, figures, and the course's notebook format.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { gradeIdOf, hasTag, isGraded, isSolution, KERNEL_NAME, lintNotebook, testSpecs } from "../lib/grader/cells";
import { cellSource, Notebook, readNotebook } from "../lib/notebook/ipynb";

const ROOT = path.resolve(__dirname, "..");
const WEEK = path.join(ROOT, "solutions", "week03");
const EXPECTED = [
  "01-why-peft.ipynb",
  "02-lora.ipynb",
  "03-waveft.ipynb",
  "04-dora.ipynb",
  "05-vb-lora.ipynb",
  "06-qr-adaptor.ipynb",
  "07-qlora-nf4.ipynb",
  "08-comparing-methods.ipynb",
];
const lecture = JSON.parse(fs.readFileSync(path.join(__dirname, "fixtures", "lecture-week03-checkpoints.json"), "utf8")) as {
  sections: Array<{ section: string; notebook: string; questions: string[] }>;
};

/** Letters and digits only, lower-cased: "1024×1024 … $r=16$" matches "1024×1024 … $r = 16$". */
const squash = (s: string) => s.toLowerCase().replace(/[^a-z0-9]/g, "");
const text = (nb: Notebook) => nb.cells.map(cellSource).join("\n");

describe("week 3 notebooks", () => {
  it("all eight sources are there, with their student versions", () => {
    const found = fs
      .readdirSync(WEEK)
      .filter((f) => f.endsWith(".ipynb"))
      .sort();
    assert.deepEqual(found, EXPECTED);
    for (const f of EXPECTED) assert.ok(fs.existsSync(path.join(ROOT, "notebooks", "week03", f)), `notebooks/week03/${f}`);
  });

  for (const file of EXPECTED) {
    describe(file, () => {
      const nb = readNotebook(path.join(WEEK, file));

      it("is in the course format (kernel, nbgrader schema, committed without outputs)", () => {
        assert.equal((nb.metadata.kernelspec as { name: string }).name, KERNEL_NAME);
        assert.deepEqual(lintNotebook(nb), []);
        for (const c of nb.cells) if (c.cell_type === "code") assert.deepEqual(c.outputs ?? [], [], `outputs in ${gradeIdOf(c) ?? "a cell"}`);
      });

      it("has at least two exercises, each with a graded test, and at least one hidden test", () => {
        const exercises = nb.cells.filter((c) => isSolution(c) && c.cell_type === "code" && !hasTag(c, "checkpoint")).map((c) => gradeIdOf(c));
        const tests = testSpecs(nb);
        assert.ok(exercises.length >= 2, `${exercises.length} exercises`);
        for (const ex of exercises)
          assert.ok(
            tests.some((t) => t.exercise === ex),
            `exercise ${ex} has a graded test`,
          );
        assert.ok(
          tests.some((t) => t.visibility === "hidden"),
          "a hidden test",
        );
        assert.ok(
          nb.cells.filter(isGraded).every((c) => /\bcheck\(/.test(cellSource(c))),
          "every graded cell calls check()",
        );
      });

      it("teaches with math, figures and a 'Lecture vs reference' note where the lecture simplifies", () => {
        const t = text(nb);
        assert.match(t, /\$[^$]+\$/, "LaTeX math");
        assert.match(t, /showFigure\(/, "a plotly figure");
        assert.match(t, /lecture vs\.? reference/i, "a 'Lecture vs reference' note");
        assert.ok(
          nb.cells.some((c) => hasTag(c, "checkpoint")),
          "checkpoint cells",
        );
      });
    });
  }

  it("every checkpoint question of the lecture appears in the notebook of its section", () => {
    assert.equal(
      lecture.sections.reduce((n, s) => n + s.questions.length, 0),
      21,
    );
    for (const s of lecture.sections) {
      const t = squash(text(readNotebook(path.join(WEEK, s.notebook))));
      for (const q of s.questions) assert.ok(t.includes(squash(q).slice(0, 60)), `${s.notebook} (${s.section}): "${q}"`);
    }
  });
});
