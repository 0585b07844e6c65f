/**
 * The BERT tokenizer: text → token ids for the model, and back.
 *
 * ```
 *   "Café? Déjà vu!"
 *     │  split off special tokens written in the text ("[MASK]" stays one token)
 *     │  normalize + pre-tokenize (basic.ts)        → cafe ? deja vu !
 *     │  WordPiece (wordpiece.ts)                   → cafe ? de ##ja vu !
 *     │  template: [CLS] A [SEP]  /  [CLS] A [SEP] B [SEP]
 *     ▼  ids, attention mask, token type ids (0 for A and its specials, 1 for B and its [SEP])
 *   [CLS] cafe ? de ##ja vu ! [SEP] [PAD] [PAD] ...
 * ```
 *
 * It reproduces Hugging Face's `BertTokenizerFast` (the `tokenizers` library with a BERT `tokenizer.json`):
 * same tokens, same ids, same truncation of pairs, same decoding. The tests check this against fixtures
 * written by the official `tokenizers` package (scripts/fixtures/make-tokenizer-fixtures.js).
 *
 * It reads the three ways a BERT tokenizer is shipped — a bare `vocab.txt`, a `tokenizer.json`, or a
 * folder saved by transformers (the file formats are in files.ts) — and {@link BertTokenizer.save} writes a
 * folder that both transformers (`BertTokenizer` / `BertTokenizerFast.from_pretrained`) and `tokenizers`
 * (`Tokenizer.from_file`) load.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { BasicTokenizer, BertNormalizerOptions } from "./basic";
import { WordPiece } from "./wordpiece";
import {
  BertTokenizerOptions,
  defined,
  optionsFromConfigFiles,
  readTokenizerJson,
  readVocabFile,
  SavableTokenizer,
  tokenizerJsonOf,
  TokenizerJson,
  writeTokenizerFolder,
} from "./files";

export type { AddedTokenJson, BertTokenizerOptions, TemplatePieceJson, TokenizerJson } from "./files";

/** Options of {@link BertTokenizer.encode}. */
export interface EncodeOptions {
  /** Second sequence of a pair (sentence B): `[CLS] A [SEP] B [SEP]`, token type 1 for B. */
  pair?: string;
  /** Length limit for truncation and `padding: "max_length"`, special tokens included. Default: modelMaxLength. */
  maxLength?: number;
  /** Cut to `maxLength` (longest-first for pairs, as Hugging Face). Default: true iff `maxLength` is given. */
  truncation?: boolean;
  /** "max_length" pads with [PAD] (attention 0) up to `maxLength`. Default "none". */
  padding?: "max_length" | "none";
  /** Add [CLS]/[SEP]. Default true. */
  addSpecialTokens?: boolean;
}

/** One encoded input, as the model's three inputs. */
export interface Encoding {
  inputIds: number[];
  attentionMask: number[];
  tokenTypeIds: number[];
}

/** Options of {@link BertTokenizer.encodeBatch}. */
export interface BatchEncodeOptions {
  /** Second sequences, one per text. */
  pairs?: readonly string[];
  /** Truncate to this length and pad every row to it. Default: truncate to modelMaxLength, pad to the longest row. */
  maxLength?: number;
  /** Default true. */
  truncation?: boolean;
  /** Default "max_length" when `maxLength` is given, else "longest". */
  padding?: "max_length" | "longest";
}

/** A padded batch, flat row-major, ready for `tf.tensor2d(inputIds, shape, "int32")`. */
export interface BatchEncoding {
  inputIds: Int32Array;
  attentionMask: Int32Array;
  tokenTypeIds: Int32Array;
  /** [batch, sequence length]. */
  shape: [number, number];
}

/** Options of {@link BertTokenizer.decode}. */
export interface DecodeOptions {
  /** Leave out [CLS], [SEP], [PAD], [UNK], [MASK]. Default false. */
  skipSpecialTokens?: boolean;
  /**
   * Apply transformers' `clean_up_tokenization` to the whole string afterwards, as `tokenizer.decode` in
   * transformers does for BERT (`clean_up_tokenization_spaces=True`), e.g. "don ' t" → "don't". Default
   * false: the result of the `tokenizers` decoder alone.
   */
  cleanUpTokenizationSpaces?: boolean;
}

/**
 * How many tokens of sequences A and B (lengths `n1`, `n2`; `n2` undefined for a single sequence) survive
 * truncation to `maxLength` tokens when `numSpecial` special tokens will be added. This is Hugging Face's
 * "longest_first" as `tokenizers@0.23.2` does it (checked against it for every n1, n2 ≤ 25 and
 * maxLength ≤ 16):
 *
 * - a single sequence keeps its first `maxLength - numSpecial` tokens;
 * - for a pair, with budget = maxLength − numSpecial: if the shorter sequence fits in half the budget it
 *   stays whole and the longer one gets the rest; otherwise each gets half, and an odd budget's extra token
 *   goes to the longer sequence (to B on equal lengths). Lengths are compared after clipping each sequence
 *   to `maxLength`, which decides who is "longer" when both exceed it: then it is B.
 *
 * transformers' Python tokenizers do it differently (one token at a time from the longer sequence, ties
 * from B), so the odd token can land on the other side; we follow `tokenizers`, which BertTokenizerFast uses.
 */
export function truncatedLengths(n1: number, n2: number | undefined, maxLength: number, numSpecial = 0): [number, number] {
  const budget = maxLength - numSpecial;
  if (budget < 0) throw new Error(`truncation: maxLength ${maxLength} leaves no room for ${numSpecial} special tokens`);
  if (n2 === undefined) return [Math.min(n1, budget), 0];
  if (n1 + n2 <= budget) return [n1, n2];
  // tokenizers/src/utils/truncation.rs, after clipping both to maxLength.
  const a = Math.min(n1, maxLength);
  const b = Math.min(n2, maxLength);
  const swap = a > b;
  let short = swap ? b : a;
  let long = short > budget ? short : Math.max(short, budget - short);
  if (short + long > budget) {
    short = Math.floor(budget / 2);
    long = short + (budget % 2);
  }
  return swap ? [long, short] : [short, long];
}

/** transformers' `clean_up_tokenization` replacements (" ." → "." and the like), applied in this order. */
const CLEANUPS: ReadonlyArray<[string, string]> = [
  [" .", "."],
  [" ?", "?"],
  [" !", "!"],
  [" ,", ","],
  [" ' ", "'"],
  [" n't", "n't"],
  [" 'm", "'m"],
  [" 's", "'s"],
  [" 've", "'ve"],
  [" 're", "'re"],
];

/** The WordPiece decoder's per-token clean-up (tokenizers/src/decoders/wordpiece.rs): the same list plus " do not". */
const TOKEN_CLEANUPS: ReadonlyArray<[string, string]> = [...CLEANUPS.slice(0, 7), [" do not", " don't"], ...CLEANUPS.slice(7)];

function applyCleanups(s: string, rules: ReadonlyArray<[string, string]>): string {
  return rules.reduce((text, [from, to]) => text.split(from).join(to), s);
}

function cleanupToken(s: string): string {
  return applyCleanups(s, TOKEN_CLEANUPS);
}

/** transformers' `PreTrainedTokenizerBase.clean_up_tokenization`, applied to a whole decoded string. */
function cleanUpTokenization(s: string): string {
  return applyCleanups(s, CLEANUPS);
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** A WordPiece BERT tokenizer. See the module comment. */
export class BertTokenizer implements SavableTokenizer {
  /** Token of each id. */
  readonly vocab: readonly string[];
  readonly unkToken: string;
  readonly padToken: string;
  readonly clsToken: string;
  readonly sepToken: string;
  readonly maskToken: string;
  readonly padId: number;
  readonly unkId: number;
  readonly clsId: number;
  readonly sepId: number;
  readonly maskId: number;
  readonly modelMaxLength: number;
  /** The normalizer settings as given (`stripAccents: null` = follows `lowercase`). */
  readonly normalizerOptions: Required<Omit<BertNormalizerOptions, "stripAccents">> & { stripAccents: boolean | null };
  readonly basic: BasicTokenizer;
  readonly wordPiece: WordPiece;
  readonly decoderCleanup: boolean;

  private readonly ids: Map<string, number>;
  private readonly specialIds: Set<number>;
  private readonly specialRe: RegExp;

  /**
   * @param vocab the tokens, in id order (line i of vocab.txt has id i). A repeated token keeps its last id,
   *   as in both reference loaders.
   */
  constructor(vocab: readonly string[], options: BertTokenizerOptions = {}) {
    this.vocab = vocab.slice();
    this.ids = new Map(vocab.map((t, i) => [t, i]));
    this.unkToken = options.unkToken ?? "[UNK]";
    this.padToken = options.padToken ?? "[PAD]";
    this.clsToken = options.clsToken ?? "[CLS]";
    this.sepToken = options.sepToken ?? "[SEP]";
    this.maskToken = options.maskToken ?? "[MASK]";
    const need = (token: string): number => {
      const id = this.ids.get(token);
      if (id === undefined) throw new Error(`BertTokenizer: special token "${token}" is not in the vocabulary`);
      return id;
    };
    this.padId = need(this.padToken);
    this.unkId = need(this.unkToken);
    this.clsId = need(this.clsToken);
    this.sepId = need(this.sepToken);
    this.maskId = need(this.maskToken);
    this.modelMaxLength = options.modelMaxLength ?? 512;
    this.decoderCleanup = options.decoderCleanup ?? true;
    const lowercase = options.lowercase ?? true;
    this.normalizerOptions = {
      cleanText: options.cleanText ?? true,
      handleChineseChars: options.handleChineseChars ?? true,
      stripAccents: options.stripAccents ?? null,
      lowercase,
    };
    this.basic = new BasicTokenizer(this.normalizerOptions);
    this.wordPiece = new WordPiece(this.ids, {
      unkToken: this.unkToken,
      continuingSubwordPrefix: options.continuingSubwordPrefix ?? "##",
      maxInputCharsPerWord: options.maxInputCharsPerWord ?? 100,
    });
    const specials = [this.padToken, this.unkToken, this.clsToken, this.sepToken, this.maskToken];
    this.specialIds = new Set(specials.map((t) => need(t)));
    // Leftmost match, longest first among tokens starting at the same place.
    const alternatives = [...new Set(specials)].sort((a, b) => b.length - a.length).map(escapeRegExp);
    this.specialRe = new RegExp(`(${alternatives.join("|")})`);
  }

  // -------------------------------------------------------------------------------------------- loading

  /** A tokenizer from a `vocab.txt` (one token per line, id = line number). */
  static fromVocabFile(file: string, options: BertTokenizerOptions = {}): BertTokenizer {
    return new BertTokenizer(readVocabFile(file), options);
  }

  /**
   * A tokenizer from a Hugging Face `tokenizer.json` with a WordPiece model, BertNormalizer and
   * BertPreTokenizer (what `BertTokenizerFast` saves). `options` can name [PAD]/[MASK] and set
   * `modelMaxLength`, which the file does not record. Throws on any other kind of tokenizer.
   */
  static fromTokenizerJson(file: string, options: BertTokenizerOptions = {}): BertTokenizer {
    const { vocab, options: fromFile } = readTokenizerJson(file);
    return new BertTokenizer(vocab, { ...fromFile, ...defined(options) });
  }

  /**
   * A tokenizer from a folder saved by transformers or by {@link save}: `tokenizer.json` if there is one,
   * else `vocab.txt` with `do_lower_case` (and the other settings) from `tokenizer_config.json`.
   */
  static fromFolder(dir: string): BertTokenizer {
    const config = defined(optionsFromConfigFiles(dir));
    const json = path.join(dir, "tokenizer.json");
    if (fs.existsSync(json)) {
      // tokenizer.json is authoritative for normalization; the config adds names and model_max_length.
      const { lowercase: _l, stripAccents: _s, handleChineseChars: _h, ...rest } = config;
      return BertTokenizer.fromTokenizerJson(json, rest);
    }
    return BertTokenizer.fromVocabFile(path.join(dir, "vocab.txt"), config);
  }

  // ------------------------------------------------------------------------------------------ vocabulary

  /** Number of tokens. */
  get vocabSize(): number {
    return this.vocab.length;
  }

  /** The id of a token, or undefined when it is not in the vocabulary. */
  idOf(token: string): number | undefined {
    return this.ids.get(token);
  }

  /** The token of an id, or undefined when out of range. */
  tokenOf(id: number): string | undefined {
    return this.vocab[id];
  }

  /** True for the ids of [PAD], [UNK], [CLS], [SEP], [MASK]. */
  isSpecialId(id: number): boolean {
    return this.specialIds.has(id);
  }

  // ------------------------------------------------------------------------------------------ encoding

  /**
   * The tokens of a text, without [CLS]/[SEP]. Special tokens written in the text ("[MASK]", exactly so
   * cased) are kept whole and not normalized, as Hugging Face does with its added tokens.
   */
  tokenize(text: string): string[] {
    const out: string[] = [];
    // split() with a capturing group puts the matched special tokens at the odd indices.
    text.split(this.specialRe).forEach((part, i) => {
      if (i % 2 === 1) out.push(part);
      else if (part !== "") for (const t of this.wordPiece.tokenize(this.basic.tokenize(part))) out.push(t);
    });
    return out;
  }

  /** Ids of tokens (unknown tokens → [UNK]'s id). */
  convertTokensToIds(tokens: readonly string[]): number[] {
    return tokens.map((t) => this.ids.get(t) ?? this.unkId);
  }

  /** Encode a text (or a pair) for the model. See {@link EncodeOptions}. */
  encode(text: string, options: EncodeOptions = {}): Encoding {
    const addSpecial = options.addSpecialTokens ?? true;
    const maxLength = options.maxLength ?? this.modelMaxLength;
    const truncation = options.truncation ?? options.maxLength !== undefined;
    let a = this.convertTokensToIds(this.tokenize(text));
    let b = options.pair === undefined ? undefined : this.convertTokensToIds(this.tokenize(options.pair));

    if (truncation) {
      const nSpecial = addSpecial ? (b === undefined ? 2 : 3) : 0;
      const [n1, n2] = truncatedLengths(a.length, b?.length, maxLength, nSpecial);
      a = a.slice(0, n1);
      b = b?.slice(0, n2);
    }

    const inputIds: number[] = [];
    const tokenTypeIds: number[] = [];
    const push = (id: number, type: number) => {
      inputIds.push(id);
      tokenTypeIds.push(type);
    };
    if (addSpecial) push(this.clsId, 0);
    for (const id of a) push(id, 0);
    if (addSpecial) push(this.sepId, 0);
    if (b !== undefined) {
      for (const id of b) push(id, 1);
      if (addSpecial) push(this.sepId, 1);
    }
    const attentionMask = inputIds.map(() => 1);
    if (options.padding === "max_length") {
      while (inputIds.length < maxLength) {
        inputIds.push(this.padId);
        attentionMask.push(0);
        tokenTypeIds.push(0);
      }
    }
    return { inputIds, attentionMask, tokenTypeIds };
  }

  /** Encode several texts into one padded batch. See {@link BatchEncodeOptions}. */
  encodeBatch(texts: readonly string[], options: BatchEncodeOptions = {}): BatchEncoding {
    if (options.pairs !== undefined && options.pairs.length !== texts.length) {
      throw new Error(`BertTokenizer.encodeBatch: ${texts.length} texts but ${options.pairs.length} pairs`);
    }
    const maxLength = options.maxLength ?? this.modelMaxLength;
    const rows = texts.map((text, i) => this.encode(text, { pair: options.pairs?.[i], maxLength, truncation: options.truncation ?? true }));
    const padding = options.padding ?? (options.maxLength !== undefined ? "max_length" : "longest");
    const longest = rows.reduce((m, r) => Math.max(m, r.inputIds.length), 0);
    const width = padding === "max_length" ? Math.max(maxLength, longest) : longest;
    const n = texts.length;
    const inputIds = new Int32Array(n * width).fill(this.padId);
    const attentionMask = new Int32Array(n * width);
    const tokenTypeIds = new Int32Array(n * width);
    rows.forEach((r, i) => {
      inputIds.set(r.inputIds, i * width);
      attentionMask.set(r.attentionMask, i * width);
      tokenTypeIds.set(r.tokenTypeIds, i * width);
    });
    return { inputIds, attentionMask, tokenTypeIds, shape: [n, width] };
  }

  // ------------------------------------------------------------------------------------------ decoding

  /**
   * Ids back to text, as Hugging Face's WordPiece decoder does it: a "##" piece is glued to the previous
   * token, every other token gets a space in front, and (decoderCleanup) " ." → "." and so on. Unknown ids
   * are skipped. Lowercasing and accent stripping are of course not undone.
   */
  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    const prefix = this.wordPiece.continuingSubwordPrefix;
    const tokens = ids.filter((id) => this.vocab[id] !== undefined && !(options.skipSpecialTokens && this.specialIds.has(id))).map((id) => this.vocab[id]);
    const text = tokens
      .map((token, i) => {
        let t = token;
        if (i !== 0) t = t.startsWith(prefix) ? t.slice(prefix.length) : " " + t;
        return this.decoderCleanup ? cleanupToken(t) : t;
      })
      .join("");
    return options.cleanUpTokenizationSpaces ? cleanUpTokenization(text) : text;
  }

  // ------------------------------------------------------------------------------------------ saving

  /** This tokenizer as a Hugging Face `tokenizer.json` object. */
  toTokenizerJson(): TokenizerJson {
    return tokenizerJsonOf(this);
  }

  /**
   * Write the tokenizer into `dir` (created if needed) as transformers' `save_pretrained` does for BERT:
   * `vocab.txt`, `tokenizer.json`, `tokenizer_config.json` (tokenizer_class "BertTokenizer") and
   * `special_tokens_map.json`.
   */
  save(dir: string): void {
    writeTokenizerFolder(this, dir);
  }
}
