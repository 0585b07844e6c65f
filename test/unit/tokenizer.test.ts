/**
 * Tests for lib/tokenizer against fixtures written independently by scripts/fixtures/make-tokenizer-fixtures.js
 * with Hugging Face's official `tokenizers` package (no code of ours computes an expected value), plus
 * hand-checkable examples.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  ASCII_PUNCTUATION_RANGES,
  BasicTokenizer,
  BertNormalizerOptions,
  BertTokenizer,
  HF_CONTROL,
  HF_PUNCTUATION,
  WHITESPACE_RANGES,
  WordPiece,
  countWords,
  normalizeBert,
  parseRanges,
  preTokenizeBert,
  trainWordPiece,
  truncatedLengths,
} from "../../lib/tokenizer";

const FIXTURES = path.join(__dirname, "..", "fixtures", "tokenizer");
const VOCAB = path.join(FIXTURES, "vocab.txt");
const readJson = <T>(name: string): T => JSON.parse(fs.readFileSync(path.join(FIXTURES, name), "utf8")) as T;

interface EncodingRecord {
  tokens: string[];
  ids: number[];
  typeIds: number[];
  attentionMask: number[];
}
interface TextRecord extends EncodingRecord {
  decoded: string;
  decodedSkipSpecial: string;
}
interface Cases {
  texts: string[];
  pairs: Array<[string, string]>;
  truncations: Array<{ a: string; b: string | null; maxLength: number }>;
  truncationGrid: Record<string, string[]>;
  expected: Record<"lowercase" | "cased", { texts: TextRecord[]; pairs: EncodingRecord[]; truncations: EncodingRecord[] }>;
  ourTokenizerJsonInTokenizers: Record<string, { cases: number; mismatches: string[] }>;
}
interface UnicodeFixture {
  cleanRemoved: string;
  cleanToSpace: string;
  cjk: string;
  preTokenizerWhitespace: string;
  preTokenizerPunctuation: string;
  stripAccentsChanged: Record<string, string>;
  lowercaseChanged: Record<string, string>;
}
interface TrainFixture {
  vocabSize: number;
  alphabet: string[];
  continuation: string[];
  mergedCommonPrefix: string[];
  distinctRuns: string[];
}

const cases = readJson<Cases>("cases.json");
const SETTINGS = [
  ["lowercase", true],
  ["cased", false],
] as const;

/** Every Unicode scalar value from U+0001 (the fixtures cover the same set). */
function allCodePoints(): number[] {
  const cps: number[] = [];
  for (let c = 1; c <= 0x10ffff; c++) if (c < 0xd800 || c > 0xdfff) cps.push(c);
  return cps;
}

function inRanges(spec: string): (cp: number) => boolean {
  const set = new Set<number>();
  if (spec !== "") for (const [a, b] of parseRanges(spec)) for (let c = a; c <= b; c++) set.add(c);
  return (cp) => set.has(cp);
}

/**
 * Check one normalizer step on every code point, batched with a sentinel between characters (as the fixture
 * script does with the reference): `expected(cp)` is what the character must become.
 */
function checkEveryCodePoint(options: BertNormalizerOptions, sentinel: string, expected: (cp: number) => string): void {
  const cps = allCodePoints().filter((c) => c !== sentinel.codePointAt(0));
  const CHUNK = 50000;
  const wrong: string[] = [];
  for (let i = 0; i < cps.length; i += CHUNK) {
    const chunk = cps.slice(i, i + CHUNK);
    const input = sentinel + chunk.map((c) => String.fromCodePoint(c)).join(sentinel) + sentinel;
    const parts = normalizeBert(input, options).split(sentinel);
    assert.equal(parts.length, chunk.length + 2);
    chunk.forEach((c, k) => {
      if (parts[k + 1] !== expected(c) && wrong.length < 10) wrong.push(`U+${c.toString(16)}: ${JSON.stringify(parts[k + 1])}`);
    });
  }
  assert.deepEqual(wrong, []);
}

const OFF = { cleanText: false, handleChineseChars: false, stripAccents: false, lowercase: false };

describe("tokenizer: basic tokenizer vs tokenizers' BertNormalizer/BertPreTokenizer, every code point", () => {
  const uni = readJson<UnicodeFixture>("unicode.json");

  it("our character tables are the reference's", () => {
    // Clean-up deletes U+FFFD by name; the table holds the rest.
    assert.equal(HF_CONTROL.replace("fff9-fffb,", "fff9-fffb,fffd,"), uni.cleanRemoved);
    assert.equal(WHITESPACE_RANGES, uni.preTokenizerWhitespace);
    assert.equal(`${ASCII_PUNCTUATION_RANGES},${HF_PUNCTUATION}`, uni.preTokenizerPunctuation);
  });

  it("clean-up deletes controls and maps whitespace to a space", () => {
    const removed = inRanges(uni.cleanRemoved);
    const space = inRanges(uni.cleanToSpace);
    checkEveryCodePoint({ ...OFF, cleanText: true }, "x", (c) => (removed(c) ? "" : space(c) ? " " : String.fromCodePoint(c)));
  });

  it("CJK ideographs get spaces around them (and nothing else does)", () => {
    const cjk = inRanges(uni.cjk);
    checkEveryCodePoint({ ...OFF, handleChineseChars: true }, "x", (c) => (cjk(c) ? ` ${String.fromCodePoint(c)} ` : String.fromCodePoint(c)));
  });

  it("accent stripping (NFD, drop Mn) — Hangul syllables become conjoining jamo", () => {
    const hangul = (c: number) => {
      const s = c - 0xac00;
      const t = s % 28 === 0 ? "" : String.fromCodePoint(0x11a7 + (s % 28));
      return String.fromCodePoint(0x1100 + Math.floor(s / 588), 0x1161 + Math.floor((s % 588) / 28)) + t;
    };
    checkEveryCodePoint({ ...OFF, stripAccents: true }, "\u0001", (c) =>
      c >= 0xac00 && c <= 0xd7a3 ? hangul(c) : (uni.stripAccentsChanged[c.toString(16)] ?? String.fromCodePoint(c)),
    );
  });

  it("lowercasing, character by character", () => {
    checkEveryCodePoint({ ...OFF, lowercase: true }, "\u0001", (c) => uni.lowercaseChanged[c.toString(16)] ?? String.fromCodePoint(c));
  });

  it("pre-tokenization drops whitespace and isolates punctuation", () => {
    const white = inRanges(uni.preTokenizerWhitespace);
    const punct = inRanges(uni.preTokenizerPunctuation);
    const wrong: string[] = [];
    for (const c of allCodePoints()) {
      if (c === 0x61) continue;
      const ch = String.fromCodePoint(c);
      const want = white(c) ? ["a", "a"] : punct(c) ? ["a", ch, "a"] : [`a${ch}a`];
      const got = preTokenizeBert(`a${ch}a`);
      if (JSON.stringify(got) !== JSON.stringify(want) && wrong.length < 10) wrong.push(`U+${c.toString(16)}`);
    }
    assert.deepEqual(wrong, []);
  });

  it("hand examples: order of steps, final sigma, Hangul, kana, CJK extension E", () => {
    const lower = new BasicTokenizer();
    const cased = new BasicTokenizer({ lowercase: false });
    assert.deepEqual(lower.tokenize("Héllo, Wörld!"), ["hello", ",", "world", "!"]);
    assert.deepEqual(cased.tokenize("Héllo, Wörld!"), ["Héllo", ",", "Wörld", "!"]);
    // Per-character lowercasing: no final sigma (Python's str.lower() would give "οδος" with ς).
    assert.deepEqual(lower.tokenize("ΟΔΟΣ"), ["οδοσ"]);
    // Hangul is not CJK: one word; lowercasing strips accents, and NFD turns syllables into jamo.
    assert.deepEqual(cased.tokenize("안녕하세요"), ["안녕하세요"]);
    assert.deepEqual(lower.tokenize("한"), ["\u1112\u1161\u11ab"]);
    assert.deepEqual(cased.tokenize("こんにちは、世界"), ["こんにちは", "、", "世", "界"]);
    // U+2B820 is an ideograph for transformers' Python code but not for tokenizers (which we follow).
    assert.deepEqual(cased.tokenize("a\u{2B820}b\u{2B920}c"), ["a\u{2B820}b", "\u{2B920}", "c"]);
    // Stripping happens before lowercasing; İ → I → i.
    assert.deepEqual(lower.tokenize("İstanbul"), ["istanbul"]);
    // An unpaired surrogate arrives at the reference as U+FFFD, which clean-up deletes.
    assert.deepEqual(lower.tokenize("a\ud800b"), ["ab"]);
  });
});

describe("tokenizer: WordPiece", () => {
  const wp = new WordPiece(new Set(["[UNK]", "un", "##aff", "##able", "##a", "##ff", "😀", "##😀"]));

  it("greedy longest match first, ## continuations, [UNK] for the whole word", () => {
    assert.deepEqual(wp.tokenizeWord("unaffable"), ["un", "##aff", "##able"]);
    assert.deepEqual(wp.tokenizeWord("unaffx"), ["[UNK]"]);
    assert.deepEqual(wp.tokenize(["un", "unaffable"]), ["un", "un", "##aff", "##able"]);
  });

  it("counts code points: 100 emoji are one word, 101 are [UNK]", () => {
    assert.equal(wp.tokenizeWord("😀".repeat(100)).length, 100);
    assert.deepEqual(wp.tokenizeWord("😀".repeat(101)), ["[UNK]"]);
  });
});

describe("tokenizer: BertTokenizer equals tokenizers on the fixture cases", () => {
  for (const [name, lowercase] of SETTINGS) {
    const tok = BertTokenizer.fromVocabFile(VOCAB, { lowercase });
    const expected = cases.expected[name];

    it(`${name}: tokens, ids, type ids and masks of ${cases.texts.length} texts`, () => {
      cases.texts.forEach((text, i) => {
        const e = expected.texts[i];
        const what = `text ${i} ${JSON.stringify(text)}`;
        assert.deepEqual(["[CLS]", ...tok.tokenize(text), "[SEP]"], e.tokens, what);
        const enc = tok.encode(text);
        assert.deepEqual(enc.inputIds, e.ids, what);
        assert.deepEqual(enc.tokenTypeIds, e.typeIds, what);
        assert.deepEqual(enc.attentionMask, e.attentionMask, what);
      });
    });

    it(`${name}: decode, with and without special tokens`, () => {
      cases.texts.forEach((text, i) => {
        const e = expected.texts[i];
        assert.equal(tok.decode(e.ids), e.decoded, `text ${i}`);
        assert.equal(tok.decode(e.ids, { skipSpecialTokens: true }), e.decodedSkipSpecial, `text ${i}`);
      });
    });

    it(`${name}: pairs`, () => {
      cases.pairs.forEach(([a, b], i) => {
        const enc = tok.encode(a, { pair: b });
        assert.deepEqual(enc.inputIds, expected.pairs[i].ids);
        assert.deepEqual(enc.tokenTypeIds, expected.pairs[i].typeIds);
      });
    });

    it(`${name}: truncation (longest first) and padding`, () => {
      cases.truncations.forEach(({ a, b, maxLength }, i) => {
        const enc = tok.encode(a, { pair: b ?? undefined, maxLength, padding: "max_length" });
        const e = expected.truncations[i];
        assert.deepEqual([enc.inputIds, enc.tokenTypeIds, enc.attentionMask], [e.ids, e.typeIds, e.attentionMask], `case ${i}`);
      });
    });

    it(`${name}: our tokenizer.json, loaded by tokenizers, encoded every case like the reference`, () => {
      assert.deepEqual(cases.ourTokenizerJsonInTokenizers[name].mismatches, []);
      assert.ok(cases.ourTokenizerJsonInTokenizers[name].cases > 50);
    });

    it(`${name}: toTokenizerJson() is the tokenizer.json tokenizers writes`, () => {
      assert.deepEqual(JSON.parse(JSON.stringify(tok.toTokenizerJson())), readJson(`hf-tokenizer-${name}.json`));
    });
  }

  it("pair truncation lengths over a grid of lengths and max lengths", () => {
    for (const [maxLength, rows] of Object.entries(cases.truncationGrid)) {
      rows.forEach((row, n1) => {
        row.split(" ").forEach((cell, n2) => {
          const want = cell.split("/").map(Number);
          assert.deepEqual(truncatedLengths(n1, n2, Number(maxLength), 3), want, `maxLength ${maxLength}, n1 ${n1}, n2 ${n2}`);
        });
      });
    }
  });
});

describe("tokenizer: BertTokenizer API", () => {
  const tok = BertTokenizer.fromVocabFile(VOCAB);

  it("special tokens and vocabulary", () => {
    assert.deepEqual([tok.padId, tok.unkId, tok.clsId, tok.sepId, tok.maskId], [0, 1, 2, 3, 4]);
    assert.equal(tok.vocabSize, fs.readFileSync(VOCAB, "utf8").split("\n").length - 1);
    assert.equal(tok.idOf("hello"), tok.vocab.indexOf("hello"));
    assert.equal(tok.idOf("no-such-token"), undefined);
    assert.equal(tok.tokenOf(tok.idOf("café") as number), "café");
    assert.ok(tok.isSpecialId(4) && !tok.isSpecialId(5));
    // Special tokens written in the text are kept whole (exact case only).
    assert.deepEqual(tok.tokenize("a [MASK] b [mask]"), ["a", "[MASK]", "b", "[", "m", "##a", "##s", "##k", "]"]);
  });

  it("padding and truncation options", () => {
    const short = tok.encode("hello world", { maxLength: 8, padding: "max_length" });
    assert.deepEqual(short.inputIds.slice(0, 4), [2, tok.idOf("hello"), tok.idOf("world"), 3]);
    assert.deepEqual(short.inputIds.slice(4), [0, 0, 0, 0]);
    assert.deepEqual(short.attentionMask, [1, 1, 1, 1, 0, 0, 0, 0]);
    assert.deepEqual(short.tokenTypeIds, [0, 0, 0, 0, 0, 0, 0, 0]);
    const long = "the quick brown fox jumps over the lazy dog";
    assert.equal(tok.encode(long, { maxLength: 5 }).inputIds.length, 5);
    assert.equal(tok.encode(long, { maxLength: 5 }).inputIds[4], tok.sepId);
    assert.ok(tok.encode(long, { maxLength: 5, truncation: false }).inputIds.length > 5);
    assert.equal(tok.encode(long).inputIds.length, tok.tokenize(long).length + 2); // no padding by default
    assert.deepEqual(tok.encode("hello", { addSpecialTokens: false }).inputIds, [tok.idOf("hello")]);
    assert.throws(() => tok.encode("a", { pair: "b", maxLength: 2 }), /no room/);
  });

  it("encodeBatch gives flat Int32Arrays of shape [batch, length]", () => {
    const texts = ["hello world", "the cafe", "wait!!!"];
    const fixed = tok.encodeBatch(texts, { maxLength: 6 });
    assert.deepEqual(fixed.shape, [3, 6]);
    assert.ok(fixed.inputIds instanceof Int32Array && fixed.inputIds.length === 18);
    texts.forEach((t, i) => {
      const one = tok.encode(t, { maxLength: 6, padding: "max_length" });
      assert.deepEqual(Array.from(fixed.inputIds.subarray(i * 6, i * 6 + 6)), one.inputIds);
      assert.deepEqual(Array.from(fixed.attentionMask.subarray(i * 6, i * 6 + 6)), one.attentionMask);
    });
    const longest = tok.encodeBatch(texts);
    assert.deepEqual(longest.shape, [3, 6]); // "wait!!!" → [CLS] wait ! ! ! [SEP]
    const pairs = tok.encodeBatch(["hello"], { pairs: ["world"], maxLength: 6 });
    assert.deepEqual(Array.from(pairs.tokenTypeIds), [0, 0, 0, 1, 1, 0]);
  });

  it("decode joins ## pieces; options for special tokens and transformers' clean-up", () => {
    const ids = tok.encode("unaffable tokenization").inputIds;
    assert.equal(tok.decode(ids), "[CLS] unaffable tokenization [SEP]");
    assert.equal(tok.decode(ids, { skipSpecialTokens: true }), "unaffable tokenization");
    const dont = tok.encode("don't stop.").inputIds;
    assert.equal(tok.decode(dont, { skipSpecialTokens: true }), "don ' t stop.");
    assert.equal(tok.decode(dont, { skipSpecialTokens: true, cleanUpTokenizationSpaces: true }), "don't stop.");
    assert.equal(tok.decode([tok.idOf("##ed") as number, 99999]), "##ed");
  });
});

describe("tokenizer: loading and saving", () => {
  let tmp = "";
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tokenizer-test-"));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  const sameEncodings = (x: BertTokenizer, y: BertTokenizer) => {
    for (const text of cases.texts) assert.deepEqual(x.encode(text), y.encode(text), JSON.stringify(text));
    cases.pairs.forEach(([a, b]) => assert.deepEqual(x.encode(a, { pair: b }), y.encode(a, { pair: b })));
  };

  for (const [name, lowercase] of SETTINGS) {
    it(`${name}: fromTokenizerJson (file written by tokenizers) = fromVocabFile`, () => {
      const fromJson = BertTokenizer.fromTokenizerJson(path.join(FIXTURES, `hf-tokenizer-${name}.json`));
      const fromVocab = BertTokenizer.fromVocabFile(VOCAB, { lowercase });
      assert.equal(fromJson.normalizerOptions.lowercase, lowercase);
      assert.deepEqual(fromJson.vocab, fromVocab.vocab);
      sameEncodings(fromJson, fromVocab);
    });

    it(`${name}: save → fromFolder round trip`, () => {
      const dir = path.join(tmp, name);
      const original = BertTokenizer.fromVocabFile(VOCAB, { lowercase, modelMaxLength: 128 });
      original.save(dir);
      assert.deepEqual(fs.readdirSync(dir).sort(), ["special_tokens_map.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt"]);
      assert.equal(fs.readFileSync(path.join(dir, "vocab.txt"), "utf8"), fs.readFileSync(VOCAB, "utf8"));
      const config = JSON.parse(fs.readFileSync(path.join(dir, "tokenizer_config.json"), "utf8")) as Record<string, unknown>;
      assert.equal(config.tokenizer_class, "BertTokenizer");
      assert.equal(config.do_lower_case, lowercase);
      assert.equal(config.model_max_length, 128);
      assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, "special_tokens_map.json"), "utf8")), {
        cls_token: "[CLS]",
        mask_token: "[MASK]",
        pad_token: "[PAD]",
        sep_token: "[SEP]",
        unk_token: "[UNK]",
      });
      const loaded = BertTokenizer.fromFolder(dir);
      assert.equal(loaded.modelMaxLength, 128);
      sameEncodings(loaded, original);
      // Without tokenizer.json the folder still loads, from vocab.txt + do_lower_case.
      fs.rmSync(path.join(dir, "tokenizer.json"));
      const fromVocabTxt = BertTokenizer.fromFolder(dir);
      assert.equal(fromVocabTxt.normalizerOptions.lowercase, lowercase);
      sameEncodings(fromVocabTxt, original);
    });
  }

  it("rejects tokenizer.json files that are not BERT WordPiece", () => {
    const json = readJson<Record<string, unknown>>("hf-tokenizer-lowercase.json");
    const file = path.join(tmp, "bpe.json");
    fs.writeFileSync(file, JSON.stringify({ ...json, model: { type: "BPE", vocab: {}, merges: [] } }));
    assert.throws(() => BertTokenizer.fromTokenizerJson(file), /model type BPE/);
  });
});

describe("tokenizer: trainWordPiece", () => {
  const corpus = fs.readFileSync(path.join(FIXTURES, "corpus.txt"), "utf8").split("\n");

  it("hand example: low low low lower newest widest", () => {
    const vocab = trainWordPiece(["low low low lower newest widest"], { vocabSize: 27 });
    // Specials, the alphabet by code point, the ## forms by code point.
    assert.deepEqual(vocab.slice(0, 23), [
      "[PAD]",
      "[UNK]",
      "[CLS]",
      "[SEP]",
      "[MASK]",
      "d",
      "e",
      "i",
      "l",
      "n",
      "o",
      "r",
      "s",
      "t",
      "w",
      "##d",
      "##e",
      "##i",
      "##o",
      "##r",
      "##s",
      "##t",
      "##w",
    ]);
    // Counts: l ##o = 4 and ##o ##w = 4 (low×3, lower); the tie goes to the smaller ids, (l, ##o) → "lo".
    // Then lo ##w = 4 → "low". Then ##e ##s = 2 and ##s ##t = 2 (newest, widest): ##e < ##s → "##es",
    // then ##es ##t = 2 → "##est".
    assert.deepEqual(vocab.slice(23), ["lo", "low", "##es", "##est"]);
    // minFrequency 3 stops after the two merges seen 4 times.
    assert.deepEqual(trainWordPiece(["low low low lower newest widest"], { minFrequency: 3 }).slice(23), ["lo", "low"]);
  });

  it("specials first, vocabSize respected, every training word tokenizes without [UNK]", () => {
    for (const vocabSize of [80, 150, 400]) {
      const vocab = trainWordPiece(corpus, { vocabSize });
      assert.equal(vocab.length, vocabSize);
      assert.deepEqual(vocab.slice(0, 5), ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]);
      assert.equal(new Set(vocab).size, vocab.length);
      const tok = new BertTokenizer(vocab);
      for (const word of countWords(corpus).keys()) {
        assert.ok(!tok.tokenize(word).includes("[UNK]"), `${word} with vocabSize ${vocabSize}`);
      }
    }
    // Cased training keeps capitals.
    assert.ok(trainWordPiece(corpus, { vocabSize: 100, lowercase: false }).includes("T"));
  });

  it("limitAlphabet keeps the most frequent characters", () => {
    const vocab = trainWordPiece(["aaa bbb c"], { vocabSize: 100, limitAlphabet: 2, specialTokens: [] });
    assert.deepEqual(vocab.slice(0, 4), ["a", "b", "##a", "##b"]);
    assert.ok(!vocab.some((t) => t.includes("c")));
  });

  it("matches tokenizers' WordPieceTrainer on corpus.txt", () => {
    const hf = readJson<TrainFixture>("train.json");
    const ours = trainWordPiece(corpus, { specialTokens: [] });
    assert.equal(ours.length, hf.vocabSize);
    const nAlpha = hf.alphabet.length;
    const nCont = hf.continuation.length;
    assert.deepEqual(ours.slice(0, nAlpha), hf.alphabet);
    assert.deepEqual(ours.slice(nAlpha, nAlpha + nCont), hf.continuation); // ours are sorted, like the fixture
    assert.deepEqual(ours.slice(nAlpha + nCont, nAlpha + nCont + hf.mergedCommonPrefix.length), hf.mergedCommonPrefix);
    // The reference numbers the ## forms in hash order; given the same order, we reproduce each run exactly.
    assert.ok(hf.distinctRuns.length >= 1);
    for (const run of hf.distinctRuns) {
      const vocab = run.split(" ");
      const order = vocab.slice(nAlpha, nAlpha + nCont).map((t) => t.slice(2));
      assert.deepEqual(trainWordPiece(corpus, { specialTokens: [], continuationOrder: order }), vocab);
    }
  });

  it("trains on a million words in seconds", () => {
    // A deterministic pseudo-random corpus: 1,000,000 words, over 100,000 of them distinct.
    const syllables = ["ka", "to", "ri", "ne", "su", "ma", "lo", "pe", "di", "ga", "shi", "un", "ber", "at", "ion", "ed", "ing", "ly", "re", "co"];
    let seed = 12345;
    const rand = (n: number) => {
      // mulberry32
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n) | 0;
    };
    const lines: string[] = [];
    for (let l = 0; l < 50000; l++) {
      const words: string[] = [];
      for (let w = 0; w < 20; w++) {
        const n = 1 + rand(4);
        let word = "";
        for (let k = 0; k < n; k++) word += syllables[rand(syllables.length)];
        words.push(word);
      }
      lines.push(words.join(" ") + (rand(5) === 0 ? "." : ""));
    }
    const start = Date.now();
    const vocab = trainWordPiece(lines, { vocabSize: 5000 });
    const seconds = (Date.now() - start) / 1000;
    assert.equal(vocab.length, 5000);
    assert.ok(seconds < 30, `took ${seconds} s`);
  });
});
