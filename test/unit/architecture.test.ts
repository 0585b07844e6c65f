/**
 * The library's structure, from every import in lib/ (type-only imports too):
 *   - its folders depend on each other in one direction only; each file at the top level of lib/ other than
 *     index.ts (which re-exports everything) counts as a folder of its own, so `ops → backend.ts → ops` is a cycle;
 *   - no file imports itself back through other files (no file-level cycle);
 *   - the top level holds only the files listed here: a new one is a decision, not an accident.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { strict as assert } from "node:assert";

const LIB = path.resolve(__dirname, "..", "..", "lib");
const ROOT_FILES = ["backend-webgpu.ts", "backend.ts", "index.ts"];

function tsFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? tsFiles(p) : p.endsWith(".ts") ? [p] : [];
  });
}

/** Every relative import of lib/'s files: [importing file, imported file, the import as written], paths relative to lib/. */
function importsOf(lib: string): Array<[string, string, string]> {
  const out: Array<[string, string, string]> = [];
  for (const file of tsFiles(lib)) {
    const source = fs.readFileSync(file, "utf8");
    for (const m of source.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+"(\.{1,2}\/[^"]+)"/gms)) {
      const target = path.resolve(path.dirname(file), m[1]);
      const resolved = fs.existsSync(`${target}.ts`) ? `${target}.ts` : path.join(target, "index.ts");
      out.push([path.relative(lib, file), path.relative(lib, resolved), m[1]]);
    }
  }
  return out;
}

/** peft/lora/layer.ts → "peft"; backend.ts → "backend.ts"; index.ts → null (the re-exporter, left out). */
const folderOf = (rel: string): string | null => (rel === "index.ts" ? null : rel.split(path.sep)[0]);

type Graph = Map<string, Map<string, string>>;

/** Node → nodes it imports from, with one import that makes each edge (for the message). */
function graphOf(edges: Array<[string, string, string]>, node: (rel: string) => string | null): Graph {
  const graph: Graph = new Map();
  for (const [fromFile, toFile, spec] of edges) {
    const [from, to] = [node(fromFile), node(toFile)];
    if (from === null || to === null || from === to) continue;
    if (!graph.has(from)) graph.set(from, new Map());
    graph.get(from)!.set(to, `${fromFile} imports "${spec}"`);
  }
  return graph;
}

function findCycle(graph: Graph): string[] | null {
  const done = new Set<string>();
  const stack: string[] = [];
  const visit = (a: string): string[] | null => {
    if (stack.includes(a)) return [...stack.slice(stack.indexOf(a)), a];
    if (done.has(a)) return null;
    stack.push(a);
    for (const b of graph.get(a)?.keys() ?? []) {
      const cycle = visit(b);
      if (cycle) return cycle;
    }
    stack.pop();
    done.add(a);
    return null;
  };
  for (const a of graph.keys()) {
    const cycle = visit(a);
    if (cycle) return cycle;
  }
  return null;
}

/** The cycle and the imports that make it, as a message; "" when there is none. */
function describeCycle(graph: Graph): string {
  const cycle = findCycle(graph);
  if (!cycle) return "";
  const because = cycle
    .slice(1)
    .map((b, i) => `  ${graph.get(cycle[i])!.get(b)}`)
    .join("\n");
  return `cycle ${cycle.join(" → ")}:\n${because}`;
}

describe("architecture: lib/", () => {
  const edges = importsOf(LIB);

  it("folders (and each top-level file) have no import cycle between them", () => {
    const graph = graphOf(edges, folderOf);
    assert.ok(graph.get("peft")?.has("nn"), "the walk sees imports (peft uses nn)");
    assert.ok(graph.get("backend.ts")?.has("ops"), "top-level files are nodes (backend.ts uses ops)");
    assert.equal(describeCycle(graph), "");
  });

  it("files have no import cycle (type-only imports count)", () => {
    const graph = graphOf(edges, (rel) => rel);
    assert.ok(graph.get(path.join("grader", "grade.ts"))?.has(path.join("grader", "report.ts")), "the walk sees file imports");
    assert.equal(describeCycle(graph), "");
  });

  it("the top level of lib/ holds only index.ts and the backends", () => {
    const top = fs
      .readdirSync(LIB, { withFileTypes: true })
      .filter((e) => e.isFile() && e.name.endsWith(".ts"))
      .map((e) => e.name)
      .sort();
    assert.deepEqual(top, ROOT_FILES);
  });

  it("the walk finds the cycles it is there for: a folder through a top-level file, and files within a folder", () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "coursekit-arch-"));
    try {
      const write = (rel: string, text: string) => {
        fs.mkdirSync(path.dirname(path.join(tmp, rel)), { recursive: true });
        fs.writeFileSync(path.join(tmp, rel), text);
      };
      // the example: backend.ts imports ops, and ops/matmul.ts imports a type from ../backend
      write("backend.ts", 'import { linear } from "./ops/matmul";\nexport interface BackendInfo { name: string }\n');
      write("ops/matmul.ts", 'import type { BackendInfo } from "../backend";\nexport const linear = 1;\n');
      // two files of one folder importing each other (a type-only import one way)
      write("grader/reference.ts", 'import { recordsIn } from "./verdicts";\nexport interface Reference { x: number }\n');
      write("grader/verdicts.ts", 'import type { Reference } from "./reference";\nexport const recordsIn = 1;\n');
      const toy = importsOf(tmp);
      assert.match(describeCycle(graphOf(toy, folderOf)), /^cycle (backend\.ts → ops → backend\.ts|ops → backend\.ts → ops):\n {2}.*imports/);
      const grader = toy.filter(([from]) => from.startsWith("grader"));
      assert.match(
        describeCycle(graphOf(grader, (rel) => rel)),
        /^cycle grader\/(reference|verdicts)\.ts → grader\/(reference|verdicts)\.ts → grader\/(reference|verdicts)\.ts:/,
      );
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
