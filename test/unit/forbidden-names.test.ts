/**
 * "Write it yourself": the static check that an exercise's code does not use the library code it imitates
 * (lib/grader/forbidden-names.ts), on cells written by hand, and its effect on the tests' scores.
 */
import { strict as assert } from "node:assert";
import { exerciseReferences, namesUsed, referenceUses, studentWrittenCells } from "../../lib/grader/forbidden-names";
import { TestResult, withoutReferenceUses } from "../../lib/grader/verdicts";
import { NbCell, Notebook } from "../../lib/notebook/ipynb";

const code = (source: string, nbgrader?: Record<string, unknown>, coursekit?: Record<string, unknown>): NbCell =>
  ({
    cell_type: "code",
    metadata: { ...(nbgrader ? { nbgrader } : {}), ...(coursekit ? { coursekit } : {}) },
    source,
    outputs: [],
    execution_count: null,
  }) as NbCell;
const exercise = (id: string, source: string, reference: string[]) =>
  code(source, { grade: false, solution: true, locked: false, grade_id: id, schema_version: 3 }, { reference });
const notebook = (cells: NbCell[]) => ({ cells, metadata: {}, nbformat: 4, nbformat_minor: 4 }) as unknown as Notebook;

describe("references: the library code an exercise asks the student to write", () => {
  it("reads names used as values and property names from the syntax tree; types, declarations, comments and strings do not count", () => {
    const u = namesUsed(`
      // countAdapterParameters would be easier
      function layerMemoryBytes(layer: qrAdaptor.LayerInfo, bits: number): number {
        const note = "qrAdaptor.layerBytes is the reference";
        const quantizeBlockwise = 1;
        return model.numParameters(true) + other["trainableParameters"] + topkMixture(bits);
      }
      interface X { y: countAdapterParameters }`);
    assert.ok(u.values.has("topkMixture") && u.values.has("model") && u.values.has("bits"));
    for (const n of ["qrAdaptor", "countAdapterParameters", "layerMemoryBytes", "quantizeBlockwise", "note"]) assert.ok(!u.values.has(n), n);
    assert.ok(u.properties.has("numParameters") && u.properties.has("trainableParameters"));
    assert.ok(!u.properties.has("LayerInfo") && !u.properties.has("layerBytes"));
    assert.deepEqual(u.escapes, []);
  });

  it("reaching the library another way is refused: a re-import, require, import(), eval, Function", () => {
    const renamed = namesUsed(`import { countAdapterParameters as c, showFigure } from "./lib/index";`);
    assert.deepEqual(renamed.escapes, [], "named imports are checked by name");
    assert.ok(renamed.values.has("countAdapterParameters") && renamed.values.has("showFigure"), "the imported name counts, not the local one");
    assert.deepEqual(namesUsed(`import * as L from "./lib/index";`).escapes, ["a namespace import of ./lib/index"]);
    assert.deepEqual(namesUsed(`import type { LayerInfo } from "./lib/peft/qr-adaptor/memory";`).escapes, [], "a type-only import is fine");
    assert.deepEqual(namesUsed(`import * as fs from "node:fs";`).escapes, []);
    assert.deepEqual(namesUsed(`const m = require("../../lib/peft/count");`).escapes, ["a require of ../../lib/peft/count"]);
    assert.deepEqual(namesUsed(`const m = await import("./li" + "b/index");`).escapes, ["a import() of a computed path"]);
    assert.deepEqual(namesUsed(`const f = eval("count" + "AdapterParameters");`).escapes, ["eval (code built at run time)"]);
    assert.deepEqual(namesUsed(`const f = new Function("return 1");`).escapes, ["Function (code built at run time)"]);
  });

  it("finds uses in the student's cells only, per exercise, and aliases made in another cell the student wrote", () => {
    const nb = notebook([
      code(`import { countAdapterParameters, qrAdaptor } from "./lib/index";`), // the source's setup cell
      exercise("count", `function count(m: Module): number {\n  return countAdapterParameters(m, cfg);\n}`, ["countAdapterParameters", "getPeftModel"]),
      exercise("front", `function front(p: number[][]): number[] {\n  return pick(p);\n}`, ["qrAdaptor"]),
      code(`const pick = (p: number[][]) => qrAdaptor.nonDominatedSort(p)[0]; // a cell the student added`),
      code(`console.log(countAdapterParameters(base, cfg)); // a demo cell of the source`),
    ]);
    assert.deepEqual(
      exerciseReferences(nb),
      new Map([
        ["count", ["countAdapterParameters", "getPeftModel"]],
        ["front", ["qrAdaptor"]],
      ]),
    );
    const source = notebook([nb.cells[0], exercise("count", "", []), exercise("front", "", []), nb.cells[4]]);
    const sourceTexts = new Set([0, 4].map((i) => nb.cells[i].source as string));
    const written = studentWrittenCells(nb, source, sourceTexts);
    assert.deepEqual(
      written.map((c) => c.index),
      [1, 2, 3],
    );
    assert.deepEqual(
      studentWrittenCells(nb).map((c) => c.index),
      [1, 2],
      "without the source (student mode): the exercise cells",
    );
    const uses = referenceUses(nb, written, exerciseReferences(nb));
    assert.deepEqual(
      uses.map((u) => `${u.exercise}: ${u.what} @ ${u.where}`),
      ["count: `countAdapterParameters` @ In [2]", "front: `qrAdaptor` @ In [4]"],
    );
  });

  it("fails closed: a name hidden in a 3,500-term enum chain is still found; code it cannot read counts as a use", () => {
    // The grader once walked the tree recursively: this chain overflowed its stack and the cell was skipped.
    const chain = Array.from({ length: 3500 }, (_, i) => (i === 0 ? "A0 = 1" : `A${i} = A${i - 1} + 1`)).join(",\n");
    const deep = exercise("lora-delta", `const enum E {\n${chain}\n}\nconst layer = new LoraLayer(base);`, ["LoraLayer"]);
    const uses = referenceUses(notebook([deep]), [{ index: 0, allowed: new Set() }], new Map([["lora-delta", ["LoraLayer"]]]));
    assert.deepEqual(
      uses.map((u) => u.what),
      ["`LoraLayer`"],
    );
    // Nesting deep enough that TypeScript's own parser gives up: the check cannot read it, so it counts.
    const nested = exercise("lora-delta", `const x = ${"(".repeat(200000)}1${")".repeat(200000)};`, ["LoraLayer"]);
    const unread = referenceUses(notebook([nested]), [{ index: 0, allowed: new Set() }], new Map([["lora-delta", ["LoraLayer"]]]));
    assert.equal(unread.length, 1);
    assert.match(unread[0].what, /could not|too deeply/);
  });

  it("an answer cell may use what its model answer uses: a checkpoint answered with the library is fine", () => {
    const cp = (src: string) => code(src, { grade: false, solution: true, locked: false, grade_id: "cp-memory", schema_version: 3 }, undefined);
    const withTag = (c: NbCell) => ({ ...c, metadata: { ...c.metadata, tags: ["checkpoint"] } }) as NbCell;
    const answer = withTag(cp(`await checkpoint("cp-memory", () => qrAdaptor.memoryBytes(layers, cfg), "h");`));
    const front = exercise("front", `function front(p: number[][]): number[] {\n  return [];\n}`, ["qrAdaptor"]);
    const source = notebook([front, withTag(cp(`await checkpoint("cp-memory", () => qrAdaptor.memoryBytes(layers, cfg), "h");`))]);
    const nb = notebook([front, answer]);
    const written = studentWrittenCells(nb, source, new Set());
    assert.deepEqual(referenceUses(nb, written, exerciseReferences(source)), []);
    const other = notebook([front, withTag(cp(`await checkpoint("cp-memory", () => qrAdaptor.nonDominatedSort(p).length, "h");`))]);
    assert.deepEqual(referenceUses(other, studentWrittenCells(other, source, new Set()), exerciseReferences(source)), [], "the same name, used otherwise");
    const stranger = notebook([front, withTag(cp(`await checkpoint("cp-memory", () => countAdapterParameters(m, c), "h");`))]);
    const refs = new Map([["front", ["qrAdaptor", "countAdapterParameters"]]]);
    assert.equal(referenceUses(stranger, studentWrittenCells(stranger, source, new Set()), refs).length, 1, "a name the model answer does not use");
  });

  it("an exercise whose code uses its reference scores 0 on every one of its tests, with a warning", () => {
    const passed = (id: string): TestResult => ({ grade_id: id, score: 2, max_score: 2, status: "passed", visibility: "public", message: "" });
    const tests = [
      { grade_id: "t1", points: 2, exercise: "count", visibility: "public" as const },
      { grade_id: "t2", points: 2, exercise: "front", visibility: "public" as const },
      { grade_id: "t3", points: 2, exercise: "count", visibility: "hidden" as const },
    ];
    const warnings: string[] = [];
    const out = withoutReferenceUses(
      [passed("t1"), passed("t2"), passed("t3")],
      tests,
      [{ exercise: "count", what: "`countAdapterParameters`", where: "In [4]" }],
      warnings,
    );
    assert.deepEqual(
      out.map((r) => `${r.grade_id} ${r.status} ${r.score}`),
      ["t1 error 0", "t2 passed 2", "t3 error 0"],
    );
    assert.match(out[0].message, /exercise "count" uses `countAdapterParameters` \(In \[4\]\): this exercise asks you to write that yourself/);
    assert.deepEqual(warnings, ['In [4] uses `countAdapterParameters`, which exercise "count" asks you to write yourself: its tests score 0']);
  });
});
