/**
 * Tests for lib/io/safetensors.ts and lib/io/float16.ts against fixtures written independently by
 * scripts/fixtures/make-safetensors-fixtures.py (Python struct/json/numpy, no code of ours).
 */
import { strict as assert } from "node:assert";
import { Rng } from "../../lib/util/random";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { bf16ToF32, decodeBf16, decodeF16, encodeBf16, encodeF16, f16ToF32, f32ToBf16, f32ToF16 } from "../../lib/io/float16";
import {
  DType,
  DTYPE_SIZE,
  SafetensorsError,
  TensorInput,
  parseSafetensors,
  readSafetensors,
  readSafetensorsHeader,
  serializeSafetensors,
  writeSafetensors,
} from "../../lib/io/safetensors";

const FIXTURES = path.join(__dirname, "..", "fixtures", "safetensors");

interface ExpectedTensor {
  dtype: DType;
  shape: number[];
  data_offsets: [number, number];
  f32_bits?: string[];
  source_f32_bits?: string[];
  values?: number[];
}
interface ExpectedFile {
  file: string;
  header_length: number;
  data_length: number;
  total_length: number;
  metadata: Record<string, string> | null;
  order: string[];
  tensors: Record<string, ExpectedTensor>;
}
interface Expected {
  files: ExpectedFile[];
  conversions: {
    f32_to_16: { f32_bits: string; f16_bits: string; bf16_bits: string }[];
    f16_to_f32: { f16_bits: string; f32_bits: string }[];
    all_f16_to_f32_sha256: string;
  };
  sweep: { file: string; count: number };
}

const expected = JSON.parse(fs.readFileSync(path.join(FIXTURES, "expected.json"), "utf8")) as Expected;
const fixtureBytes = (file: string): Uint8Array => new Uint8Array(fs.readFileSync(path.join(FIXTURES, file)));

/** Float32Array holding the given hex bit patterns. */
function floatsFromBits(hexes: string[]): Float32Array {
  return new Float32Array(Uint32Array.from(hexes, (h) => parseInt(h, 16)).buffer);
}
function bitsOf(values: Float32Array): number[] {
  return Array.from(new Uint32Array(values.buffer, values.byteOffset, values.length));
}
function f32Bits(value: number): number {
  return new Uint32Array(Float32Array.of(value).buffer)[0];
}
const isF16NaN = (h: number): boolean => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
const isBf16NaN = (h: number): boolean => (h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0;

/** The inputs that produced a fixture, rebuilt from expected.json (F16/BF16 from their float32 sources). */
function fixtureInputs(file: ExpectedFile): Record<string, TensorInput> {
  const inputs: Record<string, TensorInput> = {};
  for (const name of [...file.order].reverse()) {
    // insertion order must not matter
    const t = file.tensors[name];
    const data = t.values ?? floatsFromBits(t.source_f32_bits ?? t.f32_bits ?? []);
    inputs[name] = { dtype: t.dtype, shape: t.shape, data };
  }
  return inputs;
}

/** A small seeded PRNG (the library's mulberry32), so failures reproduce. */
function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

/** Builds a file from a header written by hand (padded like the reference writer) and raw data bytes. */
function build(header: string, data: ArrayLike<number> = []): Uint8Array {
  let json = Buffer.from(header, "utf8");
  json = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, 0x20)]);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(Array.from(data), 8 + json.length);
  return out;
}

function throwsSafetensors(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof SafetensorsError, `expected a SafetensorsError, got ${String(e)}`);
    assert.match(e.message, pattern);
    return true;
  });
}

let tmp = "";
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "safetensors-test-"));
});
after(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe("safetensors: reading the reference fixtures", () => {
  for (const file of expected.files) {
    it(`${file.file} parses to the expected tensors and metadata`, () => {
      const parsed = readSafetensors(path.join(FIXTURES, file.file));
      assert.deepEqual(parsed.metadata, file.metadata ?? {});
      assert.deepEqual([...parsed.tensors.keys()], file.order, "tensors come back in file order");
      for (const [name, t] of Object.entries(file.tensors)) {
        const entry = parsed.tensors.get(name);
        assert.ok(entry, name);
        assert.equal(entry.dtype, t.dtype, name);
        assert.deepEqual(entry.shape, t.shape, name);
        if (t.f32_bits) {
          assert.ok(entry.data instanceof Float32Array, name);
          assert.deepEqual(
            bitsOf(entry.data),
            t.f32_bits.map((h) => parseInt(h, 16)),
            name,
          );
        } else {
          assert.deepEqual(Array.from(entry.data), t.values, name);
        }
      }
    });

    it(`${file.file}: readSafetensorsHeader gives offsets and sizes without reading data`, () => {
      const header = readSafetensorsHeader(path.join(FIXTURES, file.file));
      assert.equal(header.headerLength, file.header_length);
      assert.equal(header.dataStart, 8 + file.header_length);
      assert.equal(header.dataLength, file.data_length);
      assert.deepEqual([...header.tensors.keys()], file.order);
      for (const [name, t] of Object.entries(file.tensors)) {
        assert.deepEqual(header.tensors.get(name), { dtype: t.dtype, shape: t.shape, dataOffsets: t.data_offsets });
      }
    });
  }

  it("parses from a Node Buffer and from an unaligned window into a larger buffer", () => {
    const original = fixtureBytes("reference.safetensors");
    const want = parseSafetensors(original);
    assert.deepEqual(parseSafetensors(fs.readFileSync(path.join(FIXTURES, "reference.safetensors"))), want);
    const padded = new Uint8Array(original.length + 3);
    padded.set(original, 3);
    assert.deepEqual(parseSafetensors(padded.subarray(3)), want);
  });

  it("decodes the typed arrays documented for each dtype, including a scalar and an empty tensor", () => {
    const { tensors } = readSafetensors(path.join(FIXTURES, "reference.safetensors"));
    const ids = tensors.get("position_ids");
    assert.ok(ids?.dtype === "I64" && ids.data instanceof Int32Array);
    assert.deepEqual(Array.from(ids.data), [0, -1, 2147483647, -2147483648, 30522]);
    const mask = tensors.get("attention_mask");
    assert.ok(mask?.data instanceof Uint8Array);
    assert.deepEqual(tensors.get("scale"), { dtype: "F32", shape: [], data: Float32Array.of(0.125) });
    assert.deepEqual(tensors.get("empty"), { dtype: "F32", shape: [0, 4], data: new Float32Array(0) });
    assert.ok(tensors.has("encoder.norm.\u03b3"), "UTF-8 tensor names survive");
  });
});

describe("safetensors: writing", () => {
  for (const file of expected.files) {
    it(`serializing the tensors of ${file.file} reproduces the reference bytes exactly`, () => {
      const bytes = serializeSafetensors(fixtureInputs(file), file.metadata ?? undefined);
      assert.equal(bytes.length, file.total_length);
      assert.deepEqual(Buffer.from(bytes), Buffer.from(fixtureBytes(file.file)));
    });

    it(`${file.file}: parse then serialize gives the same bytes back`, () => {
      const original = fixtureBytes(file.file);
      const parsed = parseSafetensors(original);
      const again = serializeSafetensors(parsed.tensors, file.metadata ? parsed.metadata : undefined);
      assert.deepEqual(Buffer.from(again), Buffer.from(original));
    });
  }

  it("lays out data by dtype (widest first) then name in code-point order, and pads the header with spaces", () => {
    const bytes = serializeSafetensors({
      "\u{1F600}": { dtype: "U8", shape: [1], data: [1] },
      "\uFFFD": { dtype: "U8", shape: [1], data: [2] },
      "\u00e9": { dtype: "U8", shape: [1], data: [3] },
      b: { dtype: "U8", shape: [1], data: [4] },
      z: { dtype: "I64", shape: [1], data: [5] },
      a: { dtype: "F16", shape: [1], data: [6] },
    });
    const header = parseSafetensors(bytes).tensors;
    assert.deepEqual([...header.keys()], ["z", "a", "b", "\u00e9", "\uFFFD", "\u{1F600}"]);
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    assert.equal(n % 8, 0);
    const text = Buffer.from(bytes.subarray(8, 8 + n)).toString("utf8");
    assert.match(text, /^\{"z":\{"dtype":"I64","shape":\[1\],"data_offsets":\[0,8\]\},"a":/);
    assert.match(text, /\} *$/);
  });

  it("writes an empty file and metadata exactly as the format prescribes", () => {
    const empty = serializeSafetensors({});
    assert.deepEqual(Buffer.from(empty), Buffer.concat([Buffer.from([8, 0, 0, 0, 0, 0, 0, 0]), Buffer.from("{}      ")]));
    const meta = serializeSafetensors({}, { framework: "pt" });
    const header = '{"__metadata__":{"framework":"pt"}}     ';
    assert.deepEqual(Buffer.from(meta), Buffer.concat([Buffer.from([40, 0, 0, 0, 0, 0, 0, 0]), Buffer.from(header)]));
    assert.deepEqual(parseSafetensors(meta), { tensors: new Map(), metadata: { framework: "pt" } });
  });

  it("round-trips random data for every dtype, through a file", () => {
    const random = rng(42);
    const count = 257;
    const pick = (f: () => number): number[] => Array.from({ length: count }, f);
    const int = (lo: number, hi: number) => () => lo + Math.floor(random() * (hi - lo + 1));
    // 16-bit floats: random non-NaN bit patterns, so every value is exactly representable.
    const randomHalf = (isNaN16: (h: number) => boolean): Uint16Array => {
      const out = new Uint16Array(count);
      for (let i = 0; i < count; i++)
        do out[i] = Math.floor(random() * 65536);
        while (isNaN16(out[i]));
      return out;
    };
    const f16Values = decodeF16(randomHalf(isF16NaN));
    const bf16Values = decodeBf16(randomHalf(isBf16NaN));
    const f32Values = new Float32Array(pick(() => (random() - 0.5) * 2 ** (random() * 200 - 100)));
    const f64Values = new Float64Array(pick(() => (random() - 0.5) * 1e6));
    const inputs: Record<string, TensorInput> = {
      f32: { shape: [count], data: f32Values },
      f64: { dtype: "F64", shape: [1, count], data: f64Values },
      f16: { dtype: "F16", shape: [count, 1], data: f16Values },
      bf16: { dtype: "BF16", shape: [count], data: bf16Values },
      i64: { dtype: "I64", shape: [count], data: pick(int(-(2 ** 31), 2 ** 31 - 1)) },
      i32: { dtype: "I32", shape: [count], data: Int32Array.from(pick(int(-(2 ** 31), 2 ** 31 - 1))) },
      i16: { dtype: "I16", shape: [count], data: pick(int(-32768, 32767)) },
      i8: { dtype: "I8", shape: [count], data: Int8Array.from(pick(int(-128, 127))) },
      u8: { dtype: "U8", shape: [count], data: pick(int(0, 255)) },
      bool: { dtype: "BOOL", shape: [count], data: pick(int(0, 1)) },
      scalar: { dtype: "BF16", shape: [], data: [1.5] },
      none: { dtype: "I16", shape: [3, 0, 2], data: [] },
    };
    const file = path.join(tmp, "random.safetensors");
    writeSafetensors(file, inputs, { note: "random", format: "pt" });
    const back = readSafetensors(file);
    assert.deepEqual(back.metadata, { format: "pt", note: "random" });
    for (const [name, input] of Object.entries(inputs)) {
      const entry = back.tensors.get(name);
      assert.ok(entry, name);
      assert.equal(entry.dtype, input.dtype ?? "F32", name);
      assert.deepEqual(entry.shape, input.shape, name);
      const want = input.dtype === "F64" ? Array.from(input.data as Float64Array, Math.fround) : Array.from(input.data as ArrayLike<number>);
      assert.deepEqual(Array.from(entry.data), want, name);
    }
    // The file's offsets and sizes agree with what a header-only read reports.
    const header = readSafetensorsHeader(file);
    for (const [name, info] of header.tensors) {
      const [begin, end] = info.dataOffsets;
      assert.equal(begin % DTYPE_SIZE[info.dtype], 0, `${name} is aligned`);
      assert.equal(end - begin, inputs[name].data.length * DTYPE_SIZE[info.dtype], name);
    }
  });

  it("writes I64 from BigInt64Array and from large safe integers", () => {
    const bytes = serializeSafetensors({
      big: { dtype: "I64", shape: [3], data: BigInt64Array.of(-5n, 2n ** 40n, 7n) },
      safe: { dtype: "I64", shape: [2], data: [-(2 ** 40) - 3, 2 ** 52 + 1] },
    });
    const view = new DataView(bytes.buffer);
    const dataStart = 8 + Number(view.getBigUint64(0, true));
    // Reading these back would throw (2^40 does not fit in int32), so check the raw int64 words.
    const words = [0, 1, 2, 3, 4].map((i) => view.getBigInt64(dataStart + 8 * i, true));
    assert.deepEqual(words, [-5n, 2n ** 40n, 7n, -(2n ** 40n) - 3n, 2n ** 52n + 1n]);
  });

  it("refuses values that do not fit the dtype instead of wrapping them", () => {
    const cases: [TensorInput, RegExp][] = [
      [{ dtype: "I8", shape: [2], data: [1, 200] }, /value 200 at index 1 cannot be stored as I8 \(needs an integer from -128 to 127\)/],
      [{ dtype: "I32", shape: [1], data: [1.5] }, /value 1.5 at index 0 cannot be stored as I32/],
      [{ dtype: "U8", shape: [1], data: Float32Array.of(-1) }, /cannot be stored as U8/],
      [{ dtype: "BOOL", shape: [1], data: Uint8Array.of(2) }, /cannot be stored as BOOL \(needs 0 or 1\)/],
      [{ dtype: "I64", shape: [1], data: [2 ** 53] }, /cannot be stored as I64/],
      [{ dtype: "F32", shape: [1], data: BigInt64Array.of(1n) }, /BigInt64Array data can only be written as I64/],
      [{ shape: [2, 2], data: [1, 2, 3] }, /shape \[2, 2\] has 4 elements but data has 3/],
      [{ shape: [-1], data: [] }, /shape must be an array of non-negative integers/],
      [{ dtype: "F8" as DType, shape: [1], data: [1] }, /unknown dtype "F8"/],
    ];
    for (const [input, pattern] of cases) throwsSafetensors(() => serializeSafetensors({ t: input }), pattern);
    throwsSafetensors(() => serializeSafetensors({ __metadata__: { shape: [], data: [1] } }), /reserved for metadata/);
    const notString = { n: 1 } as unknown as Record<string, string>;
    throwsSafetensors(() => serializeSafetensors({}, notString), /metadata "n" must be a string/);
  });

  it("writes atomically, replaces files, and never clobbers a directory", () => {
    const file = path.join(tmp, "atomic.safetensors");
    writeSafetensors(file, { a: { shape: [1], data: [1] } });
    writeSafetensors(file, { b: { shape: [2], data: [2, 3] } });
    assert.deepEqual([...readSafetensors(file).tensors.keys()], ["b"]);
    // A failed serialization leaves the previous file untouched and no temporary files behind.
    throwsSafetensors(() => writeSafetensors(file, { c: { dtype: "U8", shape: [1], data: [300] } }), /cannot be stored as U8/);
    assert.deepEqual([...readSafetensors(file).tensors.keys()], ["b"]);
    assert.deepEqual(
      fs.readdirSync(tmp).filter((f) => f.includes("atomic")),
      ["atomic.safetensors"],
    );

    const dir = path.join(tmp, "a-directory");
    fs.mkdirSync(dir);
    throwsSafetensors(() => writeSafetensors(dir, { a: { shape: [1], data: [1] } }), /is a directory; refusing to replace it/);
    assert.ok(fs.statSync(dir).isDirectory());
    throwsSafetensors(() => readSafetensors(dir), /is a directory, not a safetensors file/);
    throwsSafetensors(() => writeSafetensors(path.join(tmp, "missing", "x.safetensors"), {}), /cannot write: directory ".*missing" does not exist/);
  });
});

describe("safetensors: corrupt files give specific errors", () => {
  const valid = fixtureBytes("reference.safetensors");
  const ref = expected.files[0];
  const dataStart = 8 + ref.header_length;

  it("names the file in every message", () => {
    const file = path.join(tmp, "short.safetensors");
    fs.writeFileSync(file, valid.subarray(0, 5));
    for (const read of [readSafetensors, readSafetensorsHeader]) {
      assert.throws(
        () => read(file),
        (e: unknown) => {
          assert.ok(e instanceof SafetensorsError);
          assert.equal(e.source, file);
          assert.ok(e.message.startsWith(`${file}: file is too short to be a safetensors file (5 bytes`), e.message);
          return true;
        },
      );
    }
    throwsSafetensors(() => parseSafetensors(valid.subarray(0, 5), { source: "model.bin" }), /^model\.bin: file is too short/);
    throwsSafetensors(() => parseSafetensors(new Uint8Array(0)), /^safetensors: file is too short .*\(0 bytes/);
  });

  it("truncating a valid file anywhere is reported for what it cut", () => {
    const cuts = [0, 3, 7, 8, 9, 100, dataStart - 1, dataStart, dataStart + 1, dataStart + 40, valid.length - 1];
    for (const cut of cuts) {
      const bytes = valid.subarray(0, cut);
      const pattern =
        cut < 8
          ? /file is too short/
          : cut < dataStart
            ? new RegExp(`header length ${ref.header_length} is larger than the file \\(${cut - 8} bytes .*truncated or not a safetensors file`)
            : new RegExp(`file is truncated: expected ${ref.data_length} bytes of tensor data, found ${cut - dataStart}\\.`);
      throwsSafetensors(() => parseSafetensors(bytes), pattern);
      const file = path.join(tmp, `cut-${cut}.safetensors`);
      fs.writeFileSync(file, bytes);
      throwsSafetensors(() => readSafetensorsHeader(file), pattern);
    }
  });

  it("a corrupted header length is reported", () => {
    const flipped = valid.slice();
    flipped[7] = 0x80; // top byte of the u64
    throwsSafetensors(() => parseSafetensors(flipped), /header length 9223372036854776\d* is larger than the file .*truncated or not a safetensors file/);
    const shorter = valid.slice();
    new DataView(shorter.buffer).setBigUint64(0, BigInt(ref.header_length - 8), true);
    throwsSafetensors(() => parseSafetensors(shorter), /header is not valid JSON/);
  });

  it("trailing bytes after the last tensor are reported", () => {
    const longer = new Uint8Array(valid.length + 3);
    longer.set(valid);
    throwsSafetensors(
      () => parseSafetensors(longer),
      new RegExp(`3 bytes of trailing data after the last tensor \\(expected ${ref.data_length} bytes of tensor data, found ${ref.data_length + 3}\\)`),
    );
  });

  it("headers that are not UTF-8, not JSON or not an object are reported", () => {
    const bad = valid.slice();
    bad[10] = 0xff;
    throwsSafetensors(() => parseSafetensors(bad), /header \(bytes 8 to \d+\) is not valid UTF-8/);
    throwsSafetensors(() => parseSafetensors(build('{"a":')), /header is not valid JSON/);
    throwsSafetensors(() => parseSafetensors(build("[1, 2]")), /header must be a JSON object .*got an array/);
    throwsSafetensors(() => parseSafetensors(build("null")), /header must be a JSON object .*got null/);
    throwsSafetensors(() => parseSafetensors(build('"x"')), /header must be a JSON object .*got a string/);
  });

  it("bad tensor entries are reported with the tensor's name", () => {
    const f32x2 = new Uint8Array(8);
    const entry = (fields: string): Uint8Array => build(`{"w":{${fields}}}`, f32x2);
    const cases: [Uint8Array, RegExp][] = [
      [build('{"w":5}'), /tensor "w": entry must be an object/],
      [entry('"shape":[2],"data_offsets":[0,8]'), /tensor "w": entry is missing "dtype"/],
      [entry('"dtype":"F32","data_offsets":[0,8]'), /tensor "w": entry is missing "shape"/],
      [entry('"dtype":"F32","shape":[2]'), /tensor "w": entry is missing "data_offsets"/],
      [entry('"dtype":"Q4","shape":[2],"data_offsets":[0,8]'), /tensor "w": unknown dtype "Q4" \(supported: F64, I64, F32/],
      [entry('"dtype":7,"shape":[2],"data_offsets":[0,8]'), /tensor "w": unknown dtype 7/],
      [entry('"dtype":"U16","shape":[4],"data_offsets":[0,8]'), /dtype "U16" is valid safetensors but not supported/],
      [entry('"dtype":"F32","shape":[-2],"data_offsets":[0,8]'), /tensor "w": shape must be an array of non-negative integers/],
      [entry('"dtype":"F32","shape":[2.5],"data_offsets":[0,8]'), /shape must be an array of non-negative integers/],
      [entry('"dtype":"F32","shape":[2],"data_offsets":[-1,8]'), /tensor "w": data_offsets \[-1,8\] are out of range/],
      [entry('"dtype":"F32","shape":[2],"data_offsets":[0]'), /data_offsets \[0\] are out of range/],
      [entry('"dtype":"F32","shape":[2],"data_offsets":[0,1e300]'), /are out of range/],
      [entry('"dtype":"F32","shape":[2],"data_offsets":[8,0]'), /tensor "w": data_offsets \[8, 0\] are reversed/],
      [
        entry('"dtype":"F32","shape":[3],"data_offsets":[0,8]'),
        /tensor "w": data_offsets \[0, 8\] span 8 bytes, but shape \[3\] of F32 needs 12 \(3 elements × 4 bytes\)/,
      ],
      [build('{"__metadata__":{"a":1}}'), /"__metadata__" values must be strings; "a" is a number/],
      [build('{"__metadata__":[]}'), /"__metadata__" must be an object of strings, got an array/],
    ];
    for (const [bytes, pattern] of cases) throwsSafetensors(() => parseSafetensors(bytes), pattern);
  });

  it("offsets that overlap, leave holes or run past the data are reported", () => {
    const f32 = (name: string, begin: number, end: number): string =>
      `"${name}":{"dtype":"F32","shape":[${(end - begin) / 4}],"data_offsets":[${begin},${end}]}`;
    const data = (n: number): Uint8Array => new Uint8Array(n);
    throwsSafetensors(
      () => parseSafetensors(build(`{${f32("a", 0, 8)},${f32("b", 4, 12)}}`, data(12))),
      /tensor "b": data_offsets \[4, 12\] overlap tensor "a" \[0, 8\]/,
    );
    throwsSafetensors(
      () => parseSafetensors(build(`{${f32("a", 0, 8)},${f32("b", 12, 20)}}`, data(20))),
      /tensor "b": data_offsets \[12, 20\] leave a hole of 4 unused bytes after tensor "a" \(which ends at 8\)/,
    );
    throwsSafetensors(
      () => parseSafetensors(build(`{${f32("a", 4, 12)}}`, data(12))),
      /tensor "a": data_offsets \[4, 12\] leave a hole of 4 unused bytes after the start of the data/,
    );
    throwsSafetensors(
      () => parseSafetensors(build(`{${f32("a", 0, 8)},${f32("b", 8, 16)}}`, data(12))),
      /file is truncated: expected 16 bytes of tensor data, found 12\./,
    );
    // Two empty tensors at the same offset are fine, and so is a file with only empty tensors.
    const ok = parseSafetensors(build(`{${f32("a", 0, 0)},${f32("b", 0, 0)},${f32("c", 0, 4)}}`, data(4)));
    assert.deepEqual([...ok.tensors.keys()], ["a", "b", "c"]);
  });

  it("values the reader cannot represent are reported", () => {
    const big = new Uint8Array(8);
    new DataView(big.buffer).setBigInt64(0, 2n ** 31n, true);
    throwsSafetensors(
      () => parseSafetensors(build('{"ids":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}', big)),
      /tensor "ids" \(I64\) holds 2147483648 at index 0, which does not fit in int32/,
    );
    throwsSafetensors(
      () => parseSafetensors(build('{"m":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]}}', [1, 2])),
      /tensor "m" \(BOOL\) holds byte 2 at index 1; booleans must be 0 or 1/,
    );
  });
});

describe("float16 / bfloat16 conversions against numpy", () => {
  const cases = expected.conversions.f32_to_16;

  it("f32ToF16 and f32ToBf16 match numpy on the edge cases", () => {
    const inputs = floatsFromBits(cases.map((c) => c.f32_bits));
    const viaArray16 = encodeF16(inputs);
    const viaArrayBf = encodeBf16(inputs);
    cases.forEach((c, i) => {
      const want16 = parseInt(c.f16_bits, 16);
      const wantBf = parseInt(c.bf16_bits, 16);
      const label = `input ${c.f32_bits} (${inputs[i]})`;
      if (isF16NaN(want16)) {
        assert.ok(isF16NaN(f32ToF16(inputs[i])) && isF16NaN(viaArray16[i]), label);
        assert.ok(isBf16NaN(f32ToBf16(inputs[i])) && isBf16NaN(viaArrayBf[i]), label);
        return;
      }
      assert.equal(f32ToF16(inputs[i]), want16, `f16 of ${label}`);
      assert.equal(viaArray16[i], want16, `f16 (array) of ${label}`);
      assert.equal(f32ToBf16(inputs[i]), wantBf, `bf16 of ${label}`);
      assert.equal(viaArrayBf[i], wantBf, `bf16 (array) of ${label}`);
      // Widening back is exact: bfloat16 is the top half of the float32 pattern.
      assert.equal(f32Bits(bf16ToF32(wantBf)), (wantBf << 16) >>> 0);
    });
  });

  it("spot checks: 65504 is the largest float16, 65520 overflows, 1/3 and subnormals round correctly", () => {
    assert.equal(f32ToF16(65504), 0x7bff);
    assert.equal(f32ToF16(65519.99), 0x7bff);
    assert.equal(f32ToF16(65520), 0x7c00);
    assert.equal(f32ToF16(-65520), 0xfc00);
    assert.equal(f32ToF16(0), 0x0000);
    assert.equal(f32ToF16(-0), 0x8000);
    assert.equal(f32ToF16(1 / 3), 0x3555);
    assert.equal(f32ToF16(2 ** -24), 0x0001);
    assert.equal(f32ToF16(2 ** -25), 0x0000); // a tie: rounds to even (zero)
    assert.equal(f32ToF16(3 * 2 ** -25), 0x0002); // a tie between 1 and 2 subnormal steps: even is 2
    assert.equal(f32ToF16(NaN), 0x7e00);
    assert.equal(f16ToF32(0x7bff), 65504);
    assert.equal(f16ToF32(0x0001), 2 ** -24);
    assert.ok(Number.isNaN(f16ToF32(0x7e00)));
    assert.equal(Object.is(f16ToF32(0x8000), -0), true);
    assert.equal(f32ToBf16(1 / 3), 0x3eab);
    assert.equal(f32ToBf16(NaN), 0x7fc0);
    assert.equal(bf16ToF32(0x3f80), 1);
  });

  it("numbers are rounded once, not twice (float64 → float32 → 16 bits would get these wrong)", () => {
    // 1 + 2^-11 + 2^-40 is just above a float16 tie, but rounds to the tie itself in float32.
    assert.equal(Math.fround(1 + 2 ** -11 + 2 ** -40), 1 + 2 ** -11);
    assert.equal(f32ToF16(1 + 2 ** -11 + 2 ** -40), 0x3c01);
    assert.equal(f32ToF16(1 + 2 ** -11 - 2 ** -40), 0x3c00);
    assert.equal(f32ToBf16(1 + 2 ** -8 + 2 ** -40), 0x3f81);
    assert.equal(f32ToBf16(1 + 2 ** -8 - 2 ** -40), 0x3f80);
    assert.deepEqual(Array.from(encodeF16(Float64Array.of(1 + 2 ** -11 + 2 ** -40))), [0x3c01]);
    assert.equal(f32ToF16(1e300), 0x7c00);
    assert.equal(f32ToBf16(1e300), 0x7f80);
    assert.equal(f32ToBf16(-1e-300), 0x8000);
  });

  it("f16ToF32 matches numpy on edge cases and on all 65536 patterns", () => {
    for (const c of expected.conversions.f16_to_f32) {
      assert.equal(f32Bits(f16ToF32(parseInt(c.f16_bits, 16))), parseInt(c.f32_bits, 16), c.f16_bits);
    }
    const all = new Uint16Array(65536).map((_, i) => i);
    const decoded = new Uint32Array(decodeF16(all).buffer);
    for (let h = 0; h < 65536; h++) if (isF16NaN(h)) decoded[h] = 0;
    const digest = crypto.createHash("sha256").update(new Uint8Array(decoded.buffer)).digest("hex");
    assert.equal(digest, expected.conversions.all_f16_to_f32_sha256);
  });

  it("encoding matches numpy on 2048 random float32 patterns, most of them exact ties", () => {
    const blob = fixtureBytes(expected.sweep.file);
    const n = expected.sweep.count;
    const words = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
    const inputs = new Float32Array(n);
    const inputBits = new Uint32Array(inputs.buffer);
    for (let i = 0; i < n; i++) inputBits[i] = words.getUint32(4 * i, true);
    const f16 = encodeF16(inputs);
    const bf16 = encodeBf16(inputs);
    let mismatches = 0;
    for (let i = 0; i < n; i++) {
      const want16 = words.getUint16(4 * n + 2 * i, true);
      const wantBf = words.getUint16(6 * n + 2 * i, true);
      const ok16 = isF16NaN(want16) ? isF16NaN(f16[i]) : f16[i] === want16 && f32ToF16(inputs[i]) === want16;
      const okBf = isBf16NaN(wantBf) ? isBf16NaN(bf16[i]) : bf16[i] === wantBf && f32ToBf16(inputs[i]) === wantBf;
      if (!ok16 || !okBf) {
        mismatches++;
        if (mismatches < 5) console.log(`0x${inputBits[i].toString(16)}: f16 ${f16[i]} vs ${want16}, bf16 ${bf16[i]} vs ${wantBf}`);
      }
    }
    assert.equal(mismatches, 0);
  });
});
