/**
 * "Write it yourself": an exercise names the library code it imitates (its cell's `coursekit.reference`,
 * e.g. ["countAdapterParameters", "getPeftModel"], ["qrAdaptor"], [".numParameters"]). Code the student wrote
 * must not use those names, or the exercise's tests score 0 — the notebook says so beside the exercise.
 *
 * What counts as the student's code: the exercise cells and, when the instructor grades (the source is
 * known), the checkpoint answers and every code cell that is not one of the source's own cells (an added
 * scratch cell, an edited demo cell). An answer cell may use what its model answer in the source uses (a
 * checkpoint answered with the library is fine). What counts as a use, read from the TypeScript syntax tree (comments and strings do not count):
 *   - a name used as a value: `countAdapterParameters(...)`, `qrAdaptor.layerBytes(...)`, `const f = topkMixture`;
 *     a type annotation (`layer: qrAdaptor.LayerInfo`) and a declaration's own name are not uses;
 *   - a property name given with a leading dot (".numParameters"): `model.numParameters(true)`, `model["numParameters"]`;
 *   - an import from lib/ counts by the names it imports (`import { countAdapterParameters as c }` is a use);
 *     code that would hide the names is refused: a namespace or default import of lib/, `require` of a path
 *     under lib/, a dynamic `import()` or `require` of a computed path, `eval` or `Function`.
 * It is a check of the code as written: it cannot follow a name computed at run time, which is why building
 * code at run time and re-importing the library are refused outright. It fails closed: a cell it cannot
 * analyse (the parser gives up, the input is too large) counts as a use for every exercise. It walks the
 * syntax tree with a stack of its own, so a deeply nested expression cannot overflow the grader's stack.
 * It is only an early warning: code in the kernel can reach the library by ways no reading of the text
 * sees (the README's threat model says which).
 */
import * as ts from "typescript";
import { cellName, cellSource, Notebook } from "../notebook/ipynb";
import { coursekitMeta, gradeIdOf, hasTag, isSolution } from "./cells";

export interface ReferenceUse {
  /** The exercise whose tests score 0. */
  exercise: string;
  /** What was used ("countAdapterParameters", ".numParameters", "a re-import of ./lib/index", "eval"). */
  what: string;
  /** "In [k]" or "cell 12": where. */
  where: string;
}

/** The references each exercise declares, by the exercise's grade_id (only exercises that declare some). */
export function exerciseReferences(nb: Notebook): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const cell of nb.cells) {
    const id = gradeIdOf(cell);
    const refs = coursekitMeta(cell).reference;
    if (id && isSolution(cell) && cell.cell_type === "code" && refs && refs.length > 0) out.set(id, refs);
  }
  return out;
}

/** Names used as values, property names, and the ways of reaching code by other means, in one cell's source. */
export function namesUsed(source: string): { values: Set<string>; properties: Set<string>; escapes: string[] } {
  const file = ts.createSourceFile("cell.ts", source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const values = new Set<string>();
  const properties = new Set<string>();
  const escapes: string[] = [];
  const libPath = (text: string) => /(^|[/\\])lib([/\\]|$)/.test(text);
  const isDeclarationName = (node: ts.Identifier): boolean => {
    const p = node.parent;
    return (
      (ts.isVariableDeclaration(p) ||
        ts.isFunctionDeclaration(p) ||
        ts.isFunctionExpression(p) ||
        ts.isParameter(p) ||
        ts.isClassDeclaration(p) ||
        ts.isClassExpression(p) ||
        ts.isMethodDeclaration(p) ||
        ts.isPropertyDeclaration(p) ||
        ts.isPropertyAssignment(p) ||
        ts.isBindingElement(p) ||
        ts.isGetAccessorDeclaration(p) ||
        ts.isSetAccessorDeclaration(p) ||
        ts.isEnumMember(p) ||
        ts.isLabeledStatement(p)) &&
      (p as ts.NamedDeclaration).name === node
    );
  };
  const visit = (node: ts.Node): void => {
    if (ts.isTypeNode(node) || ts.isInterfaceDeclaration(node) || ts.isTypeAliasDeclaration(node)) return;
    if (ts.isImportDeclaration(node)) {
      // Named imports are checked by name (the imported name, whatever it is renamed to); a namespace or
      // default import of the library would hide the names, so it is refused.
      const spec = node.moduleSpecifier;
      const clause = node.importClause;
      if (!ts.isStringLiteral(spec) || !libPath(spec.text) || !clause || clause.isTypeOnly) return;
      const bindings = clause.namedBindings;
      if (clause.name || (bindings && ts.isNamespaceImport(bindings))) escapes.push(`a namespace import of ${spec.text}`);
      if (bindings && ts.isNamedImports(bindings)) for (const el of bindings.elements) if (!el.isTypeOnly) values.add((el.propertyName ?? el.name).text);
      return;
    }
    if (
      ts.isCallExpression(node) &&
      (node.expression.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(node.expression) && node.expression.text === "require"))
    ) {
      const arg = node.arguments[0];
      const how = node.expression.kind === ts.SyntaxKind.ImportKeyword ? "import()" : "require";
      if (!arg || !ts.isStringLiteralLike(arg)) escapes.push(`a ${how} of a computed path`);
      else if (libPath(arg.text)) escapes.push(`a ${how} of ${arg.text}`);
    }
    if (ts.isPropertyAccessExpression(node)) properties.add(node.name.text);
    if (ts.isElementAccessExpression(node) && ts.isStringLiteralLike(node.argumentExpression)) properties.add(node.argumentExpression.text);
    if (ts.isIdentifier(node)) {
      const p = node.parent;
      const isPropertyName = (ts.isPropertyAccessExpression(p) && p.name === node) || (ts.isQualifiedName(p) && p.right === node);
      if (!isPropertyName && !isDeclarationName(node)) {
        values.add(node.text);
        if (node.text === "eval" || node.text === "Function") escapes.push(`${node.text} (code built at run time)`);
      }
    }
    // Children in source order: pushed in reverse onto the stack (no recursion, however deep the tree).
    const children: ts.Node[] = [];
    ts.forEachChild(node, (child) => {
      children.push(child);
    });
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]);
  };
  const stack: ts.Node[] = [file];
  while (stack.length > 0) visit(stack.pop() as ts.Node);
  return { values, properties, escapes };
}

/**
 * Where the student's code uses what an exercise asks them to write. `studentCells`: the indices of the cells
 * the student wrote (see the module comment); `references`: each exercise's declared references.
 */
export function referenceUses(nb: Notebook, studentCells: StudentCell[], references: Map<string, string[]>): ReferenceUse[] {
  if (references.size === 0) return [];
  const uses: ReferenceUse[] = [];
  for (const { index: i, allowed } of studentCells) {
    const cell = nb.cells[i];
    if (!cell || cell.cell_type !== "code") continue;
    const where = cellName(nb, i);
    let used: ReturnType<typeof namesUsed>;
    try {
      used = namesUsed(cellSource(cell));
    } catch (e) {
      // Fail closed: code the check cannot read counts as a use for every exercise.
      const why = e instanceof RangeError ? "code nested too deeply to be checked" : "code the check could not read";
      for (const exercise of references.keys()) uses.push({ exercise, what: why, where });
      continue;
    }
    for (const [exercise, refs] of references) {
      for (const ref of refs) {
        if (allowed.has(ref)) continue;
        const hit = ref.startsWith(".") ? used.properties.has(ref.slice(1)) : used.values.has(ref);
        if (hit) uses.push({ exercise, what: ref.startsWith(".") ? ref : `\`${ref}\``, where });
      }
      for (const escape of used.escapes) uses.push({ exercise, what: escape, where });
    }
  }
  return uses;
}

/** A cell the student wrote, and the references it may use anyway (those its model answer in the source uses). */
export interface StudentCell {
  index: number;
  allowed: Set<string>;
}

/** The references a source cell itself uses (a checkpoint's model answer may call the library). */
function usedBySource(source: string): Set<string> {
  try {
    const u = namesUsed(source);
    return new Set([...u.values, ...[...u.properties].map((p) => `.${p}`)]);
  } catch {
    return new Set();
  }
}

/**
 * The cells the student wrote. Without the source (student mode): the exercise cells. With it (instructor
 * mode): every answer cell (exercise or checkpoint), and every other code cell whose text is not one of the
 * source's cells (as written there, or as released); an answer cell may use what its model answer uses.
 */
export function studentWrittenCells(nb: Notebook, source?: Notebook, sourceTexts?: Set<string>): StudentCell[] {
  const answers = new Map<string, string>();
  for (const c of source?.cells ?? []) {
    const id = gradeIdOf(c);
    if (id && isSolution(c)) answers.set(id, cellSource(c));
  }
  return nb.cells.flatMap((cell, i): StudentCell[] => {
    if (cell.cell_type !== "code") return [];
    const id = gradeIdOf(cell);
    if (isSolution(cell)) {
      if (!source && hasTag(cell, "checkpoint")) return []; // self-checks only, in student mode
      return [{ index: i, allowed: id && answers.has(id) ? usedBySource(answers.get(id) as string) : new Set<string>() }];
    }
    return sourceTexts && !sourceTexts.has(cellSource(cell)) ? [{ index: i, allowed: new Set<string>() }] : [];
  });
}
