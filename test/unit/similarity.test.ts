/**
 * Copying is reported: winnowing similarity of exercise code with the library and across a batch
 * (lib/grader/similarity.ts), on the real week 3 notebooks with answers written by hand.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { gradeIdOf } from "../../lib/grader/cells";
import { CODE_STUB } from "../../lib/grader/release";
import {
  batchFindings,
  compareTexts,
  fingerprint,
  kgramHashes,
  libraryDeclarations,
  libraryFindings,
  SIMILARITY_DEFAULTS,
  SimilarityFinding,
  tokenize,
  winnow,
} from "../../lib/grader/similarity";
import { cellSource, cloneNotebook, Notebook, readNotebook } from "../../lib/notebook/ipynb";
import { Rng } from "../../lib/util/random";

const ROOT = path.resolve(__dirname, "..", "..");
const SOURCE = readNotebook(path.join(ROOT, "solutions", "week03", "02-lora.ipynb"));
const RELEASED = readNotebook(path.join(ROOT, "notebooks", "week03", "02-lora.ipynb"));

const exerciseText = (nb: Notebook, id: string): string => cellSource(nb.cells.find((c) => gradeIdOf(c) === id) as Notebook["cells"][number]);

/** The released notebook with one exercise cell's text replaced: a student's submission. */
function submission(id: string, text: string): Notebook {
  const nb = cloneNotebook(RELEASED);
  const cell = nb.cells.find((c) => gradeIdOf(c) === id);
  assert.ok(cell, `no exercise ${id}`);
  cell.source = text;
  return nb;
}

/** The model answer as a student would hand it in: the source cell without the solution markers. */
const modelAnswer = (id: string): string =>
  exerciseText(SOURCE, id)
    .split("\n")
    .filter((l) => !/### (BEGIN|END) SOLUTION/.test(l))
    .join("\n");

/** The released cell with its stubs replaced, in order, by `bodies` (indented like the stub). */
function fillStubs(id: string, bodies: string[]): string {
  const lines = exerciseText(RELEASED, id).split("\n");
  const out: string[] = [];
  let next = 0;
  for (let i = 0; i < lines.length; i++) {
    const indent = /^(\s*)/.exec(lines[i])?.[1] ?? "";
    if (lines[i].trim() === CODE_STUB[0] && lines[i + 1]?.trim() === CODE_STUB[1]) {
      out.push(...bodies[next++].split("\n").map((l) => (l === "" ? l : `${indent}${l}`)));
      i++;
    } else out.push(lines[i]);
  }
  assert.equal(next, bodies.length, "one body per stub");
  return out.join("\n");
}

/** Every "lines a-b" (or "line a") range of the submission's own side of a finding, as [a, b]. */
const ownRanges = (f: SimilarityFinding): Array<[number, number]> =>
  [...f.lines.matchAll(/(?:^In \[\d+\] |; )lines? (\d+)(?:-(\d+))?/g)].map((m) => [Number(m[1]), Number(m[2] ?? m[1])]);

const lineOf = (text: string, needle: string): number => text.split("\n").findIndex((l) => l.includes(needle)) + 1;

describe("similarity: copying is reported, not silently accepted", () => {
  it("tokenizes TypeScript: comments dropped, identifiers, strings and numbers one kind each, lines kept", () => {
    const a = tokenize("const total = 1; // sum\n/* note */ let s = `x${total}y` + 'q' + /a\\/'b/.source;");
    const b = tokenize('const n\n  = 42;\nlet sum = `other ${n} text` + "r" + /zz\'/.source;');
    assert.deepEqual(a.kinds, b.kinds, "renamed variables, other literals, comments and layout give the same tokens");
    assert.deepEqual(a.lines.slice(0, 5), [1, 1, 1, 1, 1]);
    assert.deepEqual(b.lines.slice(0, 5), [1, 1, 2, 2, 2]);
    assert.equal(a.kinds.length, 18, "a template's text and a regular expression's quote are no stray tokens");
    assert.notDeepEqual(tokenize("if (a) b();").kinds, tokenize("while (a) b();").kinds, "keywords are kept");
  });

  it("a renamed, reformatted and commented copy of a real exercise is flagged with a score near 1, with its lines", () => {
    const original = modelAnswer("lora-layer-impl");
    const disguised = fillStubs("lora-layer-impl", [
      [
        "// forward pass",
        "return tf.tidy(() => {",
        "  let out: tf.Tensor = tf.matMul(",
        "    x, this.W,",
        "    false, true);",
        "  if (this.bias)",
        "    out = tf.add(out, this.bias); // bias",
        "  if (!this.merged)",
        "    out = tf.add(out, tf.mul(tf.matMul(tf.matMul(x, this.A, false, true), this.B, false, true), this.scale));",
        "  return out as tf.Tensor2D;",
        "});",
      ].join("\n"),
      [
        "if (this.merged) throw new Error('cannot merge twice');",
        "const previous = this.W;",
        "/* W + s·B A */",
        "this.W = tf.tidy(() => tf.add(previous, tf.mul(tf.matMul(this.B, this.A), this.scale)) as tf.Tensor2D);",
        "previous.dispose();",
        "this.merged = true;",
      ].join("\n"),
      [
        "if (!this.merged) throw new Error('not merged');",
        "",
        "const previous = this.W;",
        "this.W = tf.tidy(() =>",
        "  tf.sub(previous, tf.mul(tf.matMul(this.B, this.A), this.scale)) as tf.Tensor2D,",
        ");",
        "previous.dispose();",
        "this.merged = false;",
      ].join("\n"),
    ]);
    const found = batchFindings(
      [
        { path: "alice/02-lora.ipynb", notebook: submission("lora-layer-impl", original) },
        { path: "bob/02-lora.ipynb", notebook: submission("lora-layer-impl", disguised) },
      ],
      SOURCE,
    );
    const alice = found.get("alice/02-lora.ipynb") ?? [];
    const bob = found.get("bob/02-lora.ipynb") ?? [];
    assert.deepEqual(
      alice.map((f) => [f.exercise, f.kind, f.other]),
      [["lora-layer-impl", "submission", "bob/02-lora.ipynb"]],
    );
    assert.deepEqual(
      bob.map((f) => [f.exercise, f.kind, f.other]),
      [["lora-layer-impl", "submission", "alice/02-lora.ipynb"]],
    );
    assert.ok(alice[0].score >= 0.95, `score ${alice[0].score}`);
    assert.equal(bob[0].score, alice[0].score, "both sides of a pair carry the pair's score");
    assert.match(alice[0].lines, /^In \[21\] lines \d+/);
    assert.match(alice[0].lines, /~ bob\/02-lora\.ipynb In \[21\] lines \d+/);
    // Alice's reported lines are her three method bodies: from forward's first line to unmerge's last, and
    // nothing of the released scaffolding before (constructor) or after (dispose).
    const ranges = ownRanges(alice[0]);
    const first = lineOf(original, "return tf.tidy(() => {");
    const last = lineOf(original, "this.merged = false;");
    assert.ok(ranges.length >= 1 && ranges.length <= 3, alice[0].lines);
    assert.ok(ranges[0][0] >= lineOf(original, "forward(x") && ranges[0][0] <= first + 1, alice[0].lines);
    assert.ok(ranges[ranges.length - 1][1] >= last - 1 && ranges[ranges.length - 1][1] <= last + 1, alice[0].lines);
    for (const [a, b] of ranges) assert.ok(a > lineOf(original, "this.scale = alpha") && b < lineOf(original, "dispose(): void"), alice[0].lines);
    for (const [a, b] of ownRanges(bob[0])) assert.ok(a > lineOf(disguised, "this.scale = alpha") && b < lineOf(disguised, "dispose(): void"), bob[0].lines);
  });

  it("reports exact line ranges for a copy in plain texts", () => {
    const a = [
      "function norms(rows: number[][]): number[] {",
      "  const out: number[] = [];",
      "  for (let i = 0; i < rows.length; i++) {",
      "    let s = 0;",
      "    for (let j = 0; j < rows[i].length; j++) s += rows[i][j] * rows[i][j];",
      "    out.push(Math.sqrt(s));",
      "  }",
      "  return out;",
      "}",
    ].join("\n");
    const b = `// header\n\n${a
      .replace(/\brows\b/g, "m")
      .replace(/\bout\b/g, "acc")
      .replace(/ \{\n/g, "\n{\n")}\nconsole.log("unrelated tail", 1 + 2);\n`;
    const c = compareTexts(a, b);
    assert.equal(c.aInB, 1);
    assert.ok(c.bInA > 0.6 && c.bInA < 1, "b has more than the copy");
    assert.deepEqual(c.regions.length, 1, JSON.stringify(c.regions));
    const [{ a: ra, b: rb }] = c.regions;
    // a: lines 1-9; b: the same code on lines 3-13 (two braces moved to lines of their own)
    assert.ok(ra.start === 1 && ra.end >= 8 && ra.end <= 9, JSON.stringify(ra));
    assert.ok(rb.start === 3 && rb.end >= 12 && rb.end <= 13, JSON.stringify(rb));
  });

  it("two independently written correct solutions of a real exercise are not flagged", () => {
    const countA = modelAnswer("lora-count");
    const countB = fillStubs("lora-count", [
      [
        "const wanted = new Set(targets);",
        "const sizes = model",
        "  .namedModules()",
        '  .filter(([path]) => wanted.has(path) || wanted.has(path.split(".").pop() ?? ""))',
        "  .map(([, layer]) => layer as unknown as { inFeatures?: number; outFeatures?: number })",
        '  .filter((l) => typeof l.inFeatures === "number" && typeof l.outFeatures === "number")',
        "  .map((l) => (l.inFeatures as number) + (l.outFeatures as number));",
        "return r * sizes.reduce((sum, n) => sum + n, 0);",
      ].join("\n"),
    ]);
    const implA = modelAnswer("lora-layer-impl");
    const implB = fillStubs("lora-layer-impl", [
      [
        "return tf.tidy(() => {",
        "  const wx = x.matMul(this.W.transpose());",
        "  const base = this.bias === null ? wx : wx.add(this.bias);",
        "  if (this.merged) return base as tf.Tensor2D;",
        "  const low = x.matMul(this.A.transpose());",
        "  return base.add(low.matMul(this.B.transpose()).mul(this.scale)) as tf.Tensor2D;",
        "});",
      ].join("\n"),
      "this.shift(1);",
      "this.shift(-1);",
    ]).replace(
      "  dispose(): void {",
      [
        "  /** W ± s·B A; merge adds (+1), unmerge subtracts (−1). */",
        "  private shift(sign: 1 | -1): void {",
        '    if ((sign > 0) === this.merged) throw new Error(sign > 0 ? "already merged" : "not merged");',
        "    const next = tf.tidy(() => this.W.add(this.B.matMul(this.A).mul(sign * this.scale)) as tf.Tensor2D);",
        "    this.W.dispose();",
        "    this.W = next;",
        "    this.merged = sign > 0;",
        "  }",
        "",
        "  dispose(): void {",
      ].join("\n"),
    );
    const alice = cloneNotebook(submission("lora-count", countA));
    const bob = cloneNotebook(submission("lora-count", countB));
    (alice.cells.find((c) => gradeIdOf(c) === "lora-layer-impl") as Notebook["cells"][number]).source = implA;
    (bob.cells.find((c) => gradeIdOf(c) === "lora-layer-impl") as Notebook["cells"][number]).source = implB;
    const subs = [
      { path: "alice", notebook: alice },
      { path: "bob", notebook: bob },
    ];
    assert.deepEqual(batchFindings(subs, SOURCE).get("alice"), []);
    // Not flagged because they differ, not because they are small: with no minimum count, scores stay low.
    const scores = batchFindings(subs, SOURCE, { threshold: 0, minMatched: 0 }).get("alice") ?? [];
    assert.deepEqual(scores.map((f) => f.exercise).sort(), ["lora-count", "lora-layer-impl"]);
    for (const f of scores) assert.ok(f.score < 0.35, `${f.exercise}: ${f.score}`);
    assert.deepEqual(libraryFindings(bob, SOURCE, ROOT), [], "nor is the second one a copy of the library");
  });

  it("the library's LoraLayer code pasted into an exercise is flagged as a library copy, with the file and lines", () => {
    const methods = [".loraWeight", ".doraWeight", ".adapterOutput", ".mergeWeight", ".unmergeWeight"].map((m) => {
      const decls = libraryDeclarations(ROOT, m).filter((d) => d.file === "lib/peft/lora/layer.ts");
      assert.equal(decls.length, 1, m);
      return decls[0];
    });
    // the released cell, stubs left as they are, with the library's methods pasted into the class
    const pasted = exerciseText(RELEASED, "lora-layer-impl").replace(
      "  dispose(): void {",
      `${methods.map((d) => `  ${d.text}`).join("\n\n")}\n\n  dispose(): void {`,
    );
    const findings = libraryFindings(submission("lora-layer-impl", pasted), SOURCE, ROOT);
    assert.deepEqual(
      findings.map((f) => [f.exercise, f.kind, f.other]),
      [["lora-layer-impl", "library", "LoraLayer at lib/peft/lora/layer.ts:47"]],
    );
    assert.ok(findings[0].score >= 0.95, `score ${findings[0].score}`);
    const libRanges = [...findings[0].lines.matchAll(/lib\/peft\/lora\/layer\.ts:(\d+)(?:-(\d+))?/g)].map((m) => [Number(m[1]), Number(m[2] ?? m[1])]);
    assert.ok(libRanges.length > 0, findings[0].lines);
    // every pasted method is reported, and the reported code lines are theirs but for a few: a k-gram across the
    // seam of two pasted methods (`} protected override …(`) also occurs at other seams of the file
    for (const d of methods)
      assert.ok(
        libRanges.some(([a, b]) => a <= d.endLine && b >= d.startLine),
        `${d.name} (${findings[0].lines})`,
      );
    const file = fs.readFileSync(path.join(ROOT, "lib", "peft", "lora", "layer.ts"), "utf8").split("\n");
    const isCode = (l: number) => !/^\s*(\/\/|\/\*|\*|$)/.test(file[l - 1]);
    const reported = libRanges.flatMap(([a, b]) => Array.from({ length: b - a + 1 }, (_, n) => a + n)).filter(isCode);
    const outside = reported.filter((l) => !methods.some((d) => l >= d.startLine && l <= d.endLine));
    assert.ok(outside.length <= 5 && outside.length <= 0.15 * reported.length, `${outside.join(",")} (${findings[0].lines})`);
    for (const [a, b] of ownRanges(findings[0])) assert.ok(a > lineOf(pasted, "forward(x") && b < lineOf(pasted, "dispose(): void"), findings[0].lines);
    // The student's own model answer is no copy of LoraLayer.
    assert.deepEqual(libraryFindings(submission("lora-layer-impl", modelAnswer("lora-layer-impl")), SOURCE, ROOT), []);
  });

  it("untouched stubs are never flagged, whatever the threshold", () => {
    for (const name of [
      "01-why-peft",
      "02-lora",
      "03-waveft",
      "04-dora",
      "05-vb-lora",
      "06-qr-adaptor",
      "07-qlora-nf4",
      "08-comparing-methods",
      "09-capstone",
    ]) {
      const source = readNotebook(path.join(ROOT, "solutions", "week03", `${name}.ipynb`));
      const stub = readNotebook(path.join(ROOT, "notebooks", "week03", `${name}.ipynb`));
      const subs = ["a", "b", "c"].map((p) => ({ path: p, notebook: cloneNotebook(stub) }));
      const anything = { threshold: 0, minMatched: 0 };
      for (const [p, findings] of batchFindings(subs, source, anything)) assert.deepEqual(findings, [], `${name} ${p}`);
      assert.deepEqual(libraryFindings(stub, source, ROOT, anything), [], name);
    }
  });

  it("winnowing finds every shared run of at least t = k + w − 1 tokens (random token strings)", () => {
    const rng = new Rng(2003);
    const { k, w } = SIMILARITY_DEFAULTS;
    const t = k + w - 1;
    const random = (n: number) => Array.from({ length: n }, () => 1 + rng.int(40));
    for (let trial = 0; trial < 300; trial++) {
      const common = random(t);
      const a = [...random(rng.int(400)), ...common, ...random(rng.int(400))];
      const b = [...random(rng.int(400)), ...common, ...random(rng.int(400))];
      const [ha, hb] = [kgramHashes(a, k), kgramHashes(b, k)];
      const pickedB = new Set(winnow(hb, w).map((i) => hb[i]));
      assert.ok(
        winnow(ha, w).some((i) => pickedB.has(ha[i])),
        `trial ${trial}: a run of ${t} shared tokens yields a fingerprint in both`,
      );
    }
    // The same through the tokenizer: a shared run of t tokens in texts of random tokens is matched.
    const vocabulary = ["a", "b", "1", '"s"', "+", "-", "*", "(", ")", "[", "]", ",", ";", "if", "for", "return", "new", "=", "<", "=>"];
    const text = (n: number) => Array.from({ length: n }, () => vocabulary[rng.int(vocabulary.length)]).join(" ");
    for (let trial = 0; trial < 50; trial++) {
      const shared = text(t);
      const c = compareTexts(`${text(200)} ${shared} ${text(200)}`, `${text(300)}\n${shared}\n${text(100)}`);
      assert.ok(c.aInB > 0 && c.regions.length > 0, `trial ${trial}`);
    }
    assert.equal(compareTexts("a + b * c ( d ) ;", "a + b * c ( d ) ;").aInB, 0, "fewer than k tokens: no k-gram, nothing to match");
  });

  it("a huge input (3 MB) is cut at maxChars and returns quickly, without a stack overflow", () => {
    const line = "if (x[i] > 0) { y = ((((a + b) * c) - d) / 2); } else { y = `t${(((z)))}`; }\n";
    const huge = `${"(".repeat(1_000_000)}${line.repeat(Math.ceil(2_000_000 / line.length))}`;
    assert.ok(huge.length >= 3_000_000);
    const started = Date.now();
    const fp = fingerprint(huge);
    assert.ok(fp.truncated);
    assert.ok(fp.hashes.length < SIMILARITY_DEFAULTS.maxChars);
    const c = compareTexts(huge, huge);
    assert.equal(c.aInB, 1);
    const id = "lora-count";
    const big = (p: string) => ({ path: p, notebook: submission(id, `${exerciseText(RELEASED, id)}\n${line.repeat(Math.ceil(3_000_000 / line.length))}`) });
    const found = batchFindings([big("a"), big("b")], SOURCE).get("a") ?? [];
    assert.deepEqual(
      found.map((f) => f.exercise),
      [id],
    );
    assert.match(found[0].lines, /only the cell's first 200000 characters were compared/);
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 10_000, `${elapsed} ms`);
  });
});
