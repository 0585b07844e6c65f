/**
 * The real datasets of the course kit, read from `datasets/<name>/<split>.jsonl`.
 *
 * - `spam`:    SpamAssassin mails, label `ham` or `spam` (extra field `source`).
 * - `wordnet`: WordNet 3.1 definitions, label = lexicographer file such as
 *              `noun.animal` (extra field `lemma`).
 *
 * The files are produced by `npm run prepare-data` (scripts/prepare-datasets.ts)
 * and committed to the repository; see datasets/README.md for their provenance.
 * This module only needs node:fs and node:path, so importing it is instant.
 */
import * as fs from "node:fs";
import * as path from "node:path";

/** The pretrained checkpoint the kit ships, relative to the repository root. */
export const SHIPPED_CHECKPOINT_DIR = "datasets/checkpoints/bert-tiny-peft";

/** The datasets shipped with the kit. */
export type DatasetName = "spam" | "wordnet";

/** The fixed splits of every dataset. */
export type Split = "train" | "validation" | "test";

/** All dataset names, in a fixed order. */
export const DATASET_NAMES: readonly DatasetName[] = ["spam", "wordnet"];

/** All split names, in a fixed order. */
export const SPLITS: readonly Split[] = ["train", "validation", "test"];

/** One labelled text. */
export interface Example {
  text: string;
  label: string;
  /** spam only: the corpus folder the mail comes from (e.g. `easy-ham-1`, `spam-2`). */
  source?: string;
  /** wordnet only: the first word of the synset whose definition `text` is. */
  lemma?: string;
}

/** Options shared by the loaders. */
export interface LoadOptions {
  /** Read at most this many examples (from the start of each file). */
  limit?: number;
  /** Folder holding `<name>/<split>.jsonl`; overrides `COURSEKIT_DATASETS`. */
  root?: string;
}

const REGENERATE = "Regenerate the datasets with `npm run prepare-data`.";

/**
 * The datasets folder: `root` if given, else the environment variable
 * `COURSEKIT_DATASETS`, else the repository's own `datasets/` folder.
 */
export function datasetsRoot(root?: string): string {
  return path.resolve(root ?? process.env.COURSEKIT_DATASETS ?? path.resolve(__dirname, "../../datasets"));
}

/** Read a file of the datasets folder, with a helpful error if it is missing. */
function readDatasetFile(file: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === "ENOENT" ? "file not found" : String(err);
    throw new Error(`Cannot read dataset file ${file}: ${reason}. ${REGENERATE}`, { cause: err });
  }
}

/** Check one parsed JSON line and keep only the known fields. */
function toExample(value: unknown): Example | string {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "expected a JSON object";
  const record = value as Record<string, unknown>;
  if (typeof record.text !== "string") return 'field "text" must be a string';
  if (typeof record.label !== "string" || record.label === "") return 'field "label" must be a non-empty string';
  const example: Example = { text: record.text, label: record.label };
  if (typeof record.source === "string") example.source = record.source;
  if (typeof record.lemma === "string") example.lemma = record.lemma;
  return example;
}

/**
 * Load one split of a dataset, in file order (the files are already shuffled).
 * Throws an Error naming the file and line when the file is missing or a
 * line is not a valid `{"text": ..., "label": ...}` record.
 */
export function loadSplit(name: DatasetName, split: Split, opts: LoadOptions = {}): Example[] {
  const file = path.join(datasetsRoot(opts.root), name, `${split}.jsonl`);
  const lines = readDatasetFile(file).split("\n");
  const limit = opts.limit ?? Infinity;
  const examples: Example[] = [];
  for (let i = 0; i < lines.length && examples.length < limit; i++) {
    const line = lines[i];
    if (line.trim() === "") continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch (err) {
      throw new Error(`Malformed line in ${file}:${i + 1}: ${(err as Error).message}. ${REGENERATE}`, { cause: err });
    }
    const example = toExample(parsed);
    if (typeof example === "string") throw new Error(`Malformed line in ${file}:${i + 1}: ${example}. ${REGENERATE}`);
    examples.push(example);
  }
  return examples;
}

/** The ordered label list of a dataset: `labelNames(name)[id]` is the label of class `id`. */
export function labelNames(name: DatasetName, opts: Pick<LoadOptions, "root"> = {}): string[] {
  const file = path.join(datasetsRoot(opts.root), name, "labels.json");
  const content = readDatasetFile(file);
  let names: unknown;
  try {
    names = JSON.parse(content);
  } catch (err) {
    throw new Error(`Malformed ${file}: ${(err as Error).message}. ${REGENERATE}`, { cause: err });
  }
  if (!Array.isArray(names) || !names.every((n): n is string => typeof n === "string")) {
    throw new Error(`Malformed ${file}: expected an array of strings. ${REGENERATE}`);
  }
  return names;
}

/** Class ids of the examples' labels (index into `names`); unknown labels throw. */
export function labelIds(examples: readonly Example[], names: readonly string[]): Int32Array {
  const index = new Map(names.map((n, i) => [n, i] as const));
  const ids = new Int32Array(examples.length);
  examples.forEach((ex, i) => {
    const id = index.get(ex.label);
    if (id === undefined) throw new Error(`Unknown label "${ex.label}" (example ${i}); known: ${names.join(", ")}`);
    ids[i] = id;
  });
  return ids;
}

/** Options of {@link loadTextCorpus}. */
export interface CorpusOptions extends LoadOptions {
  /** Datasets to draw from (default: both). */
  names?: readonly DatasetName[];
  /** Splits to draw from (default: `["train"]`, so evaluation texts stay unseen). */
  splits?: readonly Split[];
}

/**
 * Plain texts of the given splits of the given datasets, e.g. for
 * masked-language-model pre-training. `limit` applies to each file.
 */
export function loadTextCorpus(opts: CorpusOptions = {}): string[] {
  const texts: string[] = [];
  for (const name of opts.names ?? DATASET_NAMES) {
    for (const split of opts.splits ?? ["train"]) {
      for (const ex of loadSplit(name, split, opts)) texts.push(ex.text);
    }
  }
  return texts;
}
