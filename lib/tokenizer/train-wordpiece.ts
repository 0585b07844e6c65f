/**
 * Learning a WordPiece vocabulary from text, the way Hugging Face's `WordPieceTrainer` does it.
 *
 * Despite the name, Hugging Face's WordPiece trainer is BPE (byte-pair encoding) with a continuing-subword
 * prefix: it does *not* use the likelihood-based scoring of the original WordPiece paper. This module
 * mirrors that trainer (tokenizers/src/models/bpe/trainer.rs, wrapped by models/wordpiece/trainer.rs):
 *
 * 1. **Words.** Normalize and pre-tokenize every text with the BERT basic tokenizer; count each word.
 * 2. **Special tokens** get the first ids: [PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4 by default.
 * 3. **Alphabet.** Every character seen, sorted by code point (optionally only the `limitAlphabet` most
 *    frequent ones; characters left out are dropped from the words). Then the continuation forms `##c`
 *    of every character that occurs inside a word.
 * 4. **Split words into characters**: the first as is, the others with `##`: `low` → `l ##o ##w`.
 * 5. **Merge.** Repeatedly take the adjacent pair that occurs most often in the corpus (each word counted
 *    as often as it occurs), add the merged token to the vocabulary, and merge it everywhere. The merged
 *    token keeps `##` only if its *left* part had it: `l + ##o → lo`, `##o + ##w → ##ow`. Stop when the
 *    vocabulary has `vocabSize` tokens, no pair is left, or the best pair occurs less than `minFrequency`
 *    times.
 *
 * Worked example, corpus `low low low lower newest widest` (alphabet `d e i l n o r s t w`, then
 * `##d ##e ##i ##o ##r ##s ##t ##w`): pair counts are `l ##o`: 4, `##o ##w`: 4, `##e ##s`: 2, `##s ##t`: 2,
 * ... The tie between the two 4s goes to the pair with the smaller ids, `l ##o` (id of `l` < id of `##o`),
 * so the first new token is `lo`; then `lo ##w` (4) → `low`; then `##e ##s` (2) → `##es`, and so on.
 *
 * Like the reference, the merge loop keeps a priority queue of pairs and *incremental* pair counts: a merge
 * only touches the words that contain the pair and adjusts the counts of the neighbouring pairs, so
 * training on millions of words takes seconds. Queue entries go stale when counts change; a popped entry
 * whose count is out of date is put back with the current count, exactly as in the reference.
 *
 * Two places where the reference is not deterministic, and what we do instead:
 * - It numbers the `##c` tokens in hash-map order, which differs from run to run, so ties between pairs
 *   that start with different `##` tokens can go either way (two runs of Hugging Face on the same corpus
 *   can give different vocabularies). We number them by code point, like the plain alphabet.
 * - With `limitAlphabet`, it drops the rarest characters with an unstable sort; we break count ties by
 *   dropping the higher code point first.
 */
import { BasicTokenizer, BertNormalizerOptions } from "./basic";

/** Options of {@link trainWordPiece}. */
export interface TrainWordPieceOptions {
  /** Size of the vocabulary to learn, special tokens included. Default 30000. */
  vocabSize?: number;
  /** Stop when the best pair occurs fewer times than this. Default 0. */
  minFrequency?: number;
  /** Lowercase (and, unless `stripAccents` says otherwise, strip accents). Default true. */
  lowercase?: boolean;
  /** Default: same as `lowercase`. */
  stripAccents?: boolean | null;
  /** Default true. */
  handleChineseChars?: boolean;
  /** Tokens placed first, in this order. Default ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]. */
  specialTokens?: readonly string[];
  /** Keep only this many (most frequent) characters in the alphabet. Default: no limit. */
  limitAlphabet?: number;
  /** Characters always in the alphabet, even if unseen. Default none. */
  initialAlphabet?: readonly string[];
  /** Default "##". */
  continuingSubwordPrefix?: string;
  /**
   * The order in which to number the `##c` forms, as characters (default: by code point; characters not
   * listed follow, by code point). Only needed to replay one particular run of the reference trainer, which
   * numbers them in hash-map order.
   */
  continuationOrder?: readonly string[];
}

export const DEFAULT_SPECIAL_TOKENS: readonly string[] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

/** Word counts of a corpus after BERT normalization and pre-tokenization, in first-seen order. */
export function countWords(texts: Iterable<string>, options: BertNormalizerOptions = {}): Map<string, number> {
  const basic = new BasicTokenizer(options);
  const counts = new Map<string, number>();
  for (const text of texts) {
    for (const word of basic.tokenize(text)) counts.set(word, (counts.get(word) ?? 0) + 1);
  }
  return counts;
}

/** Learn a WordPiece vocabulary from texts. Returns the tokens in id order. See the module comment. */
export function trainWordPiece(texts: Iterable<string>, options: TrainWordPieceOptions = {}): string[] {
  const counts = countWords(texts, {
    lowercase: options.lowercase ?? true,
    stripAccents: options.stripAccents,
    handleChineseChars: options.handleChineseChars,
  });
  return trainWordPieceFromCounts(counts, options);
}

// ---------------------------------------------------------------------------------------------------------
// The merge loop
// ---------------------------------------------------------------------------------------------------------

/** Pairs of token ids are packed into one number (both ids are far below 2^32). */
const TWO_32 = 4294967296;
const pairKey = (a: number, b: number) => a * TWO_32 + b;

/** A candidate merge in the priority queue: a pair, its count when queued, the words it was seen in. */
interface Merge {
  a: number;
  b: number;
  key: number;
  count: number;
  pos: number[];
}

/** Queue order: higher count first; on equal counts the smaller pair (a, then b) first. */
const before = (x: Merge, y: Merge) => x.count > y.count || (x.count === y.count && (x.a < y.a || (x.a === y.a && x.b < y.b)));

/** A binary max-heap of merges under {@link before}. */
class MergeQueue {
  private readonly items: Merge[] = [];

  get size(): number {
    return this.items.length;
  }

  push(m: Merge): void {
    const h = this.items;
    h.push(m);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(h[i], h[parent])) break;
      [h[i], h[parent]] = [h[parent], h[i]];
      i = parent;
    }
  }

  pop(): Merge | undefined {
    const h = this.items;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last !== undefined) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let best = i;
        if (l < h.length && before(h[l], h[best])) best = l;
        if (r < h.length && before(h[r], h[best])) best = r;
        if (best === i) break;
        [h[i], h[best]] = [h[best], h[i]];
        i = best;
      }
    }
    return top;
  }
}

/**
 * Learn a WordPiece vocabulary from word counts (as {@link countWords} returns them). The words are used as
 * given: no normalization happens here.
 */
export function trainWordPieceFromCounts(wordCounts: ReadonlyMap<string, number>, options: TrainWordPieceOptions = {}): string[] {
  const vocabSize = options.vocabSize ?? 30000;
  const minFrequency = options.minFrequency ?? 0;
  const prefix = options.continuingSubwordPrefix ?? "##";
  const idToWord: string[] = [];
  const wordToId = new Map<string, number>();
  const add = (token: string): number => {
    let id = wordToId.get(token);
    if (id === undefined) {
      id = idToWord.length;
      idToWord.push(token);
      wordToId.set(token, id);
    }
    return id;
  };

  // 1. Special tokens.
  for (const t of options.specialTokens ?? DEFAULT_SPECIAL_TOKENS) add(t);

  // 2. The alphabet: characters by frequency, optionally limited, then sorted by code point.
  const alphabet = new Map<string, number>();
  for (const [word, count] of wordCounts) for (const ch of word) alphabet.set(ch, (alphabet.get(ch) ?? 0) + count);
  for (const ch of options.initialAlphabet ?? []) alphabet.set(ch, Infinity);
  const cp = (ch: string) => ch.codePointAt(0) as number;
  let kept = [...alphabet.entries()];
  const toRemove = options.limitAlphabet === undefined ? 0 : Math.max(0, kept.length - options.limitAlphabet);
  if (toRemove > 0) {
    kept.sort(([c1, n1], [c2, n2]) => n1 - n2 || cp(c2) - cp(c1));
    kept = kept.slice(toRemove);
  }
  kept.sort(([c1], [c2]) => cp(c1) - cp(c2));
  for (const [ch] of kept) add(ch);

  // 3. The continuation forms of characters seen inside words, by code point (see the module comment).
  const inner = new Set<string>();
  for (const word of wordCounts.keys()) {
    let first = true;
    for (const ch of word) {
      if (!first && wordToId.has(ch)) inner.add(ch);
      first = false;
    }
  }
  for (const ch of options.continuationOrder ?? []) if (inner.has(ch)) add(prefix + ch);
  for (const ch of [...inner].sort((x, y) => cp(x) - cp(y))) add(prefix + ch);

  // 4. Words as sequences of ids; characters outside the alphabet are dropped.
  const words: number[][] = [];
  const counts: number[] = [];
  for (const [word, count] of wordCounts) {
    const ids: number[] = [];
    let first = true;
    for (const ch of word) {
      if (wordToId.has(ch)) ids.push(wordToId.get(first ? ch : prefix + ch) as number);
      first = false;
    }
    words.push(ids);
    counts.push(count);
  }

  // 5. Pair counts, and for each pair the words it occurs in.
  const pairCounts = new Map<number, number>();
  let whereToUpdate = new Map<number, Set<number>>();
  const note = (key: number, w: number) => {
    let set = whereToUpdate.get(key);
    if (set === undefined) whereToUpdate.set(key, (set = new Set()));
    set.add(w);
  };
  words.forEach((ids, w) => {
    for (let i = 0; i + 1 < ids.length; i++) {
      const key = pairKey(ids[i], ids[i + 1]);
      pairCounts.set(key, (pairCounts.get(key) ?? 0) + counts[w]);
      note(key, w);
    }
  });
  const queue = new MergeQueue();
  const flush = () => {
    for (const [key, pos] of whereToUpdate) {
      const count = pairCounts.get(key) as number;
      if (count > 0) queue.push({ a: Math.floor(key / TWO_32), b: key % TWO_32, key, count, pos: [...pos] });
    }
    whereToUpdate = new Map();
  };
  flush();

  // 6. Merge until the vocabulary is full.
  for (;;) {
    if (wordToId.size >= vocabSize) break;
    const top = queue.pop();
    if (top === undefined) break;
    const current = pairCounts.get(top.key) as number;
    if (top.count !== current) {
      top.count = current;
      queue.push(top);
      continue;
    }
    if (top.count < 1 || minFrequency > top.count) break;

    const right = idToWord[top.b];
    const newId = add(idToWord[top.a] + (right.startsWith(prefix) ? right.slice(prefix.length) : right));

    for (const w of top.pos) {
      const sym = words[w];
      const out: number[] = [];
      const change = (a: number, b: number, delta: number) => {
        const key = pairKey(a, b);
        pairCounts.set(key, (pairCounts.get(key) ?? 0) + delta * counts[w]);
        if (delta > 0) note(key, w);
      };
      for (let i = 0; i < sym.length; i++) {
        if (sym[i] === top.a && i + 1 < sym.length && sym[i + 1] === top.b) {
          if (out.length > 0) {
            const prev = out[out.length - 1];
            change(prev, top.a, -1);
            change(prev, newId, +1);
          }
          if (i + 2 < sym.length) {
            change(top.b, sym[i + 2], -1);
            change(newId, sym[i + 2], +1);
          }
          out.push(newId);
          i += 1;
        } else {
          out.push(sym[i]);
        }
      }
      words[w] = out;
    }
    flush();
  }
  return idToWord;
}
