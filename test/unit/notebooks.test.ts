/**
 * The week 3 notebooks as course material (no kernel needed; executing them is test/e2e/grader.test.ts):
 * every lecture checkpoint question in the notebook of its section, at least two exercises each with a
 * graded test, hidden tests, a "Lecture vs reference" note, figures, and the course's notebook format.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { gradeIdOf, hasTag, isGraded, isSolution, KERNEL_NAME, lintNotebook, testSpecs } from "../../lib/grader/cells";
import { cellSource, NbCell, Notebook, readNotebook } from "../../lib/notebook/ipynb";

const ROOT = path.resolve(__dirname, "..", "..");
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
  "09-capstone.ipynb",
];
const lecture = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "fixtures", "lecture-week03-checkpoints.json"), "utf8")) as {
  sections: Array<{ section: string; notebook: string; questions: string[] }>;
};

/** Letters and digits only, lower-cased: "1024×1024 … $r=16$" matches "1024×1024 … $r = 16$". */
const squash = (s: string) => s.toLowerCase().replace(/[^a-z0-9]/g, "");
const text = (nb: Notebook) => nb.cells.map(cellSource).join("\n");
/** A code cell's source without its comments (a commented-out call does not count). */
const codeOf = (c: NbCell) =>
  cellSource(c)
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .replace(/(^|[^:])\/\/.*$/gm, "$1");

describe("week 3 notebooks", () => {
  it("all nine sources are there, with their student versions", () => {
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
        for (const c of nb.cells.filter(isGraded)) {
          const id = gradeIdOf(c) as string;
          assert.ok(codeOf(c).includes(`check("${id}"`), `test cell ${id} calls check("${id}", ...) in its code (not in a comment)`);
        }
      });

      it("reads tensors with await, never synchronously (so it runs on webgpu, where Node cannot read a GPU tensor synchronously)", () => {
        for (const c of nb.cells.filter((c) => c.cell_type === "code")) {
          const sync = codeOf(c).match(/\.(dataSync|arraySync|bufferSync)\s*\(/);
          assert.equal(sync, null, `${gradeIdOf(c) ?? "a code cell"} calls ${sync?.[1]}(): use await readValues / readArray / readScalar (lib/index)`);
        }
      });

      it("teaches with math, figures and a 'Lecture vs reference' note where the lecture simplifies", () => {
        const markdown = nb.cells.filter((c) => c.cell_type === "markdown").map(cellSource);
        const code = nb.cells.filter((c) => c.cell_type === "code");
        const math = markdown.filter((m) => /\$\$[^$]+\$\$|(^|[^\\$])\$[^$\n]+\$/.test(m.replace(/`[^`]*`/g, "")));
        assert.ok(math.length >= 3, `LaTeX math in at least three markdown cells (found ${math.length})`);
        for (const m of markdown) {
          const dollars = (
            m
              .replace(/`[^`]*`/g, "")
              .replace(/\\\$/g, "")
              .match(/\$/g) ?? []
          ).length;
          assert.equal(dollars % 2, 0, `unbalanced $ in a markdown cell: ${m.slice(0, 80)}`);
        }
        assert.ok(
          code.some((c) => /\bshowFigure\(/.test(codeOf(c))),
          "a code cell draws a plotly figure (showFigure, not in a comment)",
        );
        const note = markdown.find((m) => /^(#+ *|(> *)?\*\*)lecture vs\.? reference/im.test(m));
        assert.ok(note, "a markdown heading, or a bold line (quoted or not), 'Lecture vs reference'");
        assert.ok(note.length > 200, "the note says what differs, not just a title");
        const checkpoints = nb.cells.filter((c) => hasTag(c, "checkpoint"));
        assert.ok(checkpoints.length > 0, "checkpoint cells");
        for (const c of checkpoints) assert.ok(isSolution(c) && gradeIdOf(c), "each checkpoint cell is an answer cell with a grade_id");
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
