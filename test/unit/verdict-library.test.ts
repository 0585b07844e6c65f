/**
 * The graded run's library (lib/grader/verdict-library.ts): a copy of lib/ without the code the exercises
 * imitate. Checked on the copy's files: the declarations keep their signatures, their bodies are gone.
 */
import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as ts from "typescript";
import { verdictLibrary, VerdictLibraryError } from "../../lib/grader/verdict-library";

const ROOT = path.resolve(__dirname, "..", "..");

/** The text of every body (function, method, constructor, accessor) of a declaration named `name` in a lib file. */
function bodiesOf(file: string, name: string): string[] {
  const src = ts.createSourceFile(file, fs.readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
  const out: string[] = [];
  const visit = (node: ts.Node, inside: boolean): void => {
    const named = (ts.isFunctionDeclaration(node) || ts.isClassDeclaration(node)) && node.name?.text === name;
    if ((inside || named) && (ts.isFunctionLike(node) || ts.isConstructorDeclaration(node)) && "body" in node && node.body) out.push(node.body.getText(src));
    ts.forEachChild(node, (c) => visit(c, inside || named));
  };
  visit(src, false);
  return out;
}

describe("verdict library: lib/ without what the exercises imitate", function () {
  this.timeout(60000);
  const refs = ["LoraLayer", "getPeftModel", "countAdapterParameters", "qrAdaptor", ".numParameters"];
  const { dir, removed } = verdictLibrary(ROOT, refs);

  it("names each removed declaration with its place", () => {
    assert.ok(
      removed.includes("LoraLayer (lib/peft/lora/layer.ts:47)") || removed.some((r) => r.startsWith("LoraLayer (lib/peft/lora/layer.ts:")),
      removed.join("\n"),
    );
    assert.ok(removed.some((r) => r.startsWith("getPeftModel (lib/peft/peft-model.ts:")));
    assert.ok(removed.some((r) => r.startsWith("countAdapterParameters (lib/peft/count.ts:")));
    assert.ok(
      removed.some((r) => r.startsWith("qrAdaptor.")),
      "a namespace: every declaration of its modules",
    );
    assert.ok(
      removed.some((r) => r.startsWith(".numParameters (lib/nn/module.ts:")),
      "a method by its name",
    );
  });

  it("the copy keeps every file and signature but none of the removed bodies", () => {
    const copy = (rel: string) => fs.readFileSync(path.join(dir, rel), "utf8");
    for (const [rel, name] of [
      ["peft/lora/layer.ts", "LoraLayer"],
      ["peft/count.ts", "countAdapterParameters"],
      ["peft/peft-model.ts", "getPeftModel"],
    ]) {
      const bodies = bodiesOf(path.join(ROOT, "lib", rel), name).filter((b) => b.length > 60);
      assert.ok(bodies.length > 0, `${name} has bodies to remove`);
      for (const b of bodies) assert.ok(!copy(rel).includes(b), `a body of ${name} is still in the copy of lib/${rel}`);
    }
    assert.match(
      copy("peft/count.ts"),
      /export function countAdapterParameters\(model: Module, config: PeftConfig\): number \{ throw new Error\("countAdapterParameters is not available/,
    );
    assert.match(copy("peft/lora/layer.ts"), /^\/\/ @ts-nocheck/);
    // Untouched files are copied as they are (the library's other parts still work).
    assert.equal(copy("nn/linear.ts"), fs.readFileSync(path.join(ROOT, "lib", "nn", "linear.ts"), "utf8"));
    assert.ok(fs.existsSync(path.join(dir, "ops", "simd-kernels.wasm")), "non-TypeScript files too");
  });

  it("data a module computes at load with removed code throws when used, and the library still loads", () => {
    // lib/quant/nf4.ts: `const NF4_MIDPOINTS = midpoints(NF4_CODE)`, where midpoints is part of the quant namespace
    const quantOnly = verdictLibrary(ROOT, ["quant"]);
    assert.ok(
      quantOnly.removed.some((r) => r.startsWith("NF4_MIDPOINTS, computed with midpoints (lib/quant/nf4.ts:")),
      quantOnly.removed.join("\n"),
    );
    assert.match(fs.readFileSync(path.join(quantOnly.dir, "quant", "nf4.ts"), "utf8"), /const NF4_MIDPOINTS = \(new Proxy\(/);
    // loaded for real, in a child process: the data constants stay, the code throws with the message students see
    const script = [
      `const { quant } = require(${JSON.stringify(path.join(quantOnly.dir, "index.ts"))});`,
      "console.log(quant.NF4_CODE.length);",
      "try { quant.nf4Encode(0.1); } catch (e) { console.log(String(e)); }",
    ].join("\n");
    const run = spawnSync(process.execPath, ["--import", "tsx", "-e", script], {
      encoding: "utf8",
      env: { ...process.env, NODE_PATH: path.join(ROOT, "node_modules") },
      timeout: 60000,
    });
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(run.stdout.trim().split("\n").slice(-2), [
      "16",
      "Error: quant.nf4Encode is not available while this exercise is graded: the exercise asks you to write it yourself",
    ]);
  });

  it("is built once: the same references give the same folder; a reference naming nothing is refused", () => {
    assert.equal(verdictLibrary(ROOT, [...refs].reverse()).dir, dir);
    assert.throws(
      () => verdictLibrary(ROOT, ["noSuchFunction"]),
      (e: unknown) => e instanceof VerdictLibraryError && /"noSuchFunction" names nothing in lib\//.test(e.message),
    );
  });
});
