/**
 * The WordPiece model: how BERT cuts one word into vocabulary pieces.
 *
 * Greedy longest-match-first, left to right. Take the longest prefix of the word that is in the vocabulary;
 * then, from where it ended, the longest piece that is in the vocabulary *with the continuation prefix*
 * `##` in front; and so on until the word is used up:
 *
 * ```
 *   vocabulary: un  ##aff  ##able  ##a  ##ff          "unaffable" → un ##aff ##able
 * ```
 *
 * If at some point no piece matches, the *whole word* becomes `[UNK]` (not just the rest of it), and so does
 * any word longer than `maxInputCharsPerWord` (100) characters. Lengths and cut points are in Unicode code
 * points, as in the reference implementations (Hugging Face `tokenizers`' `WordPiece` and transformers'
 * `WordpieceTokenizer`), so an emoji outside the Basic Multilingual Plane counts as one character.
 */

/** Options of the WordPiece model; the names and defaults of Hugging Face's `WordPiece`. */
export interface WordPieceOptions {
  /** Token for a word that cannot be segmented. Default "[UNK]". */
  unkToken?: string;
  /** Prefix marking a piece that continues a word. Default "##". */
  continuingSubwordPrefix?: string;
  /** Longer words (in code points) become the unknown token. Default 100. */
  maxInputCharsPerWord?: number;
}

/** Greedy longest-match-first WordPiece segmentation over a fixed vocabulary. */
export class WordPiece {
  readonly unkToken: string;
  readonly continuingSubwordPrefix: string;
  readonly maxInputCharsPerWord: number;
  private readonly vocab: ReadonlySet<string> | ReadonlyMap<string, number>;

  /** @param vocab the vocabulary, as a set of tokens or a token → id map. */
  constructor(vocab: ReadonlySet<string> | ReadonlyMap<string, number>, options: WordPieceOptions = {}) {
    this.vocab = vocab;
    this.unkToken = options.unkToken ?? "[UNK]";
    this.continuingSubwordPrefix = options.continuingSubwordPrefix ?? "##";
    this.maxInputCharsPerWord = options.maxInputCharsPerWord ?? 100;
  }

  /** The pieces of one word (a word from the pre-tokenizer: no spaces, no punctuation inside). */
  tokenizeWord(word: string): string[] {
    // bounds[i] = UTF-16 offset of the i-th code point; bounds[n] = word.length.
    const bounds: number[] = [];
    for (let i = 0; i < word.length;) {
      bounds.push(i);
      const cp = word.codePointAt(i) as number;
      i += cp > 0xffff ? 2 : 1;
    }
    const n = bounds.length;
    bounds.push(word.length);
    if (n > this.maxInputCharsPerWord) return [this.unk()];

    const pieces: string[] = [];
    let start = 0;
    while (start < n) {
      let end = n;
      let found: string | undefined;
      while (start < end) {
        let piece = word.slice(bounds[start], bounds[end]);
        if (start > 0) piece = this.continuingSubwordPrefix + piece;
        if (this.vocab.has(piece)) {
          found = piece;
          break;
        }
        end -= 1;
      }
      if (found === undefined) return [this.unk()];
      pieces.push(found);
      start = end;
    }
    return pieces;
  }

  /** The pieces of a sequence of words, concatenated. */
  tokenize(words: readonly string[]): string[] {
    const out: string[] = [];
    for (const w of words) for (const p of this.tokenizeWord(w)) out.push(p);
    return out;
  }

  private unk(): string {
    if (!this.vocab.has(this.unkToken)) {
      throw new Error(`WordPiece: a word needs the unknown token "${this.unkToken}", which is not in the vocabulary`);
    }
    return this.unkToken;
  }
}
