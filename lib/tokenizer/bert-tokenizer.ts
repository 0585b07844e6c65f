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
 * folder saved by transformers — and {@link BertTokenizer.save} writes a folder that both transformers
 * (`BertTokenizer` / `BertTokenizerFast.from_pretrained`) and `tokenizers` (`Tokenizer.from_file`) load.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { BasicTokenizer, BertNormalizerOptions } from "./basic";
import { WordPiece } from "./wordpiece";

/** Options of {@link BertTokenizer}. The normalizer options are those of {@link BertNormalizerOptions}. */
export interface BertTokenizerOptions extends BertNormalizerOptions {
  unkToken?: string;
  padToken?: string;
  clsToken?: string;
  sepToken?: string;
  maskToken?: string;
  /** Default "##". */
  continuingSubwordPrefix?: string;
  /** Default 100. */
  maxInputCharsPerWord?: number;
  /** The longest input the model accepts; the default `maxLength` of truncation. Default 512. */
  modelMaxLength?: number;
  /** The WordPiece decoder's `cleanup` (" ." → "." and the like). Default true. */
  decoderCleanup?: boolean;
}

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

/** `tokenizer.json`'s entry for an added (special) token. */
export interface AddedTokenJson {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

/** A piece of a TemplateProcessing template. */
export type TemplatePieceJson =
  | { SpecialToken: { id: string; type_id: number } }
  | { Sequence: { id: "A" | "B"; type_id: number } };

/** The subset of Hugging Face's `tokenizer.json` schema that a BERT tokenizer uses. */
export interface TokenizerJson {
  version: string;
  truncation: null;
  padding: null;
  added_tokens: AddedTokenJson[];
  normalizer: {
    type: "BertNormalizer";
    clean_text: boolean;
    handle_chinese_chars: boolean;
    strip_accents: boolean | null;
    lowercase: boolean;
  };
  pre_tokenizer: { type: "BertPreTokenizer" };
  post_processor: {
    type: "TemplateProcessing";
    single: TemplatePieceJson[];
    pair: TemplatePieceJson[];
    special_tokens: Record<string, { id: string; ids: number[]; tokens: string[] }>;
  };
  decoder: { type: "WordPiece"; prefix: string; cleanup: boolean };
  model: {
    type: "WordPiece";
    unk_token: string;
    continuing_subword_prefix: string;
    max_input_chars_per_word: number;
    vocab: Record<string, number>;
  };
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
  [" .", "."], [" ?", "?"], [" !", "!"], [" ,", ","], [" ' ", "'"], [" n't", "n't"], [" 'm", "'m"],
  [" 's", "'s"], [" 've", "'ve"], [" 're", "'re"],
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

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/** Read a JSON file as an object. */
function readJsonObject(file: string): Json {
  const value: unknown = JSON.parse(fs.readFileSync(file, "utf8"));
  if (!isObject(value)) throw new Error(`${file}: expected a JSON object`);
  return value;
}

/** A special-token entry of tokenizer_config.json / special_tokens_map.json: a string or {content: ...}. */
function tokenName(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (isObject(v) && typeof v.content === "string") return v.content;
  return undefined;
}

/** Special-token names and limits from transformers' tokenizer_config.json and special_tokens_map.json. */
function optionsFromConfigFiles(dir: string): BertTokenizerOptions {
  const config: Json = {};
  for (const name of ["special_tokens_map.json", "tokenizer_config.json"]) {
    const file = path.join(dir, name);
    if (fs.existsSync(file)) Object.assign(config, readJsonObject(file));
  }
  const options: BertTokenizerOptions = {};
  if (typeof config.do_lower_case === "boolean") options.lowercase = config.do_lower_case;
  if (typeof config.strip_accents === "boolean") options.stripAccents = config.strip_accents;
  if (typeof config.tokenize_chinese_chars === "boolean") options.handleChineseChars = config.tokenize_chinese_chars;
  if (typeof config.model_max_length === "number") options.modelMaxLength = config.model_max_length;
  options.unkToken = tokenName(config.unk_token);
  options.padToken = tokenName(config.pad_token);
  options.clsToken = tokenName(config.cls_token);
  options.sepToken = tokenName(config.sep_token);
  options.maskToken = tokenName(config.mask_token);
  return options;
}

/** Drop the keys whose value is undefined, so that spreading the result does not erase defaults. */
function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** A WordPiece BERT tokenizer. See the module comment. */
export class BertTokenizer {
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
    const lines = fs.readFileSync(file, "utf8").split(/\r?\n/);
    if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
    return new BertTokenizer(lines.map((l) => l.trimEnd()), options);
  }

  /**
   * A tokenizer from a Hugging Face `tokenizer.json` with a WordPiece model, BertNormalizer and
   * BertPreTokenizer (what `BertTokenizerFast` saves). `options` can name [PAD]/[MASK] and set
   * `modelMaxLength`, which the file does not record. Throws on any other kind of tokenizer.
   */
  static fromTokenizerJson(file: string, options: BertTokenizerOptions = {}): BertTokenizer {
    const json = readJsonObject(file);
    const fail = (what: string): never => {
      throw new Error(`${file}: ${what} (only BERT WordPiece tokenizers are supported)`);
    };
    const model = isObject(json.model) ? json.model : fail("no model");
    if (model.type !== "WordPiece") fail(`model type ${String(model.type)}`);
    const vocabMap = isObject(model.vocab) ? model.vocab : fail("model.vocab missing");
    const vocab: string[] = [];
    for (const [token, id] of Object.entries(vocabMap)) {
      if (typeof id !== "number" || !Number.isInteger(id) || id < 0) fail(`bad id for "${token}"`);
      vocab[id as number] = token;
    }
    for (let i = 0; i < vocab.length; i++) if (vocab[i] === undefined) fail(`vocabulary has no token with id ${i}`);
    if (Array.isArray(json.added_tokens)) {
      for (const t of json.added_tokens) {
        if (isObject(t) && vocab[t.id as number] !== t.content) fail(`added token ${JSON.stringify(t.content)} is not in the vocabulary`);
      }
    }

    const o: BertTokenizerOptions = {};
    if (typeof model.unk_token === "string") o.unkToken = model.unk_token;
    if (typeof model.continuing_subword_prefix === "string") o.continuingSubwordPrefix = model.continuing_subword_prefix;
    if (typeof model.max_input_chars_per_word === "number") o.maxInputCharsPerWord = model.max_input_chars_per_word;

    const norm = json.normalizer;
    if (norm === null || norm === undefined) {
      o.cleanText = false;
      o.handleChineseChars = false;
      o.stripAccents = false;
      o.lowercase = false;
    } else if (isObject(norm) && norm.type === "BertNormalizer") {
      o.cleanText = norm.clean_text !== false;
      o.handleChineseChars = norm.handle_chinese_chars !== false;
      o.lowercase = norm.lowercase !== false;
      o.stripAccents = typeof norm.strip_accents === "boolean" ? norm.strip_accents : null;
    } else {
      fail(`normalizer ${isObject(norm) ? String(norm.type) : "?"}`);
    }
    const pre = json.pre_tokenizer;
    if (!isObject(pre) || pre.type !== "BertPreTokenizer") fail("pre_tokenizer is not BertPreTokenizer");

    const post = json.post_processor;
    if (isObject(post) && post.type === "TemplateProcessing" && Array.isArray(post.single)) {
      const specials = post.single.filter(isObject).map((p) => p.SpecialToken).filter(isObject);
      if (specials.length !== 2 || typeof specials[0].id !== "string" || typeof specials[1].id !== "string") {
        fail("post_processor template is not [CLS] $A [SEP]");
      }
      o.clsToken = specials[0].id as string;
      o.sepToken = specials[1].id as string;
    } else if (isObject(post) && post.type === "BertProcessing" && Array.isArray(post.cls) && Array.isArray(post.sep)) {
      o.clsToken = String(post.cls[0]);
      o.sepToken = String(post.sep[0]);
    } else if (post !== null && post !== undefined) {
      fail(`post_processor ${isObject(post) ? String(post.type) : "?"}`);
    }
    const dec = json.decoder;
    if (isObject(dec) && dec.type === "WordPiece" && typeof dec.cleanup === "boolean") o.decoderCleanup = dec.cleanup;
    return new BertTokenizer(vocab, { ...o, ...defined(options) });
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
    const rows = texts.map((text, i) =>
      this.encode(text, { pair: options.pairs?.[i], maxLength, truncation: options.truncation ?? true }),
    );
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
    const tokens = ids
      .filter((id) => this.vocab[id] !== undefined && !(options.skipSpecialTokens && this.specialIds.has(id)))
      .map((id) => this.vocab[id]);
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
    const specials = [...this.specialIds].sort((x, y) => x - y);
    const special = (id: string, typeId: number): TemplatePieceJson => ({ SpecialToken: { id, type_id: typeId } });
    const seq = (id: "A" | "B", typeId: number): TemplatePieceJson => ({ Sequence: { id, type_id: typeId } });
    const vocab: Record<string, number> = {};
    this.vocab.forEach((t, i) => {
      vocab[t] = i;
    });
    const specialTokens: TokenizerJson["post_processor"]["special_tokens"] = {};
    for (const [token, id] of [[this.clsToken, this.clsId], [this.sepToken, this.sepId]] as const) {
      specialTokens[token] = { id: token, ids: [id], tokens: [token] };
    }
    return {
      version: "1.0",
      truncation: null,
      padding: null,
      added_tokens: specials.map((id) => ({
        id,
        content: this.vocab[id],
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: false,
        special: true,
      })),
      normalizer: {
        type: "BertNormalizer",
        clean_text: this.normalizerOptions.cleanText,
        handle_chinese_chars: this.normalizerOptions.handleChineseChars,
        strip_accents: this.normalizerOptions.stripAccents,
        lowercase: this.normalizerOptions.lowercase,
      },
      pre_tokenizer: { type: "BertPreTokenizer" },
      post_processor: {
        type: "TemplateProcessing",
        single: [special(this.clsToken, 0), seq("A", 0), special(this.sepToken, 0)],
        pair: [special(this.clsToken, 0), seq("A", 0), special(this.sepToken, 0), seq("B", 1), special(this.sepToken, 1)],
        special_tokens: specialTokens,
      },
      decoder: { type: "WordPiece", prefix: this.wordPiece.continuingSubwordPrefix, cleanup: this.decoderCleanup },
      model: {
        type: "WordPiece",
        unk_token: this.unkToken,
        continuing_subword_prefix: this.wordPiece.continuingSubwordPrefix,
        max_input_chars_per_word: this.wordPiece.maxInputCharsPerWord,
        vocab,
      },
    };
  }

  /**
   * Write the tokenizer into `dir` (created if needed) as transformers' `save_pretrained` does for BERT:
   * `vocab.txt`, `tokenizer.json`, `tokenizer_config.json` (tokenizer_class "BertTokenizer") and
   * `special_tokens_map.json`.
   */
  save(dir: string): void {
    fs.mkdirSync(dir, { recursive: true });
    const sortedJson = (o: Json) =>
      JSON.stringify(Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))), null, 2) + "\n";
    fs.writeFileSync(path.join(dir, "vocab.txt"), this.vocab.map((t) => t + "\n").join(""));
    fs.writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify(this.toTokenizerJson(), null, 2));
    const names = {
      cls_token: this.clsToken,
      mask_token: this.maskToken,
      pad_token: this.padToken,
      sep_token: this.sepToken,
      unk_token: this.unkToken,
    };
    const addedTokensDecoder: Json = {};
    for (const id of [...this.specialIds].sort((x, y) => x - y)) {
      addedTokensDecoder[String(id)] = {
        content: this.vocab[id], lstrip: false, normalized: false, rstrip: false, single_word: false, special: true,
      };
    }
    fs.writeFileSync(path.join(dir, "special_tokens_map.json"), sortedJson(names));
    fs.writeFileSync(
      path.join(dir, "tokenizer_config.json"),
      sortedJson({
        ...names,
        added_tokens_decoder: addedTokensDecoder,
        clean_up_tokenization_spaces: true,
        do_basic_tokenize: true,
        do_lower_case: this.normalizerOptions.lowercase,
        model_max_length: this.modelMaxLength,
        never_split: null,
        strip_accents: this.normalizerOptions.stripAccents,
        tokenize_chinese_chars: this.normalizerOptions.handleChineseChars,
        tokenizer_class: "BertTokenizer",
      }),
    );
  }
}
