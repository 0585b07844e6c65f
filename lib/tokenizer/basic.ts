/**
 * BERT's "basic" tokenization: the text clean-up and word splitting that happen before WordPiece.
 *
 * This is Hugging Face `tokenizers`' `BertNormalizer` followed by its `BertPreTokenizer` (the Rust code
 * behind `BertTokenizerFast`, and the same steps as transformers' Python `BasicTokenizer`):
 *
 * 1. **Clean** (`cleanText`): drop U+0000, U+FFFD and control/format/private-use characters; turn every
 *    whitespace character (`\t`, `\n`, `\r`, NBSP, U+3000, ...) into a plain space.
 * 2. **CJK** (`handleChineseChars`): put spaces around every CJK *ideograph*, so each becomes its own word.
 *    Hangul and kana are not ideographs and are left alone.
 * 3. **Strip accents** (`stripAccents`, by default on exactly when lowercasing): Unicode NFD, then drop
 *    non-spacing marks (category Mn). `"Déjà"` → `"Deja"`. NFD also splits Hangul syllables into conjoining
 *    jamo (`"한"` → `"ᄒ" "ᅡ" "ᆫ"`), which are letters, not marks, so they stay, decomposed.
 * 4. **Lowercase** (`lowercase`): character by character.
 * 5. **Pre-tokenize**: split on whitespace (dropping it) and make every punctuation character a word of its
 *    own (`"don't!"` → `don ' t !`). Punctuation is ASCII `!`..`/`, `:`..`@`, `[`..`` ` ``, `{`..`~` plus
 *    Unicode categories P*.
 *
 * Matching the reference exactly takes some care, because "category Mn" or "punctuation" depends on the
 * Unicode tables one asks. `tokenizers` takes them from a Rust crate frozen at an old Unicode version (8.0,
 * judging from its contents), not from the JavaScript engine. So the three character classes below are
 * the reference's own tables, extracted code point by code point from `tokenizers@0.23.2` by
 * scripts/fixtures/make-tokenizer-fixtures.js (which also records them as a test fixture):
 *
 * - {@link HF_CONTROL}: what clean-up deletes. Unassigned code points (Cn) are *kept*, and so are format
 *   characters newer than the tables (U+0890, U+13430, ...).
 * - {@link HF_NONSPACING_MARKS}: what accent stripping deletes. Marks newer than the tables are kept.
 * - {@link HF_PUNCTUATION}: non-ASCII punctuation. Newer punctuation (U+061D, U+2E43, ...) is not split off.
 * - {@link HF_NFD_EXCLUDED}: the few characters whose decomposition the reference's NFD does not know yet.
 *
 * Two more details of the reference, both reproduced here:
 *
 * - The order is clean → CJK → strip accents → lowercase.
 * - Lowercasing is per character, so a word-final capital sigma becomes `σ`, never the final form `ς` that
 *   `String.prototype.toLowerCase` (and Python's `str.lower`) would produce.
 *
 * A JavaScript string may hold an unpaired surrogate; the reference receives text as UTF-8, where such a
 * code unit arrives as U+FFFD, so we turn unpaired surrogates into U+FFFD first (clean-up then deletes it).
 *
 * Where transformers' Python `BasicTokenizer` (the "slow" BertTokenizer) differs from `tokenizers` — we
 * follow `tokenizers`, which is what `AutoTokenizer` gives you for BERT:
 *
 * - its CJK ranges include U+2B820..U+2B91F (see {@link CJK_RANGES});
 * - it lowercases whole words with `str.lower()` (final sigma `ς`) *before* stripping accents;
 * - it applies NFC before splitting, so with accents kept, `"e\u0301"` becomes `"é"` (here it stays two
 *   characters and usually ends up [UNK] or split);
 * - its "control" is any category C* of Python's own Unicode tables, unassigned code points included (they
 *   are deleted there, kept here), and its whitespace is `\t \n \r` plus category Zs;
 * - its punctuation and Mn classes come from Python's (newer) Unicode tables.
 */

/** Options of the BERT normalizer; the names and defaults of Hugging Face's `BertNormalizer`. */
export interface BertNormalizerOptions {
  /** Remove control characters and map whitespace to " ". Default true. */
  cleanText?: boolean;
  /** Put spaces around CJK ideographs. Default true. */
  handleChineseChars?: boolean;
  /** NFD + drop non-spacing marks. `null`/`undefined` (the default) means: same as `lowercase`. */
  stripAccents?: boolean | null;
  /** Lowercase the text. Default true. */
  lowercase?: boolean;
}

/** The options with every default filled in. */
export interface ResolvedNormalizerOptions {
  cleanText: boolean;
  handleChineseChars: boolean;
  stripAccents: boolean;
  lowercase: boolean;
}

/** Fill in the defaults of {@link BertNormalizerOptions} (strip_accents follows lowercase when unset). */
export function resolveNormalizerOptions(options: BertNormalizerOptions = {}): ResolvedNormalizerOptions {
  const lowercase = options.lowercase ?? true;
  return {
    cleanText: options.cleanText ?? true,
    handleChineseChars: options.handleChineseChars ?? true,
    stripAccents: options.stripAccents ?? lowercase,
    lowercase,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Character classes
// ---------------------------------------------------------------------------------------------------------

/**
 * The CJK ideograph blocks, as in `tokenizers`' `is_chinese_char`: CJK Unified Ideographs and Extensions
 * A–F, and the two Compatibility Ideographs blocks. (transformers' Python `_is_chinese_char` starts the
 * fifth range at 0x2B820; `tokenizers` starts it at 0x2B920, so U+2B820..U+2B91F — part of Extension E —
 * are ideographs for one and not the other. We follow `tokenizers`.)
 */
export const CJK_RANGES: ReadonlyArray<readonly [number, number]> = [
  [0x4e00, 0x9fff],
  [0x3400, 0x4dbf],
  [0x20000, 0x2a6df],
  [0x2a700, 0x2b73f],
  [0x2b740, 0x2b81f],
  [0x2b920, 0x2ceaf],
  [0xf900, 0xfaff],
  [0x2f800, 0x2fa1f],
];

/** Whitespace: the Unicode White_Space property (Rust's `char::is_whitespace`). */
export const WHITESPACE_RANGES = "9-d,20,85,a0,1680,2000-200a,2028-2029,202f,205f,3000";

/** ASCII punctuation: `!"#$%&'()*+,-./` `:;<=>?@` `` [\]^_` `` `{|}~`. */
export const ASCII_PUNCTUATION_RANGES = "21-2f,3a-40,5b-60,7b-7e";

/** Characters clean-up deletes (besides U+0000 and U+FFFD): Cc (except \t \n \r), Cf and Co, reference tables. */
export const HF_CONTROL =
  "1-8,b-c,e-1f,7f-9f,ad,600-605,61c,6dd,70f,180e,200b-200f,202a-202e,2060-2064,2066-206f,e000-f8ff," +
  "feff,fff9-fffb,110bd,1bca0-1bca3,1d173-1d17a,e0001,e0020-e007f,f0000-ffffd,100000-10fffd";

/**
 * Non-spacing marks (Mn) as the reference's tables have them, restricted to characters that survive NFD
 * (U+0340, U+0341, U+0343, U+0344 decompose into other marks and never reach the filter).
 */
export const HF_NONSPACING_MARKS =
  "300-33f,342,345-36f,483-487,591-5bd,5bf,5c1-5c2,5c4-5c5,5c7,610-61a,64b-65f,670,6d6-6dc,6df-6e4," +
  "6e7-6e8,6ea-6ed,711,730-74a,7a6-7b0,7eb-7f3,816-819,81b-823,825-827,829-82d,859-85b,8e3-902,93a,93c," +
  "941-948,94d,951-957,962-963,981,9bc,9c1-9c4,9cd,9e2-9e3,a01-a02,a3c,a41-a42,a47-a48,a4b-a4d,a51," +
  "a70-a71,a75,a81-a82,abc,ac1-ac5,ac7-ac8,acd,ae2-ae3,b01,b3c,b3f,b41-b44,b4d,b56,b62-b63,b82,bc0,bcd," +
  "c00,c3e-c40,c46-c47,c4a-c4d,c55-c56,c62-c63,c81,cbc,cbf,cc6,ccc-ccd,ce2-ce3,d01,d41-d44,d4d,d62-d63," +
  "dca,dd2-dd4,dd6,e31,e34-e3a,e47-e4e,eb1,eb4-eb9,ebb-ebc,ec8-ecd,f18-f19,f35,f37,f39,f71-f72,f74,f77," +
  "f79-f7e,f80,f82-f84,f86-f87,f8d-f92,f94-f97,f99-f9c,f9e-fa1,fa3-fa6,fa8-fab,fad-fb8,fba-fbc,fc6," +
  "102d-1030,1032-1037,1039-103a,103d-103e,1058-1059,105e-1060,1071-1074,1082,1085-1086,108d,109d," +
  "135d-135f,1712-1714,1732-1734,1752-1753,1772-1773,17b4-17b5,17b7-17bd,17c6,17c9-17d3,17dd,180b-180d," +
  "18a9,1920-1922,1927-1928,1932,1939-193b,1a17-1a18,1a1b,1a56,1a58-1a5e,1a60,1a62,1a65-1a6c,1a73-1a7c," +
  "1a7f,1ab0-1abd,1b00-1b03,1b34,1b36-1b3a,1b3c,1b42,1b6b-1b73,1b80-1b81,1ba2-1ba5,1ba8-1ba9,1bab-1bad," +
  "1be6,1be8-1be9,1bed,1bef-1bf1,1c2c-1c33,1c36-1c37,1cd0-1cd2,1cd4-1ce0,1ce2-1ce8,1ced,1cf4,1cf8-1cf9," +
  "1dc0-1df5,1dfc-1dff,20d0-20dc,20e1,20e5-20f0,2cef-2cf1,2d7f,2de0-2dff,302a-302d,3099-309a,a66f," +
  "a674-a67d,a69e-a69f,a6f0-a6f1,a802,a806,a80b,a825-a826,a8c4,a8e0-a8f1,a926-a92d,a947-a951,a980-a982," +
  "a9b3,a9b6-a9b9,a9bc,a9e5,aa29-aa2e,aa31-aa32,aa35-aa36,aa43,aa4c,aa7c,aab0,aab2-aab4,aab7-aab8," +
  "aabe-aabf,aac1,aaec-aaed,aaf6,abe5,abe8,abed,fb1e,fe00-fe0f,fe20-fe2f,101fd,102e0,10376-1037a," +
  "10a01-10a03,10a05-10a06,10a0c-10a0f,10a38-10a3a,10a3f,10ae5-10ae6,11001,11038-11046,1107f-11081," +
  "110b3-110b6,110b9-110ba,11100-11102,11127-1112b,1112d,11130-11134,11173,11180-11181,111b6-111be," +
  "111ca-111cc,1122f-11231,11234,11236-11237,112df,112e3-112ea,11300-11301,1133c,11340,11366-1136c," +
  "11370-11374,114b3-114b8,114ba,114bf-114c0,114c2-114c3,115b2-115b5,115bc-115bd,115bf-115c0," +
  "115dc-115dd,11633-1163a,1163d,1163f-11640,116ab,116ad,116b0-116b5,116b7,1171d-1171f,11722-11725," +
  "11727-1172b,16af0-16af4,16b30-16b36,16f8f-16f92,1bc9d-1bc9e,1d167-1d169,1d17b-1d182,1d185-1d18b," +
  "1d1aa-1d1ad,1d242-1d244,1da00-1da36,1da3b-1da6c,1da75,1da84,1da9b-1da9f,1daa1-1daaf,1e8d0-1e8d6," +
  "e0100-e01ef";

/** Non-ASCII punctuation (categories P*) as the reference's tables have them. */
export const HF_PUNCTUATION =
  "a1,a7,ab,b6-b7,bb,bf,37e,387,55a-55f,589-58a,5be,5c0,5c3,5c6,5f3-5f4,609-60a,60c-60d,61b,61e-61f," +
  "66a-66d,6d4,700-70d,7f7-7f9,830-83e,85e,964-965,970,af0,df4,e4f,e5a-e5b,f04-f12,f14,f3a-f3d,f85," +
  "fd0-fd4,fd9-fda,104a-104f,10fb,1360-1368,1400,166d-166e,169b-169c,16eb-16ed,1735-1736,17d4-17d6," +
  "17d8-17da,1800-180a,1944-1945,1a1e-1a1f,1aa0-1aa6,1aa8-1aad,1b5a-1b60,1bfc-1bff,1c3b-1c3f,1c7e-1c7f," +
  "1cc0-1cc7,1cd3,2010-2027,2030-2043,2045-2051,2053-205e,207d-207e,208d-208e,2308-230b,2329-232a," +
  "2768-2775,27c5-27c6,27e6-27ef,2983-2998,29d8-29db,29fc-29fd,2cf9-2cfc,2cfe-2cff,2d70,2e00-2e2e," +
  "2e30-2e42,3001-3003,3008-3011,3014-301f,3030,303d,30a0,30fb,a4fe-a4ff,a60d-a60f,a673,a67e,a6f2-a6f7," +
  "a874-a877,a8ce-a8cf,a8f8-a8fa,a8fc,a92e-a92f,a95f,a9c1-a9cd,a9de-a9df,aa5c-aa5f,aade-aadf,aaf0-aaf1," +
  "abeb,fd3e-fd3f,fe10-fe19,fe30-fe52,fe54-fe61,fe63,fe68,fe6a-fe6b,ff01-ff03,ff05-ff0a,ff0c-ff0f," +
  "ff1a-ff1b,ff1f-ff20,ff3b-ff3d,ff3f,ff5b,ff5d,ff5f-ff65,10100-10102,1039f,103d0,1056f,10857,1091f," +
  "1093f,10a50-10a58,10a7f,10af0-10af6,10b39-10b3f,10b99-10b9c,11047-1104d,110bb-110bc,110be-110c1," +
  "11140-11143,11174-11175,111c5-111c9,111cd,111db,111dd-111df,11238-1123d,112a9,114c6,115c1-115d7," +
  "11641-11643,1173c-1173e,12470-12474,16a6e-16a6f,16af5,16b37-16b3b,16b44,1bc9f,1da87-1da8b";

/**
 * Characters the reference's NFD leaves whole although the JavaScript engine's newer Unicode data gives them
 * a canonical decomposition (letters and vowel signs added in Unicode 13 and 16).
 */
export const HF_NFD_EXCLUDED = "105c9,105e4,11383,11385,1138e,11391,113c5,113c7-113c8,11938,16121-16128,16d68-16d6a";

/** Parse `"a-b,c"` (hex) into sorted `[first, last]` code-point ranges. */
export function parseRanges(spec: string): Array<[number, number]> {
  return spec.split(",").map((part): [number, number] => {
    const [a, b] = part.split("-");
    const first = parseInt(a, 16);
    return [first, b === undefined ? first : parseInt(b, 16)];
  });
}

/** A regular-expression character-class body (no brackets) for a list of ranges. */
function classBody(ranges: ReadonlyArray<readonly [number, number]>): string {
  const hex = (cp: number) => `\\u{${cp.toString(16)}}`;
  return ranges.map(([a, b]) => (a === b ? hex(a) : `${hex(a)}-${hex(b)}`)).join("");
}

const CJK_CLASS = classBody(CJK_RANGES);
const WS_CLASS = classBody(parseRanges(WHITESPACE_RANGES));
const PUNCT_CLASS = classBody(parseRanges(ASCII_PUNCTUATION_RANGES)) + classBody(parseRanges(HF_PUNCTUATION));

const LONE_SURROGATE_RE = /\p{Cs}/gu;
const CONTROL_RE = new RegExp(`[\\u{0}\\u{fffd}${classBody(parseRanges(HF_CONTROL))}]`, "gu");
const WS_RE = new RegExp(`[${WS_CLASS}]`, "gu");
const CJK_RE = new RegExp(`[${CJK_CLASS}]`, "gu");
const MARK_RE = new RegExp(`[${classBody(parseRanges(HF_NONSPACING_MARKS))}]`, "gu");
const NFD_EXCLUDED_RE = new RegExp(`([${classBody(parseRanges(HF_NFD_EXCLUDED))}])`, "u");
const PRE_TOKEN_RE = new RegExp(`[${PUNCT_CLASS}]|[^${PUNCT_CLASS}${WS_CLASS}]+`, "gu");

/** One-character tests (each on the first code point of `ch`), handy for teaching and tests. */
const single = (re: RegExp) => new RegExp(`^${re.source}`, "u");
const IS_CONTROL = single(CONTROL_RE);
const IS_WS = single(WS_RE);
const IS_CJK = single(CJK_RE);
const IS_MARK = single(MARK_RE);
const IS_PUNCT = new RegExp(`^[${PUNCT_CLASS}]`, "u");

/** True for the characters clean-up deletes (including U+0000 and U+FFFD). */
export const isControl = (ch: string): boolean => IS_CONTROL.test(ch);
/** True for whitespace (clean-up maps it to " ", pre-tokenization splits on it). */
export const isWhitespace = (ch: string): boolean => IS_WS.test(ch);
/** True for a CJK ideograph (see {@link CJK_RANGES}). */
export const isChineseChar = (ch: string): boolean => IS_CJK.test(ch);
/** True for a non-spacing mark that accent stripping deletes. */
export const isNonspacingMark = (ch: string): boolean => IS_MARK.test(ch);
/** True for a character the pre-tokenizer makes a word of its own. */
export const isPunctuation = (ch: string): boolean => IS_PUNCT.test(ch);

// ---------------------------------------------------------------------------------------------------------
// The pipeline
// ---------------------------------------------------------------------------------------------------------

/** Canonical decomposition (NFD), leaving alone the few characters the reference cannot decompose. */
function nfd(text: string): string {
  if (!NFD_EXCLUDED_RE.test(text)) return text.normalize("NFD");
  // split() with a capturing group keeps the separators at odd indices.
  return text
    .split(NFD_EXCLUDED_RE)
    .map((part, i) => (i % 2 === 1 ? part : part.normalize("NFD")))
    .join("");
}

/** BERT normalization (steps 1–4 of the module comment). */
export function normalizeBert(text: string, options: BertNormalizerOptions = {}): string {
  const o = resolveNormalizerOptions(options);
  let s = text.replace(LONE_SURROGATE_RE, "\ufffd");
  if (o.cleanText) s = s.replace(CONTROL_RE, "").replace(WS_RE, " ");
  if (o.handleChineseChars) s = s.replace(CJK_RE, " $& ");
  if (o.stripAccents) s = nfd(s).replace(MARK_RE, "");
  // Per-character lowercasing: only capital sigma is lowercased differently in context by toLowerCase().
  if (o.lowercase) s = s.replace(/\u03a3/g, "\u03c3").toLowerCase();
  return s;
}

/** BERT pre-tokenization (step 5): split on whitespace, isolate punctuation. */
export function preTokenizeBert(text: string): string[] {
  return text.match(PRE_TOKEN_RE) ?? [];
}

/**
 * Normalization plus pre-tokenization: text in, words out. This is everything BERT does before WordPiece.
 *
 * ```ts
 * new BasicTokenizer().tokenize("Héllo, Wörld!")  // ["hello", ",", "world", "!"]
 * new BasicTokenizer({ lowercase: false }).tokenize("我爱 Café") // ["我", "爱", "Café"]
 * ```
 */
export class BasicTokenizer {
  readonly options: ResolvedNormalizerOptions;

  constructor(options: BertNormalizerOptions = {}) {
    this.options = resolveNormalizerOptions(options);
  }

  /** The normalized text (no splitting). */
  normalize(text: string): string {
    return normalizeBert(text, this.options);
  }

  /** The words of `text`. */
  tokenize(text: string): string[] {
    return preTokenizeBert(this.normalize(text));
  }
}
