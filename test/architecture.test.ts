/**
 * The library's folders depend on each other in one direction only: a test walks every import in lib/
 * (type-only imports too) and fails on a cycle between folders, naming the imports that make it.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { strict as assert } from "node:assert";

const LIB = path.resolve(__dirname, "..", "lib");

function tsFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? tsFiles(p) : p.endsWith(".ts") ? [p] : [];
  });
}

/** lib/peft/lora/layer.ts → "peft"; lib/index.ts → "." (the top level, which re-exports everything). */
const folderOf = (file: string): string => {
  const parts = path.relative(LIB, file).split(path.sep);
  return parts.length === 1 ? "." : parts[0];
};

/** Folder → folders it imports from, with one import that makes each edge (for the message). */
function folderGraph(): Map<string, Map<string, string>> {
  const graph = new Map<string, Map<string, string>>();
  for (const file of tsFiles(LIB)) {
    const source = fs.readFileSync(file, "utf8");
    for (const m of source.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+"(\.{1,2}\/[^"]+)"/gms)) {
      const target = path.resolve(path.dirname(file), m[1]);
      const from = folderOf(file);
      const to = folderOf(fs.existsSync(`${target}.ts`) ? `${target}.ts` : path.join(target, "index.ts"));
      if (from === to || from === "." || to === ".") continue;
      if (!graph.has(from)) graph.set(from, new Map());
      graph.get(from)!.set(to, `${path.relative(LIB, file)} imports "${m[1]}"`);
    }
  }
  return graph;
}

function findCycle(graph: Map<string, Map<string, string>>): string[] | null {
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

describe("architecture: lib/ folders", () => {
  it("have no import cycle between them", () => {
    const graph = folderGraph();
    assert.ok(graph.get("peft")?.has("nn"), "the walk sees imports (peft uses nn)");
    const cycle = findCycle(graph);
    const because = cycle
      ? cycle
          .slice(1)
          .map((b, i) => `  ${graph.get(cycle[i])!.get(b)}`)
          .join("\n")
      : "";
    assert.equal(cycle, null, `folder cycle ${cycle?.join(" → ")}:\n${because}`);
  });

  it("the walk finds a cycle when there is one", () => {
    const graph = new Map([
      ["a", new Map([["b", "x"]])],
      ["b", new Map([["c", "y"]])],
      ["c", new Map([["a", "z"]])],
    ]);
    assert.deepEqual(findCycle(graph), ["a", "b", "c", "a"]);
  });
});
