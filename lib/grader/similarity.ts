/**
 * Copying is reported, not silently accepted: how near an exercise's student code is to (a) the library code
 * the exercise imitates (its `coursekit.reference`, see forbidden-names.ts) and (b) the same exercise in the other
 * submissions of a batch. Findings are for the instructor to judge — a short exercise has few ways to be
 * written — and change no score.
 *
 * The method is winnowing (Schleimer, Wilkerson & Aiken 2003, the algorithm behind MOSS; JPlag and Dolos
 * work alike):
 *   1. tokens: TypeScript's scanner, comments and whitespace skipped; every identifier is one token kind (so
 *      renaming variables hides nothing), every string and every number literal too; keywords, operators and
 *      punctuation are kept as they are. Each token keeps its line.
 *   2. k-grams: a hash of every run of k consecutive tokens; shared runs shorter than k are never seen.
 *   3. winnowing: in every window of w consecutive k-gram hashes the smallest is a fingerprint (robust
 *      winnowing: on a tie, the one already chosen, else the rightmost). Guarantee: any run of at least
 *      t = k + w − 1 tokens that two texts share gives a fingerprint that occurs in both.
 *   4. comparison: the fraction of A's fingerprints whose k-gram occurs in B (and of B's in A), and the lines
 *      of both texts that matched.
 * The student's code of an exercise is its cell in the submission less what the release gave everyone:
 * fingerprints whose k-gram also occurs in the released cell (the stub and its scaffolding) do not count, so
 * two untouched stubs share nothing, and a shared function signature is not evidence.
 *
 * Bounded work: each text is cut at `maxChars` (200 000 characters) before it is tokenized; a student's text
 * only meets the scanner (never the recursive parser) and loops, so a huge or deeply nested cell costs well
 * under a second and cannot overflow the stack. The library is parsed once per process (its files are ours).
 *
 * Dolos (@dodona/dolos-lib, winnowing from Ghent University) does this as a package, but is not used: its
 * install compiles some twenty tree-sitter grammars with node-gyp and brings about 440 MB of node_modules,
 * for a kit that needs one language whose scanner it already has (typescript).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as ts from "typescript";
import { cellName, cellSource, Notebook } from "../notebook/ipynb";
import { gradeIdOf, isSolution } from "./cells";
import { exerciseReferences } from "./forbidden-names";
import { releaseCell } from "./release";

export interface SimilarityOptions {
  /** Tokens per k-gram (default 12): shared runs shorter than this are noise and never match. */
  k?: number;
  /** Winnowing window, in k-grams (default 6): any shared run of k + w − 1 tokens (17) is found. */
  w?: number;
  /**
   * Flag at or above this score, 0..1 (default 0.6). Independently written answers to the week 3 exercises
   * share a few per cent of their fingerprints, a renamed and reformatted copy nearly all; 0.6 still catches
   * a copy edited in a few places (each edit costs the k-grams across it).
   */
  threshold?: number;
  /**
   * ...and only when at least this many fingerprints matched (default 12: some 45 tokens, three or four lines
   * of code). A one-line answer (lora-delta's has 10 fingerprints) has few ways to be written and is never flagged.
   */
  minMatched?: number;
  /** Characters of each text that are read (default 200 000); the rest is ignored, and the finding says so. */
  maxChars?: number;
}

export const SIMILARITY_DEFAULTS: Required<SimilarityOptions> = { k: 12, w: 6, threshold: 0.6, minMatched: 12, maxChars: 200_000 };

export interface SimilarityFinding {
  /** The exercise's grade_id. */
  exercise: string;
  kind: "library" | "submission";
  /** "LoraLayer at lib/peft/lora/layer.ts:47" (library), or the other submission's path. */
  other: string;
  /** 0..1: the share of the student's fingerprints found in the other text (the larger share, for two submissions). */
  score: number;
  /** The matched lines: "In [6] lines 3-9 ~ lib/peft/lora/layer.ts:40-48". */
  lines: string;
}

// ---------------------------------------------------------------------------------------------------------
// Tokens

/** A text's tokens as kinds (normalised SyntaxKinds) and the 1-based line each starts on. */
export interface Tokens {
  kinds: number[];
  lines: number[];
  /** True when the text was longer than maxChars and only its beginning was read. */
  truncated: boolean;
}

const K = ts.SyntaxKind;
const IDENTIFIER = K.Identifier;
const STRING = K.StringLiteral;
const NUMBER = K.NumericLiteral;

/**
 * One kind for every identifier, string and number, so renaming and changed constants hide nothing.
 * Contextual keywords (`type`, `out`, `of`, `as`, `number`, `string`, `get`, …) can be variable names, so
 * they count as identifiers too; reserved words (`if`, `return`, `this`, `let`, …) stay themselves.
 */
function normalKind(kind: ts.SyntaxKind): number {
  if (kind > K.LastFutureReservedWord && kind <= K.LastKeyword) return IDENTIFIER;
  switch (kind) {
    case K.Identifier:
    case K.PrivateIdentifier:
      return IDENTIFIER;
    case K.StringLiteral:
    case K.NoSubstitutionTemplateLiteral:
      return STRING;
    case K.NumericLiteral:
    case K.BigIntLiteral:
      return NUMBER;
    default:
      return kind;
  }
}

/** Whether a `/` after this token starts a regular expression (the scanner alone cannot tell; the parser would). */
function regexMayFollow(prev: ts.SyntaxKind | undefined): boolean {
  if (prev === undefined) return true;
  if (prev === K.CloseParenToken || prev === K.CloseBracketToken || prev === K.CloseBraceToken) return false;
  if (prev === K.ThisKeyword || prev === K.SuperKeyword || prev === K.TrueKeyword || prev === K.FalseKeyword || prev === K.NullKeyword) return false;
  const punctuation = prev >= K.FirstPunctuation && prev <= K.LastPunctuation;
  const keyword = prev >= K.FirstKeyword && prev <= K.LastKeyword;
  return punctuation || keyword;
}

/**
 * TypeScript tokens of `text` without comments and whitespace. Template literals and regular expressions are
 * rescanned as the parser would, so their contents never turn into stray tokens.
 */
export function tokenize(text: string, maxChars = SIMILARITY_DEFAULTS.maxChars, firstLine = 1): Tokens {
  const truncated = text.length > maxChars;
  const source = truncated ? text.slice(0, maxChars) : text;
  const scanner = ts.createScanner(ts.ScriptTarget.Latest, true, ts.LanguageVariant.Standard, source);
  const kinds: number[] = [];
  const lines: number[] = [];
  const open: Array<"brace" | "template"> = []; // what each `}` closes: a block or a template's `${`
  let line = firstLine;
  let counted = 0; // characters scanned for newlines so far
  let prev: ts.SyntaxKind | undefined;
  for (let kind = scanner.scan(); kind !== K.EndOfFileToken; kind = scanner.scan()) {
    if (kind === K.OpenBraceToken) open.push("brace");
    else if (kind === K.TemplateHead) open.push("template");
    else if (kind === K.CloseBraceToken && open.pop() === "template") {
      kind = scanner.reScanTemplateToken(false);
      if (kind === K.TemplateMiddle) open.push("template");
    } else if ((kind === K.SlashToken || kind === K.SlashEqualsToken) && regexMayFollow(prev)) kind = scanner.reScanSlashToken();
    const start = scanner.getTokenStart();
    for (; counted < start; counted++) if (source.charCodeAt(counted) === 10) line++;
    kinds.push(normalKind(kind));
    lines.push(line);
    prev = kind;
  }
  return { kinds, lines, truncated };
}

// ---------------------------------------------------------------------------------------------------------
// Fingerprints

/** A text ready to compare: its tokens' lines, the hash of every k-gram, and the winnowed positions. */
export interface Fingerprinted {
  k: number;
  /** Line of every token. */
  lines: number[];
  /** hashes[i]: the hash of tokens i .. i+k-1. */
  hashes: Uint32Array;
  /** The fingerprints: k-gram positions chosen by winnowing, increasing. */
  picked: number[];
  truncated: boolean;
}

/** MurmurHash3's finalizer: spreads a rolling hash's bits so that "smallest in the window" is a fair choice. */
function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const BASE = 0x01000193; // odd, so multiplying by it mod 2³² loses nothing

/** The hash of every k-gram of `kinds` (Karp–Rabin rolling hash mod 2³², then mixed). */
export function kgramHashes(kinds: number[], k: number): Uint32Array {
  const n = kinds.length - k + 1;
  if (n <= 0) return new Uint32Array(0);
  let top = 1; // BASE^(k-1)
  for (let i = 1; i < k; i++) top = Math.imul(top, BASE);
  let h = 0;
  for (let i = 0; i < k; i++) h = (Math.imul(h, BASE) + kinds[i]) | 0;
  const out = new Uint32Array(n);
  out[0] = mix32(h);
  for (let i = 1; i < n; i++) {
    h = (Math.imul((h - Math.imul(kinds[i - 1], top)) | 0, BASE) + kinds[i + k - 1]) | 0;
    out[i] = mix32(h);
  }
  return out;
}

/**
 * Robust winnowing: the position of the smallest hash in every window of w consecutive hashes, each position
 * once. A text with fewer than w k-grams is one window.
 */
export function winnow(hashes: ArrayLike<number>, w: number): number[] {
  const picked: number[] = [];
  const span = Math.min(w, hashes.length);
  let min = -1;
  for (let end = span - 1; end < hashes.length; end++) {
    const start = end - span + 1;
    if (min < start) {
      // the minimum left the window: find the rightmost smallest of the new window
      min = start;
      for (let i = start + 1; i <= end; i++) if (hashes[i] <= hashes[min]) min = i;
    } else if (hashes[end] < hashes[min]) min = end;
    if (picked[picked.length - 1] !== min) picked.push(min);
  }
  return picked;
}

/** Tokenizes, hashes and winnows a text. `firstLine`: the line number of its first line (a declaration in a file). */
export function fingerprint(text: string, opts: SimilarityOptions = {}, firstLine = 1): Fingerprinted {
  const { k, w, maxChars } = { ...SIMILARITY_DEFAULTS, ...opts };
  const tokens = tokenize(text, maxChars, firstLine);
  const hashes = kgramHashes(tokens.kinds, k);
  return { k, lines: tokens.lines, hashes, picked: winnow(hashes, w), truncated: tokens.truncated };
}

// ---------------------------------------------------------------------------------------------------------
// Comparison

export interface LineRange {
  start: number;
  end: number;
}

/** Lines of A that match lines of B. */
export interface Region {
  a: LineRange;
  b: LineRange;
}

/** What of A is found in B. */
export interface Overlap {
  /** A's fingerprints that count (not ignored). */
  counted: number;
  /** Those whose k-gram occurs in B. */
  matched: number;
  /** The matched positions in A (fingerprint positions), for unions over several Bs. */
  positions: number[];
  /** The matched lines, adjacent matches merged. */
  regions: Region[];
}

const indexCache = new WeakMap<Fingerprinted, Map<number, number[]>>();

/** Every k-gram position of a text by hash (built once per text). */
function kgramIndex(fp: Fingerprinted): Map<number, number[]> {
  let index = indexCache.get(fp);
  if (!index) {
    index = new Map();
    fp.hashes.forEach((h, i) => {
      const at = (index as Map<number, number[]>).get(h);
      if (at) at.push(i);
      else (index as Map<number, number[]>).set(h, [i]);
    });
    indexCache.set(fp, index);
  }
  return index;
}

/** Occurrences in B weighed per fingerprint when aligning: those nearest to where the previous match went. */
const MAX_CANDIDATES = 16;
/** Aligning: how many matched fingerprints on each side vote, and how far (tokens) their diagonals may differ. */
const NEIGHBOURS = 3;
const SLACK = 16;

/** The first index of the sorted `xs` whose value is at least x (xs.length when none). */
function lowerBound(xs: number[], x: number): number {
  let [lo, hi] = [0, xs.length];
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * For each matched fingerprint of A (in order), the occurrence in B it is placed at. A k-gram can occur in
 * several places of B; the one chosen lies on the diagonal (B position − A position) its neighbouring matches
 * agree with most (a copied block keeps one diagonal, up to small edits), ties going to the previous choice's.
 * Bounded: at most MAX_CANDIDATES occurrences are weighed, each vote is a binary search.
 */
function align(pairs: Array<{ i: number; at: number[] }>): number[] {
  const near = (r: number, diagonal: number): boolean => {
    const { i, at } = pairs[r];
    const c = lowerBound(at, i + diagonal - SLACK);
    return c < at.length && at[c] <= i + diagonal + SLACK;
  };
  const chosen: number[] = [];
  let previous = 0;
  pairs.forEach(({ i, at }, q) => {
    const middle = lowerBound(at, i + previous);
    const from = Math.max(0, Math.min(middle - MAX_CANDIDATES / 2, at.length - MAX_CANDIDATES));
    let best = { j: at[from], votes: -1, distance: Infinity };
    for (const j of at.slice(from, from + MAX_CANDIDATES)) {
      const diagonal = j - i;
      let votes = 0;
      for (let r = Math.max(0, q - NEIGHBOURS); r <= Math.min(pairs.length - 1, q + NEIGHBOURS); r++) if (r !== q && near(r, diagonal)) votes++;
      const distance = Math.abs(diagonal - previous);
      if (votes > best.votes || (votes === best.votes && distance < best.distance)) best = { j, votes, distance };
    }
    chosen.push(best.j);
    previous = best.j - i;
  });
  return chosen;
}

const touches = (x: LineRange, y: LineRange): boolean => y.start <= x.end + 1 && y.end >= x.start - 1;
const union = (x: LineRange, y: LineRange): LineRange => ({ start: Math.min(x.start, y.start), end: Math.max(x.end, y.end) });

/** Marks A's tokens that lie in some k-gram whose hash is ignored: what the release gave, not the student. */
function givenTokens(a: Fingerprinted, ignore: ReadonlySet<number>): Uint8Array {
  const given = new Uint8Array(a.lines.length);
  if (ignore.size === 0) return given;
  a.hashes.forEach((h, p) => {
    if (ignore.has(h)) given.fill(1, p, p + a.k);
  });
  return given;
}

/**
 * The first and last token (offsets in the k-gram at i) the student wrote: a k-gram can run on into the
 * scaffolding, whose lines are not the student's. The whole k-gram when every token is also the release's.
 */
function ownSpan(given: Uint8Array, i: number, k: number): [number, number] {
  let [from, to] = [0, k - 1];
  while (from <= to && given[i + from]) from++;
  while (to > from && given[i + to]) to--;
  return from > to ? [0, k - 1] : [from, to];
}

/**
 * A's fingerprints found among B's k-grams, and where. Fingerprints whose hash is in `ignore` (the released
 * scaffolding) do not count. Each match is placed at one occurrence in B (see align), and matches whose
 * lines touch in both texts are merged.
 */
export function overlap(a: Fingerprinted, b: Fingerprinted, ignore: ReadonlySet<number> = new Set()): Overlap {
  const index = kgramIndex(b);
  const counted = a.picked.filter((i) => !ignore.has(a.hashes[i]));
  const pairs = counted.flatMap((i) => {
    const at = index.get(a.hashes[i]);
    return at ? [{ i, at }] : [];
  });
  const placed = align(pairs);
  const given = givenTokens(a, ignore);
  const regions: Region[] = [];
  for (let q = 0; q < pairs.length; q++) {
    const [i, j] = [pairs[q].i, placed[q]];
    const [from, to] = ownSpan(given, i, a.k);
    const region = { a: { start: a.lines[i + from], end: a.lines[i + to] }, b: { start: b.lines[j + from], end: b.lines[j + to] } };
    const last = regions[regions.length - 1];
    if (last && touches(last.a, region.a) && touches(last.b, region.b))
      regions[regions.length - 1] = { a: union(last.a, region.a), b: union(last.b, region.b) };
    else regions.push(region);
  }
  return { counted: counted.length, matched: pairs.length, positions: pairs.map((p) => p.i), regions };
}

/** Two texts compared both ways. */
export interface Comparison {
  /** Share of A's fingerprints found in B (0 when A has none). */
  aInB: number;
  /** Share of B's fingerprints found in A. */
  bInA: number;
  /** A's lines ↔ B's lines that matched (from A's side). */
  regions: Region[];
}

const share = (o: Overlap): number => (o.counted === 0 ? 0 : o.matched / o.counted);

/** Compares two whole texts (no scaffolding to ignore). */
export function compareTexts(a: string, b: string, opts: SimilarityOptions = {}): Comparison {
  const fa = fingerprint(a, opts);
  const fb = fingerprint(b, opts);
  const ab = overlap(fa, fb);
  return { aInB: share(ab), bInA: share(overlap(fb, fa)), regions: ab.regions };
}

const rangeText = (r: LineRange): string => (r.start === r.end ? `${r.start}` : `${r.start}-${r.end}`);
const lineWord = (r: LineRange): string => (r.start === r.end ? "line" : "lines");
const MAX_REGIONS = 6;

/** "lines 3-9 ~ lib/x.ts:40-48; line 12 ~ lib/x.ts:60" for a list of (A region, where in B) pairs. */
function describeRegions(regions: Array<{ a: LineRange; b: string }>): string {
  if (regions.length === 0) return "(no line of its own matched)";
  const shown = regions.slice(0, MAX_REGIONS).map((r) => `${lineWord(r.a)} ${rangeText(r.a)} ~ ${r.b}`);
  if (regions.length > MAX_REGIONS) shown.push(`${regions.length - MAX_REGIONS} more`);
  return shown.join("; ");
}

// ---------------------------------------------------------------------------------------------------------
// The student's code of each exercise

interface ExerciseCode {
  id: string;
  /** "In [k]" in the submission. */
  where: string;
  fp: Fingerprinted;
  /** k-gram hashes of the released cell: what the student did not write. */
  released: Set<number>;
  /** The student's own fingerprints (not in the released cell). */
  own: number;
}

/** An exercise of the source: its grade_id and the k-gram hashes of its released cell. */
interface SourceExercise {
  id: string;
  released: Set<number>;
}

/** The source's exercises (code cells with nbgrader.solution), each with what the release gave of it. */
function sourceExercises(source: Notebook, opts: SimilarityOptions): SourceExercise[] {
  const out: SourceExercise[] = [];
  source.cells.forEach((cell, i) => {
    const id = gradeIdOf(cell);
    if (!id || !isSolution(cell) || cell.cell_type !== "code" || out.some((e) => e.id === id)) return;
    out.push({ id, released: new Set(fingerprint(releasedText(cell, i), opts).hashes) });
  });
  return out;
}

/** The cell as the release gave it to students; a source cell the release refuses gives nothing to subtract. */
function releasedText(cell: Notebook["cells"][number], index: number): string {
  try {
    return cellSource(releaseCell(cell, index));
  } catch {
    return "";
  }
}

/** The exercises as one submission has them (its first code cell with the grade_id), by grade_id; a missing one is left out. */
function exerciseCodes(submission: Notebook, exercises: SourceExercise[], opts: SimilarityOptions): Map<string, ExerciseCode> {
  const out = new Map<string, ExerciseCode>();
  for (const { id, released } of exercises) {
    const at = submission.cells.findIndex((c) => c.cell_type === "code" && gradeIdOf(c) === id);
    if (at < 0) continue;
    const fp = fingerprint(cellSource(submission.cells[at]), opts);
    const own = fp.picked.filter((p) => !released.has(fp.hashes[p])).length;
    out.set(id, { id, where: cellName(submission, at), fp, released, own });
  }
  return out;
}

const cutNote = (code: ExerciseCode, maxChars: number): string => (code.fp.truncated ? ` (only the cell's first ${maxChars} characters were compared)` : "");

// ---------------------------------------------------------------------------------------------------------
// The library

/** A declaration in lib/: a top-level function, class or function-valued const, or a class method. */
export interface LibraryDeclaration {
  name: string;
  /** Relative to the repository root, with forward slashes. */
  file: string;
  startLine: number;
  endLine: number;
  text: string;
}

interface LibraryIndex {
  /** "LoraLayer", "getPeftModel"; ".numParameters" for methods; "qrAdaptor" for a namespace export of lib/index.ts. */
  byName: Map<string, LibraryDeclaration[]>;
  /** Fingerprints made so far, by declaration and options (see declarationFingerprint). */
  fingerprints: Map<string, Fingerprinted>;
}

const libraryCache = new Map<string, LibraryIndex>();

/** Every .ts file under `dir` (declaration files excluded), found with a loop. */
function tsFiles(dir: string): string[] {
  const out: string[] = [];
  const stack = [dir];
  while (stack.length > 0) {
    const d = stack.pop() as string;
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory() && e.name !== "node_modules") stack.push(p);
      else if (e.isFile() && e.name.endsWith(".ts") && !e.name.endsWith(".d.ts")) out.push(p);
    }
  }
  return out.sort();
}

/** The top-level declarations of one parsed file, and its class methods under ".name". */
function declarationsOf(sf: ts.SourceFile, file: string): Array<{ key: string; decl: LibraryDeclaration }> {
  const out: Array<{ key: string; decl: LibraryDeclaration }> = [];
  const add = (key: string, name: string, node: ts.Node) => {
    const start = node.getStart(sf);
    out.push({
      key,
      decl: {
        name,
        file,
        startLine: sf.getLineAndCharacterOfPosition(start).line + 1,
        endLine: sf.getLineAndCharacterOfPosition(node.end).line + 1,
        text: sf.text.slice(start, node.end),
      },
    });
  };
  for (const st of sf.statements) {
    if ((ts.isFunctionDeclaration(st) || ts.isClassDeclaration(st)) && st.name) add(st.name.text, st.name.text, st);
    if (ts.isClassDeclaration(st) && st.name) {
      for (const m of st.members) {
        if ((ts.isMethodDeclaration(m) || ts.isGetAccessorDeclaration(m)) && m.body && (ts.isIdentifier(m.name) || ts.isPrivateIdentifier(m.name)))
          add(`.${m.name.text}`, `${st.name.text}.${m.name.text}`, m);
      }
    }
    if (ts.isVariableStatement(st)) {
      for (const d of st.declarationList.declarations) {
        const init = d.initializer;
        if (ts.isIdentifier(d.name) && init && (ts.isArrowFunction(init) || ts.isFunctionExpression(init))) add(d.name.text, d.name.text, st);
      }
    }
  }
  return out;
}

/** The file a relative module specifier names (`./x` → x.ts or x/index.ts), if it exists. */
function resolveModule(fromFile: string, spec: string): string | undefined {
  if (!spec.startsWith(".")) return undefined;
  const base = path.resolve(path.dirname(fromFile), spec);
  return [`${base}.ts`, path.join(base, "index.ts"), base].find((f) => f.endsWith(".ts") && fs.existsSync(f));
}

/** The files a module and, through `export … from`, its re-exports consist of. */
function moduleFiles(entry: string, parsed: Map<string, ts.SourceFile>): string[] {
  const seen = new Set<string>();
  const stack = [entry];
  while (stack.length > 0) {
    const file = stack.pop() as string;
    const sf = parsed.get(file);
    if (seen.has(file) || !sf) continue;
    seen.add(file);
    for (const st of sf.statements) {
      if (ts.isExportDeclaration(st) && st.moduleSpecifier && ts.isStringLiteral(st.moduleSpecifier)) {
        const target = resolveModule(file, st.moduleSpecifier.text);
        if (target) stack.push(target);
      }
    }
  }
  return [...seen];
}

/**
 * The library's declarations by name (cached per root): every lib/**.ts file is parsed once; the namespace
 * exports of lib/index.ts (`export * as qrAdaptor from …`) name every declaration of their module.
 */
function libraryIndex(root: string): LibraryIndex {
  const key = path.resolve(root);
  const cached = libraryCache.get(key);
  if (cached) return cached;
  const libDir = path.join(key, "lib");
  const parsed = new Map<string, ts.SourceFile>();
  for (const file of tsFiles(libDir))
    parsed.set(file, ts.createSourceFile(file, fs.readFileSync(file, "utf8"), ts.ScriptTarget.Latest, false, ts.ScriptKind.TS));
  const byName = new Map<string, LibraryDeclaration[]>();
  const add = (name: string, decl: LibraryDeclaration) => byName.set(name, [...(byName.get(name) ?? []), decl]);
  const byFile = new Map<string, LibraryDeclaration[]>();
  for (const [file, sf] of parsed) {
    const rel = path.relative(key, file).split(path.sep).join("/");
    const decls = declarationsOf(sf, rel);
    for (const { key: name, decl } of decls) add(name, decl);
    byFile.set(
      file,
      decls.filter((d) => !d.key.startsWith(".")).map((d) => d.decl),
    );
  }
  const entry = path.join(libDir, "index.ts");
  for (const st of parsed.get(entry)?.statements ?? []) {
    if (!ts.isExportDeclaration(st) || !st.exportClause || !ts.isNamespaceExport(st.exportClause) || !st.moduleSpecifier) continue;
    const target = ts.isStringLiteral(st.moduleSpecifier) ? resolveModule(entry, st.moduleSpecifier.text) : undefined;
    if (!target) continue;
    for (const file of moduleFiles(target, parsed)) for (const decl of byFile.get(file) ?? []) add(st.exportClause.name.text, decl);
  }
  const index = { byName, fingerprints: new Map<string, Fingerprinted>() };
  libraryCache.set(key, index);
  return index;
}

/** The library's declarations a reference names ("LoraLayer", ".numParameters", "qrAdaptor"); [] when none. */
export function libraryDeclarations(root: string, reference: string): LibraryDeclaration[] {
  return libraryIndex(root).byName.get(reference) ?? [];
}

/** A declaration's fingerprints, made once per declaration and (k, w, maxChars). */
function declarationFingerprint(index: LibraryIndex, decl: LibraryDeclaration, opts: SimilarityOptions): Fingerprinted {
  const { k, w, maxChars } = { ...SIMILARITY_DEFAULTS, ...opts };
  const key = `${decl.file}:${decl.startLine}:${k}:${w}:${maxChars}`;
  let fp = index.fingerprints.get(key);
  if (!fp) {
    fp = fingerprint(decl.text, opts, decl.startLine);
    index.fingerprints.set(key, fp);
  }
  return fp;
}

/**
 * The student's code of one exercise against every declaration one reference names. A reference can name
 * many (a namespace such as qrAdaptor), and generic bits (a loop header) occur in several: the declarations
 * are taken most-matched first, and one more is counted only when it matches at least minMatched / 2 of the
 * student's fingerprints that those before it did not. The score is the share of the student's fingerprints
 * the counted declarations match together.
 */
function libraryFinding(code: ExerciseCode, reference: string, index: LibraryIndex, opts: SimilarityOptions): SimilarityFinding | undefined {
  const o = { ...SIMILARITY_DEFAULTS, ...opts };
  const overlaps = (index.byName.get(reference) ?? [])
    .map((decl) => ({ decl, ov: overlap(code.fp, declarationFingerprint(index, decl, opts), code.released) }))
    .filter((m) => m.ov.matched > 0)
    .sort((x, y) => y.ov.matched - x.ov.matched);
  const matched = new Set<number>();
  const regions: Array<{ a: LineRange; b: string }> = [];
  const sources: string[] = [];
  for (const { decl, ov } of overlaps) {
    const fresh = ov.positions.filter((p) => !matched.has(p)).length;
    if (matched.size > 0 && fresh < o.minMatched / 2) continue;
    ov.positions.forEach((p) => matched.add(p));
    regions.push(...ov.regions.map((r) => ({ a: r.a, b: `${decl.file}:${rangeText(r.b)}` })));
    sources.push(`${decl.name} at ${decl.file}:${decl.startLine}`);
  }
  const score = code.own === 0 ? 0 : matched.size / code.own;
  if (matched.size < o.minMatched || score < o.threshold) return undefined;
  regions.sort((x, y) => x.a.start - y.a.start);
  const other = sources.length === 1 && sources[0].startsWith(`${reference} at`) ? sources[0] : `${reference} (${sources.join(", ")})`;
  return { exercise: code.id, kind: "library", other, score, lines: `${code.where} ${describeRegions(regions)}${cutNote(code, o.maxChars)}` };
}

/**
 * Each exercise's student code in `submission` against the library implementations of the references the
 * exercise declares in `source` (the instructor's notebook, so a student cannot remove them). `root`: the
 * repository root (the one holding lib/). One finding per reference whose implementation the code matches.
 */
export function libraryFindings(submission: Notebook, source: Notebook, root: string, opts: SimilarityOptions = {}): SimilarityFinding[] {
  const references = exerciseReferences(source);
  if (references.size === 0) return [];
  const index = libraryIndex(root);
  const codes = exerciseCodes(submission, sourceExercises(source, opts), opts);
  const out: SimilarityFinding[] = [];
  for (const [id, refs] of references) {
    const code = codes.get(id);
    if (!code || code.own === 0) continue;
    for (const ref of refs) {
      const finding = libraryFinding(code, ref, index, opts);
      if (finding) out.push(finding);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// A batch of submissions

/** One direction of a pair: A's share found in B, its matched count and A's lines ~ B's lines. */
function pairSide(a: ExerciseCode, b: ExerciseCode, bPath: string): { score: number; matched: number; lines: string } {
  const ov = overlap(a.fp, b.fp, a.released);
  const lines = describeRegions(ov.regions.map((r) => ({ a: r.a, b: `${bPath} ${b.where} ${lineWord(r.b)} ${rangeText(r.b)}` })));
  return { score: share(ov), matched: ov.matched, lines: `${a.where} ${lines}` };
}

/**
 * Every pair of submissions in a batch, exercise by exercise (all the source's exercises). A pair is flagged
 * when the larger of the two shares — A's own fingerprints found in B, B's found in A — reaches the
 * threshold with at least minMatched fingerprints behind it; both submissions get the finding, each naming
 * the other and its own lines. Every submission's path is a key of the result (an empty list: nothing found).
 * Work: n(n−1)/2 comparisons per exercise, each linear in the two cells' sizes.
 */
export function batchFindings(
  subs: Array<{ path: string; notebook: Notebook }>,
  source: Notebook,
  opts: SimilarityOptions = {},
): Map<string, SimilarityFinding[]> {
  const o = { ...SIMILARITY_DEFAULTS, ...opts };
  const out = new Map<string, SimilarityFinding[]>(subs.map((s) => [s.path, []]));
  const exercises = sourceExercises(source, opts);
  const codes = subs.map((s) => exerciseCodes(s.notebook, exercises, opts));
  for (let x = 0; x < subs.length; x++) {
    for (let y = x + 1; y < subs.length; y++) {
      for (const [id, a] of codes[x]) {
        const b = codes[y].get(id);
        if (!b || a.own === 0 || b.own === 0) continue;
        const ab = pairSide(a, b, subs[y].path);
        const ba = pairSide(b, a, subs[x].path);
        const best = ab.score >= ba.score ? ab : ba;
        if (best.score < o.threshold || best.matched < o.minMatched) continue;
        const finding = (self: ExerciseCode, other: string, side: typeof ab): SimilarityFinding => ({
          exercise: id,
          kind: "submission",
          other,
          score: best.score,
          lines: `${side.lines}${cutNote(self, o.maxChars)}`,
        });
        out.get(subs[x].path)?.push(finding(a, subs[y].path, ab));
        out.get(subs[y].path)?.push(finding(b, subs[x].path, ba));
      }
    }
  }
  return out;
}
