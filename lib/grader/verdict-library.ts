/**
 * The library a verdict run's kernel sees (see grade.ts): a copy of lib/ in which the code that a notebook's
 * exercises imitate is absent. Each exercise names it (`coursekit.reference`, as for the static check in
 * forbidden-names.ts): a name ("LoraLayer", "getPeftModel", a namespace such as "qrAdaptor") or a property name
 * (".numParameters"). In the copy every declaration of it keeps its signature — so the notebook's setup cell
 * still type-checks and imports — but every body is replaced by `throw`: a function's body, each method,
 * accessor and constructor of a class and its properties' initialisers, a constant that holds a function,
 * every such declaration of a namespace's modules (data constants stay: the modules must still load). The kernel's sandbox mounts the copy in place of lib/ (sandbox.ts), so no way of
 * reaching the library at run time — tslab's exports, `require.cache`, a computed `require`, a `.js` file
 * written to /tmp — finds the implementation: it is not in any file the kernel can read.
 *
 * Fails closed: a reference that matches no declaration, or a body that can still be found in the copy
 * after it was replaced, is an error (the grader then cannot run the verdict run, and says so).
 *
 * Built once per library version and set of references, in a folder of the machine's temporary directory
 * (coursekit-verdict-lib-<hash>/lib), made under another name first and renamed when complete.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as ts from "typescript";

export class VerdictLibraryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "VerdictLibraryError";
  }
}

interface Edit {
  start: number;
  end: number;
  text: string;
  /** The text it replaces (checked absent from the copy afterwards). */
  original: string;
}

/** Every file under a folder, relative to it, sorted. */
function filesUnder(dir: string, rel = ""): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = path.join(rel, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(dir, p));
    else if (entry.isFile()) out.push(p);
  }
  return out;
}

const unavailable = (name: string): string =>
  JSON.stringify(`${name} is not available while this exercise is graded: the exercise asks you to write it yourself`);
const throwBlock = (name: string): string => `{ throw new Error(${unavailable(name)}); }`;
const throwExpression = (name: string): string => `((() => { throw new Error(${unavailable(name)}); }) as never)`;
/** A value that throws when it is used in any way (read, called, iterated): for data computed with removed code. */
const throwingValue = (name: string): string =>
  `(new Proxy({}, { get() { throw new Error(${unavailable(name)}); }, apply() { throw new Error(${unavailable(name)}); } }) as never)`;

/** Edits that empty one declaration (all its bodies and initialisers), named `name` in messages. */
function stubDeclaration(node: ts.Node, name: string, file: ts.SourceFile): Edit[] {
  const edit = (n: ts.Node, text: string): Edit => ({ start: n.getStart(file), end: n.getEnd(), text, original: n.getText(file) });
  if (ts.isFunctionDeclaration(node) || ts.isMethodDeclaration(node) || ts.isConstructorDeclaration(node) || ts.isAccessor(node)) {
    return node.body ? [edit(node.body, throwBlock(name))] : [];
  }
  if (ts.isPropertyDeclaration(node)) return node.initializer ? [edit(node.initializer, throwExpression(name))] : [];
  // A constant is code only when it holds a function or a class; data (a table, the ladders, a code book's
  // size) stays, so that the library's own modules still load.
  if (ts.isVariableDeclaration(node)) {
    const init = node.initializer;
    const code = init && (ts.isArrowFunction(init) || ts.isFunctionExpression(init) || ts.isClassExpression(init));
    return code ? [edit(init, throwExpression(name))] : [];
  }
  if (ts.isClassStaticBlockDeclaration(node)) return [edit(node.body, "{}")];
  if (ts.isClassDeclaration(node)) return node.members.flatMap((m) => stubDeclaration(m, name, file));
  return [];
}

/** Is this a function, method, accessor, arrow or class (code that does not run when it is declared)? */
const isDeferred = (n: ts.Node): boolean => ts.isFunctionLike(n) || ts.isClassLike(n);

/**
 * The first name in `init` that uses something unavailable when the module loads: a call or `new` of a removed
 * function, class or method (`midpoints(…)`, `quant.midpoints(…)`, `x.numParameters()`), or any mention of a
 * constant already found to be computed with one. Code inside functions is skipped (it does not run at load).
 */
function loadTimeUse(init: ts.Expression, removedCode: Set<string>, derived: Set<string>): string | undefined {
  let found: string | undefined;
  const calleeName = (e: ts.Expression): string | undefined => (ts.isIdentifier(e) ? e.text : ts.isPropertyAccessExpression(e) ? e.name.text : undefined);
  const visit = (n: ts.Node): void => {
    if (found || isDeferred(n)) return;
    if (ts.isCallExpression(n) || ts.isNewExpression(n)) {
      const name = calleeName(n.expression);
      if (name && removedCode.has(name)) found = name;
    }
    if (ts.isIdentifier(n) && derived.has(n.text)) found = n.text;
    ts.forEachChild(n, visit);
  };
  visit(init);
  return found;
}

/** The name of a top-level declaration (function, class, each variable of a statement). */
function topLevelDeclarations(file: ts.SourceFile): Array<{ name: string; node: ts.Node }> {
  const out: Array<{ name: string; node: ts.Node }> = [];
  for (const s of file.statements) {
    if ((ts.isFunctionDeclaration(s) || ts.isClassDeclaration(s)) && s.name) out.push({ name: s.name.text, node: s });
    if (ts.isVariableStatement(s)) for (const d of s.declarationList.declarations) if (ts.isIdentifier(d.name)) out.push({ name: d.name.text, node: d });
  }
  return out;
}

/** A module specifier of a lib file, resolved to a lib file (relative path), or undefined. */
function resolveModule(fromRel: string, specifier: string, files: Set<string>): string | undefined {
  if (!specifier.startsWith(".")) return undefined;
  const base = path.join(path.dirname(fromRel), specifier);
  return [`${base}.ts`, path.join(base, "index.ts"), base].find((c) => files.has(c));
}

/**
 * Builds (or finds, when already built) the library without what `references` name. Returns the folder to
 * mount as lib/, and a line per removed declaration ("LoraLayer (peft/lora/layer.ts)") for the report.
 */
export function verdictLibrary(root: string, references: string[]): { dir: string; removed: string[] } {
  const libDir = path.join(root, "lib");
  const all = filesUnder(libDir);
  const hash = createHash("sha256").update(JSON.stringify([...new Set(references)].sort()));
  for (const f of all) hash.update(`\0${f}\0`).update(fs.readFileSync(path.join(libDir, f)));
  const digest = hash.digest("hex").slice(0, 16);
  const home = path.join(os.tmpdir(), `coursekit-verdict-lib-${digest}`);
  const done = path.join(home, "removed.json");
  if (fs.existsSync(done)) return { dir: path.join(home, "lib"), removed: JSON.parse(fs.readFileSync(done, "utf8")) as string[] };

  const tsFiles = all.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"));
  const tsSet = new Set(tsFiles);
  const parsed = new Map(tsFiles.map((f) => [f, ts.createSourceFile(f, fs.readFileSync(path.join(libDir, f), "utf8"), ts.ScriptTarget.Latest, true)]));
  const edits = new Map<string, Edit[]>();
  const removed: string[] = [];
  const add = (rel: string, node: ts.Node, name: string) => {
    const file = parsed.get(rel) as ts.SourceFile;
    const e = stubDeclaration(node, name, file);
    if (e.length === 0) return;
    edits.set(rel, [...(edits.get(rel) ?? []), ...e]);
    const line = file.getLineAndCharacterOfPosition(node.getStart(file)).line + 1;
    removed.push(`${name} (lib/${rel}:${line})`);
  };
  /** Every declaration of a module, following its `export … from` re-exports (a namespace's whole code). */
  const stubModule = (rel: string, name: string, seen: Set<string>) => {
    if (seen.has(rel)) return;
    seen.add(rel);
    const file = parsed.get(rel) as ts.SourceFile;
    for (const d of topLevelDeclarations(file)) add(rel, d.node, `${name}.${d.name}`);
    for (const s of file.statements) {
      if (ts.isExportDeclaration(s) && s.moduleSpecifier && ts.isStringLiteral(s.moduleSpecifier)) {
        const target = resolveModule(rel, s.moduleSpecifier.text, tsSet);
        if (target) stubModule(target, name, seen);
      }
    }
  };
  for (const ref of [...new Set(references)].sort()) {
    const before = removed.length;
    if (ref.startsWith(".")) {
      const member = ref.slice(1);
      for (const [rel, file] of parsed) {
        const visit = (node: ts.Node): void => {
          if ((ts.isClassDeclaration(node) || ts.isClassExpression(node)) && node.members) {
            for (const m of node.members) if (m.name && ts.isIdentifier(m.name) && m.name.text === member) add(rel, m, ref);
          }
          ts.forEachChild(node, visit);
        };
        visit(file);
      }
    } else {
      for (const [rel, file] of parsed) {
        for (const d of topLevelDeclarations(file)) if (d.name === ref) add(rel, d.node, ref);
        for (const s of file.statements) {
          // export * as qrAdaptor from "./peft/qr-adaptor"
          if (!ts.isExportDeclaration(s)) continue;
          const clause = s.exportClause;
          if (clause && ts.isNamespaceExport(clause) && clause.name.text === ref && s.moduleSpecifier && ts.isStringLiteral(s.moduleSpecifier)) {
            const target = resolveModule(rel, s.moduleSpecifier.text, tsSet);
            if (target) stubModule(target, ref, new Set());
          }
        }
      }
    }
    if (removed.length === before) throw new VerdictLibraryError(`the exercise reference "${ref}" names nothing in lib/ (no declaration to remove)`);
  }
  // Data a module computes when it loads with code that is now removed (`const NF4_MIDPOINTS = midpoints(NF4_CODE)`)
  // would stop the module, and the whole library, from loading: such a constant becomes a value that throws when
  // used. Repeated until nothing changes (a constant computed from such a constant).
  const removedCode = new Set(removed.map((r) => r.split(" ")[0].split(".").pop() as string));
  const derived = new Set<string>();
  const replaced = new Set<ts.Node>();
  for (let changed = true; changed;) {
    changed = false;
    for (const [rel, file] of parsed) {
      for (const { name, node } of topLevelDeclarations(file)) {
        if (!ts.isVariableDeclaration(node) || !node.initializer || isDeferred(node.initializer) || replaced.has(node)) continue;
        const use = loadTimeUse(node.initializer, removedCode, derived);
        if (!use) continue;
        const init = node.initializer;
        edits.set(rel, [...(edits.get(rel) ?? []), { start: init.getStart(file), end: init.getEnd(), text: throwingValue(use), original: init.getText(file) }]);
        removed.push(`${name}, computed with ${use} (lib/${rel}:${file.getLineAndCharacterOfPosition(node.getStart(file)).line + 1})`);
        derived.add(name);
        replaced.add(node);
        changed = true;
      }
    }
  }

  const staging = fs.mkdtempSync(`${home}.staging-`);
  try {
    for (const rel of all) {
      const target = path.join(staging, "lib", rel);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      const fileEdits = edits.get(rel);
      if (!fileEdits) {
        fs.copyFileSync(path.join(libDir, rel), target);
        continue;
      }
      // An edit inside another one (the same body named twice, a method inside a stubbed initialiser) goes.
      const outermost: Edit[] = [];
      for (const e of [...fileEdits].sort((a, b) => a.start - b.start || b.end - a.end)) {
        const last = outermost[outermost.length - 1];
        if (!last || e.start >= last.end) outermost.push(e);
      }
      let text = (parsed.get(rel) as ts.SourceFile).text;
      for (const e of [...outermost].reverse()) text = text.slice(0, e.start) + e.text + text.slice(e.end);
      text = `// @ts-nocheck — the grader's copy: ${[...new Set(outermost.map((e) => e.text.match(/"(.*?) is not available/)?.[1]))].join(", ")} removed\n${text}`;
      for (const e of outermost) {
        if (e.original.length >= 40 && text.includes(e.original)) throw new VerdictLibraryError(`lib/${rel}: a removed body is still in the copy`);
      }
      fs.writeFileSync(target, text);
    }
    fs.writeFileSync(path.join(staging, "removed.json"), `${JSON.stringify(removed, null, 2)}\n`);
    try {
      fs.renameSync(staging, home);
    } catch (e) {
      // Another grader built the same library meanwhile: use theirs.
      if (!fs.existsSync(done)) throw e;
      fs.rmSync(staging, { recursive: true, force: true });
    }
  } catch (e) {
    fs.rmSync(staging, { recursive: true, force: true });
    throw e;
  }
  return { dir: path.join(home, "lib"), removed };
}
