/**
 * The files a BERT tokenizer is shipped in, read and written as Hugging Face writes them:
 *
 *   vocab.txt                one token per line, id = line number
 *   tokenizer.json           the `tokenizers` library's file (BertTokenizerFast): WordPiece model,
 *                            BertNormalizer, BertPreTokenizer, the [CLS] A [SEP] template, the decoder
 *   tokenizer_config.json    transformers' settings (do_lower_case, model_max_length, special tokens)
 *   special_tokens_map.json  the special tokens' names
 *
 * The tokenizer itself (bert-tokenizer.ts) only sees a vocabulary and options; saving reads the fields of
 * {@link SavableTokenizer}, which the tokenizer implements (so this file does not import it).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { BertNormalizerOptions } from "./basic";
import type { WordPiece } from "./wordpiece";

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

/** What writing a tokenizer's files reads of it (BertTokenizer implements it). */
export interface SavableTokenizer {
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
  readonly normalizerOptions: Required<Omit<BertNormalizerOptions, "stripAccents">> & { stripAccents: boolean | null };
  readonly wordPiece: WordPiece;
  readonly decoderCleanup: boolean;
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
export type TemplatePieceJson = { SpecialToken: { id: string; type_id: number } } | { Sequence: { id: "A" | "B"; type_id: number } };

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
export function optionsFromConfigFiles(dir: string): BertTokenizerOptions {
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
export function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The tokens of a `vocab.txt`, in id order. */
export function readVocabFile(file: string): string[] {
  const lines = fs.readFileSync(file, "utf8").split(/\r?\n/);
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines.map((l) => l.trimEnd());
}

/**
 * The vocabulary and options of a Hugging Face `tokenizer.json` with a WordPiece model, BertNormalizer and
 * BertPreTokenizer (what `BertTokenizerFast` saves). Throws on any other kind of tokenizer.
 */
export function readTokenizerJson(file: string): { vocab: string[]; options: BertTokenizerOptions } {
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
    const specials = post.single
      .filter(isObject)
      .map((p) => p.SpecialToken)
      .filter(isObject);
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
  return { vocab, options: o };
}

/** The ids of [PAD], [UNK], [CLS], [SEP], [MASK], ascending. */
const specialIdsOf = (t: SavableTokenizer): number[] => [...new Set([t.padId, t.unkId, t.clsId, t.sepId, t.maskId])].sort((x, y) => x - y);

/** A tokenizer as a Hugging Face `tokenizer.json` object. */
export function tokenizerJsonOf(t: SavableTokenizer): TokenizerJson {
  const specials = specialIdsOf(t);
  const special = (id: string, typeId: number): TemplatePieceJson => ({ SpecialToken: { id, type_id: typeId } });
  const seq = (id: "A" | "B", typeId: number): TemplatePieceJson => ({ Sequence: { id, type_id: typeId } });
  const vocab: Record<string, number> = {};
  t.vocab.forEach((token, i) => {
    vocab[token] = i;
  });
  const specialTokens: TokenizerJson["post_processor"]["special_tokens"] = {};
  for (const [token, id] of [
    [t.clsToken, t.clsId],
    [t.sepToken, t.sepId],
  ] as const) {
    specialTokens[token] = { id: token, ids: [id], tokens: [token] };
  }
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: specials.map((id) => ({
      id,
      content: t.vocab[id],
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: {
      type: "BertNormalizer",
      clean_text: t.normalizerOptions.cleanText,
      handle_chinese_chars: t.normalizerOptions.handleChineseChars,
      strip_accents: t.normalizerOptions.stripAccents,
      lowercase: t.normalizerOptions.lowercase,
    },
    pre_tokenizer: { type: "BertPreTokenizer" },
    post_processor: {
      type: "TemplateProcessing",
      single: [special(t.clsToken, 0), seq("A", 0), special(t.sepToken, 0)],
      pair: [special(t.clsToken, 0), seq("A", 0), special(t.sepToken, 0), seq("B", 1), special(t.sepToken, 1)],
      special_tokens: specialTokens,
    },
    decoder: { type: "WordPiece", prefix: t.wordPiece.continuingSubwordPrefix, cleanup: t.decoderCleanup },
    model: {
      type: "WordPiece",
      unk_token: t.unkToken,
      continuing_subword_prefix: t.wordPiece.continuingSubwordPrefix,
      max_input_chars_per_word: t.wordPiece.maxInputCharsPerWord,
      vocab,
    },
  };
}

/**
 * Writes the tokenizer into `dir` (created if needed) as transformers' `save_pretrained` does for BERT:
 * `vocab.txt`, `tokenizer.json`, `tokenizer_config.json` (tokenizer_class "BertTokenizer") and
 * `special_tokens_map.json`.
 */
export function writeTokenizerFolder(t: SavableTokenizer, dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  const sortedJson = (o: Json) => JSON.stringify(Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))), null, 2) + "\n";
  fs.writeFileSync(path.join(dir, "vocab.txt"), t.vocab.map((t) => t + "\n").join(""));
  fs.writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify(tokenizerJsonOf(t), null, 2));
  const names = {
    cls_token: t.clsToken,
    mask_token: t.maskToken,
    pad_token: t.padToken,
    sep_token: t.sepToken,
    unk_token: t.unkToken,
  };
  const addedTokensDecoder: Json = {};
  for (const id of specialIdsOf(t)) {
    addedTokensDecoder[String(id)] = {
      content: t.vocab[id],
      lstrip: false,
      normalized: false,
      rstrip: false,
      single_word: false,
      special: true,
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
      do_lower_case: t.normalizerOptions.lowercase,
      model_max_length: t.modelMaxLength,
      never_split: null,
      strip_accents: t.normalizerOptions.stripAccents,
      tokenize_chinese_chars: t.normalizerOptions.handleChineseChars,
      tokenizer_class: "BertTokenizer",
    }),
  );
}
