/**
 * A classification task ready for training: the dataset's splits tokenised with a model's tokenizer.
 * Sequence lengths suit the shipped model: e-mails are cut to 64 tokens, WordNet definitions to 48.
 */
import { DatasetName, labelNames, loadSplit, Split, SPLITS } from "./datasets";
import type { EncodedExample } from "../train/batching";
import type { BertTokenizer } from "../tokenizer/bert-tokenizer";

export const DEFAULT_MAX_LENGTH: Record<DatasetName, number> = { spam: 64, wordnet: 48 };

export interface Task {
  name: DatasetName;
  labels: string[];
  maxLength: number;
  splits: Record<Split, EncodedExample[]>;
}

export function encodeTexts(tokenizer: BertTokenizer, texts: string[], labels: Int32Array | number[], maxLength: number): EncodedExample[] {
  return texts.map((t, i) => ({ ids: tokenizer.encode(t, { maxLength, truncation: true }).inputIds, label: labels[i] }));
}

/** Loads and tokenises every split; `limit` caps each split (quick runs, tests). */
export function loadTask(name: DatasetName, tokenizer: BertTokenizer, opts: { maxLength?: number; limit?: number } = {}): Task {
  const labels = labelNames(name);
  const index = new Map(labels.map((l, i) => [l, i]));
  const maxLength = opts.maxLength ?? DEFAULT_MAX_LENGTH[name];
  const splits = {} as Record<Split, EncodedExample[]>;
  for (const split of SPLITS) {
    const rows = loadSplit(name, split, { limit: opts.limit });
    splits[split] = encodeTexts(
      tokenizer,
      rows.map((r) => r.text),
      rows.map((r) => index.get(r.label) as number),
      maxLength,
    );
  }
  return { name, labels, maxLength, splits };
}
