/**
 * Reading and writing `.safetensors` files, the format Hugging Face checkpoints are shipped in.
 *
 * A safetensors file has three parts:
 *
 * ```
 *   ┌──────────────┬───────────────────────────────┬──────────────────────────────────┐
 *   │ N (8 bytes)  │ header: N bytes of UTF-8 JSON │ tensor data (raw little-endian)  │
 *   │ u64, little- │ {"__metadata__": {...},       │ tensor after tensor, no gaps     │
 *   │ endian       │  "name": {dtype, shape,       │                                  │
 *   │              │   data_offsets: [begin, end]}}│                                  │
 *   └──────────────┴───────────────────────────────┴──────────────────────────────────┘
 * ```
 *
 * `data_offsets` count bytes from the start of the data part. The tensors must tile it exactly: no overlaps,
 * no holes, nothing after the last one. Each tensor is stored row-major (C order). That is the whole format:
 * no code runs when a file is loaded, which is why it replaced Python pickles for model weights.
 *
 * What we return when reading (the typed array a `TensorEntry` carries, see {@link DecodedArray}):
 *
 * - `F32`, `F16`, `BF16`, `F64` → `Float32Array`. 16-bit floats are widened exactly; `F64` is rounded to
 *   float32, which is all TensorFlow.js computes in.
 * - `I64` → `Int32Array`, with a check: a value outside the int32 range throws (TensorFlow.js has no int64,
 *   and the int64 tensors in real checkpoints, such as `position_ids`, are small).
 * - `I32` → `Int32Array`, `I16` → `Int16Array`, `I8` → `Int8Array`, `U8` → `Uint8Array`,
 *   `BOOL` → `Uint8Array` of 0s and 1s.
 *
 * When writing, tensors are laid out the way the reference Rust writer (which `safetensors.torch.save_file`
 * calls) lays them out: ordered by dtype, widest alignment first (I64, F64, F32, I32, BF16, F16, I16, I8, U8,
 * BOOL), then by name; the header lists `__metadata__` first and then the tensors in that order, as compact
 * JSON padded with spaces to a multiple of 8 bytes. For the same tensors our bytes are therefore identical
 * to the reference writer's (metadata keys are sorted here; the Rust writer emits them in hash order, so
 * files with several metadata entries can differ in that order only).
 *
 * This module deliberately does not import TensorFlow.js: it turns bytes into typed arrays and back.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { decodeBf16, decodeF16, encodeBf16, encodeF16 } from "./float16";

// ---------------------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------------------

/** The element types this module reads and writes (safetensors' own spelling). */
export type DType = "F32" | "F16" | "BF16" | "F64" | "I64" | "I32" | "I16" | "I8" | "U8" | "BOOL";

/** Bytes per element. */
export const DTYPE_SIZE: Readonly<Record<DType, number>> = {
  F64: 8,
  I64: 8,
  F32: 4,
  I32: 4,
  BF16: 2,
  F16: 2,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

/**
 * Order of the reference writer's `Dtype` enum; data is laid out from the highest rank down, so every
 * tensor starts at a multiple of its element size.
 */
const DTYPE_RANK: Readonly<Record<DType, number>> = {
  BOOL: 0,
  U8: 1,
  I8: 2,
  I16: 3,
  F16: 4,
  BF16: 5,
  I32: 6,
  F32: 7,
  F64: 8,
  I64: 9,
};

/** Dtypes that are valid safetensors but that this module does not decode (for a clearer error). */
const OTHER_SAFETENSORS_DTYPES = ["U16", "U32", "U64", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ", "F4", "F6_E2M3", "F6_E3M2", "C64"];

/** The typed array the reader returns for each dtype. */
export interface DecodedArrayByDType {
  F32: Float32Array;
  F16: Float32Array;
  BF16: Float32Array;
  F64: Float32Array;
  I64: Int32Array;
  I32: Int32Array;
  I16: Int16Array;
  I8: Int8Array;
  U8: Uint8Array;
  BOOL: Uint8Array;
}
export type DecodedArray = DecodedArrayByDType[DType];

/**
 * One decoded tensor. `dtype` is how it was stored; checking it narrows `data`
 * (`if (t.dtype === "I64") t.data` is an `Int32Array`).
 */
export type TensorEntry = { [D in DType]: { dtype: D; shape: number[]; data: DecodedArrayByDType[D] } }[DType];

/** Where a tensor lives in the file, as the header describes it. */
export interface TensorInfo {
  dtype: DType;
  shape: number[];
  /** [begin, end) in bytes, relative to the start of the data part (byte `dataStart` of the file). */
  dataOffsets: [number, number];
}

/** The parsed, validated header of a safetensors file. */
export interface SafetensorsHeader {
  /** Tensors in file order (by data offset). */
  tensors: Map<string, TensorInfo>;
  /** The `__metadata__` object, or `{}` when the file has none. */
  metadata: Record<string, string>;
  /** N, the header length in bytes (padding included). */
  headerLength: number;
  /** Byte position in the file where tensor data starts: 8 + N. */
  dataStart: number;
  /** Bytes of tensor data: the end of the last tensor. */
  dataLength: number;
}

/** A parsed file: every tensor decoded, in file order. */
export interface SafetensorsFile {
  tensors: Map<string, TensorEntry>;
  metadata: Record<string, string>;
}

/** Values to write. Any typed array or number[]; `BigInt64Array` only for `I64`. */
export type TensorValues = ArrayLike<number> | BigInt64Array;

/**
 * A tensor to write. `dtype` defaults to `F32`. `data` holds values, row-major, even for F16/BF16 (a
 * Uint16Array is read as numbers, not as 16-bit patterns). `TensorEntry` objects fit here, so files round-trip.
 */
export interface TensorInput {
  dtype?: DType;
  shape: readonly number[];
  data: TensorValues;
}

/** Every problem with a file or an argument is reported with this class; `source` is the file, if known. */
export class SafetensorsError extends Error {
  override readonly name = "SafetensorsError";
  constructor(
    message: string,
    readonly source?: string,
  ) {
    super(message);
  }
}

/** Safetensors' reference implementation refuses headers above 100 MB; so do we. */
const MAX_HEADER_LENGTH = 100_000_000;

// ---------------------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------------------

/**
 * Parses a whole safetensors file held in memory. `source` (usually the path) is named in error messages.
 * Data is copied out of `bytes`, so the result does not keep the file buffer alive.
 */
export function parseSafetensors(bytes: Uint8Array, options: { source?: string } = {}): SafetensorsFile {
  const fail = failer(options.source);
  if (bytes.length < 8) fail(tooShort(bytes.length));
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = checkHeaderLength(view.getBigUint64(0, true), bytes.length, fail);
  const header = parseHeader(bytes.subarray(8, 8 + headerLength), bytes.length, fail);
  const data = bytes.subarray(header.dataStart);
  const tensors = new Map<string, TensorEntry>();
  for (const [name, info] of header.tensors) {
    const [begin, end] = info.dataOffsets;
    // A fresh copy: aligned for typed-array views, and safe even when `bytes` is a Node Buffer (whose
    // slice() shares memory) or an unaligned window into a larger buffer.
    tensors.set(name, decodeTensor(name, info, new Uint8Array(data.subarray(begin, end)), fail));
  }
  return { tensors, metadata: header.metadata };
}

/** Reads and decodes a safetensors file. */
export function readSafetensors(file: string): SafetensorsFile {
  refuseDirectory(file);
  return parseSafetensors(fs.readFileSync(file), { source: file });
}

/**
 * Reads and validates only the header: names, dtypes, shapes and offsets, without loading tensor data.
 * Cheap even for multi-gigabyte checkpoints. The file size is checked against the offsets, so a truncated
 * download is caught here too.
 */
export function readSafetensorsHeader(file: string): SafetensorsHeader {
  refuseDirectory(file);
  const fail = failer(file);
  const fd = fs.openSync(file, "r");
  try {
    const size = fs.fstatSync(fd).size;
    if (size < 8) fail(tooShort(size));
    const prefix = readExactly(fd, 0, 8);
    const headerLength = checkHeaderLength(new DataView(prefix.buffer).getBigUint64(0, true), size, fail);
    return parseHeader(readExactly(fd, 8, headerLength), size, fail);
  } finally {
    fs.closeSync(fd);
  }
}

function readExactly(fd: number, position: number, length: number): Uint8Array {
  const buffer = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, buffer, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done === length ? buffer : buffer.subarray(0, done);
}

type Fail = (message: string) => never;

/** Builds the error thrower for one file: every message starts with the file name when we know it. */
function failer(source: string | undefined): Fail {
  return (message: string): never => {
    throw new SafetensorsError(source === undefined ? `safetensors: ${message}` : `${source}: ${message}`, source);
  };
}

function tooShort(size: number): string {
  return (
    `file is too short to be a safetensors file (${size} bytes; it must start with an 8-byte header length). ` + "Check that the download or save finished."
  );
}

function checkHeaderLength(n: bigint, fileSize: number, fail: Fail): number {
  const available = fileSize - 8;
  if (n > BigInt(available)) {
    fail(`header length ${n} is larger than the file (${available} bytes follow the 8-byte length prefix): ` + "truncated or not a safetensors file.");
  }
  if (n > BigInt(MAX_HEADER_LENGTH)) {
    fail(`header length ${n} exceeds the ${MAX_HEADER_LENGTH}-byte limit safetensors allows: not a safetensors file.`);
  }
  return Number(n);
}

function refuseDirectory(file: string): void {
  if (fs.statSync(file, { throwIfNoEntry: false })?.isDirectory()) {
    throw new SafetensorsError(
      `${file}: is a directory, not a safetensors file. For a sharded checkpoint, read each ` + "file listed in its model.safetensors.index.json.",
      file,
    );
  }
}

/**
 * Decodes and validates the JSON header. `fileSize` is the size of the whole file (prefix, header and data),
 * used to check that the tensor data is exactly as long as the offsets say.
 */
function parseHeader(headerBytes: Uint8Array, fileSize: number, fail: Fail): SafetensorsHeader {
  const headerLength = headerBytes.length;
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(headerBytes);
  } catch {
    return fail(`header (bytes 8 to ${8 + headerLength}) is not valid UTF-8: the file is corrupt or not a safetensors file.`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return fail(`header is not valid JSON (${(e as Error).message}): the file is corrupt or not a safetensors file.`);
  }
  if (!isPlainObject(json)) {
    return fail(`header must be a JSON object mapping tensor names to {dtype, shape, data_offsets}, got ${describe(json)}.`);
  }

  let metadata: Record<string, string> = {};
  const infos: [string, TensorInfo][] = [];
  for (const [name, entry] of Object.entries(json)) {
    if (name === "__metadata__") metadata = parseMetadata(entry, fail);
    else infos.push([name, parseTensorInfo(name, entry, fail)]);
  }

  // The tensors must tile the data part: sorted by offset, each one starts where the previous one ended.
  infos.sort(([, a], [, b]) => a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1]);
  let expected = 0;
  let previous: [string, TensorInfo] | undefined;
  for (const [name, info] of infos) {
    const [begin, end] = info.dataOffsets;
    if (begin < expected && previous) {
      fail(
        `tensor "${name}": data_offsets [${begin}, ${end}] overlap tensor "${previous[0]}" ` +
          `[${previous[1].dataOffsets.join(", ")}]. The header is corrupt.`,
      );
    }
    if (begin > expected) {
      const after = previous ? `tensor "${previous[0]}" (which ends at ${expected})` : "the start of the data";
      fail(`tensor "${name}": data_offsets [${begin}, ${end}] leave a hole of ${begin - expected} unused bytes after ` + `${after}. The header is corrupt.`);
    }
    expected = end;
    previous = [name, info];
  }

  const dataStart = 8 + headerLength;
  const found = fileSize - dataStart;
  if (found < expected) {
    fail(`file is truncated: expected ${expected} bytes of tensor data, found ${found}. ` + "Download or save the file again.");
  }
  if (found > expected) {
    fail(
      `${found - expected} bytes of trailing data after the last tensor (expected ${expected} bytes of tensor ` +
        `data, found ${found}): the file is corrupt or something was appended to it.`,
    );
  }
  return { tensors: new Map(infos), metadata, headerLength, dataStart, dataLength: expected };
}

function parseMetadata(entry: unknown, fail: Fail): Record<string, string> {
  if (!isPlainObject(entry)) fail(`"__metadata__" must be an object of strings, got ${describe(entry)}.`);
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(entry as Record<string, unknown>)) {
    if (typeof value !== "string") fail(`"__metadata__" values must be strings; "${key}" is ${describe(value)}.`);
    Object.defineProperty(metadata, key, { value, enumerable: true, writable: true, configurable: true });
  }
  return metadata;
}

function parseTensorInfo(name: string, entry: unknown, fail: Fail): TensorInfo {
  const where = `tensor "${name}"`;
  if (!isPlainObject(entry)) fail(`${where}: entry must be an object {dtype, shape, data_offsets}, got ${describe(entry)}.`);
  const e = entry as Record<string, unknown>;
  for (const field of ["dtype", "shape", "data_offsets"]) {
    if (!(field in e)) fail(`${where}: entry is missing "${field}" (each tensor needs dtype, shape and data_offsets).`);
  }
  const dtype = e.dtype;
  if (typeof dtype !== "string" || !isDType(dtype)) {
    const supported = `supported: ${Object.keys(DTYPE_SIZE).join(", ")}`;
    if (typeof dtype === "string" && OTHER_SAFETENSORS_DTYPES.includes(dtype)) {
      fail(
        `${where}: dtype "${dtype}" is valid safetensors but not supported by this reader (${supported}). ` + "Convert the checkpoint to one of those first.",
      );
    }
    return fail(`${where}: unknown dtype ${JSON.stringify(dtype)} (${supported}).`);
  }
  const shape = e.shape;
  if (!Array.isArray(shape) || !shape.every(isSize)) {
    return fail(`${where}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}.`);
  }
  const offsets = e.data_offsets;
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isSize)) {
    return fail(`${where}: data_offsets ${JSON.stringify(offsets)} are out of range: they must be two non-negative ` + "integers [begin, end] below 2^53.");
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) fail(`${where}: data_offsets [${begin}, ${end}] are reversed (end before begin).`);
  const count = elementCount(shape as number[], (message) => fail(`${where}: ${message}`));
  const needed = count * DTYPE_SIZE[dtype];
  if (end - begin !== needed) {
    fail(
      `${where}: data_offsets [${begin}, ${end}] span ${end - begin} bytes, but shape [${shape.join(", ")}] of ` +
        `${dtype} needs ${needed} (${count} elements × ${DTYPE_SIZE[dtype]} bytes).`,
    );
  }
  return { dtype, shape: shape as number[], dataOffsets: [begin, end] };
}

/**
 * Turns one tensor's bytes into its typed array. `bytes` must be a fresh copy that nothing else uses (its
 * byteOffset 0 keeps it aligned); the returned array may share its buffer.
 */
function decodeTensor(name: string, info: TensorInfo, bytes: Uint8Array, fail: Fail): TensorEntry {
  const { dtype } = info;
  const shape = info.shape.slice();
  if (!HOST_LITTLE_ENDIAN) swapBytes(bytes, DTYPE_SIZE[dtype]);
  const { buffer } = bytes;
  const n = bytes.length / DTYPE_SIZE[dtype];
  switch (dtype) {
    case "F32":
      return { dtype, shape, data: new Float32Array(buffer, 0, n) };
    case "F64":
      return { dtype, shape, data: Float32Array.from(new Float64Array(buffer, 0, n)) };
    case "F16":
      return { dtype, shape, data: decodeF16(new Uint16Array(buffer, 0, n)) };
    case "BF16":
      return { dtype, shape, data: decodeBf16(new Uint16Array(buffer, 0, n)) };
    case "I32":
      return { dtype, shape, data: new Int32Array(buffer, 0, n) };
    case "I16":
      return { dtype, shape, data: new Int16Array(buffer, 0, n) };
    case "I8":
      return { dtype, shape, data: new Int8Array(buffer, 0, n) };
    case "U8":
      return { dtype, shape, data: bytes };
    case "BOOL": {
      const bad = bytes.findIndex((b) => b > 1);
      if (bad >= 0) fail(`tensor "${name}" (BOOL) holds byte ${bytes[bad]} at index ${bad}; booleans must be 0 or 1.`);
      return { dtype, shape, data: bytes };
    }
    case "I64": {
      // Each int64 is a (low, high) pair of 32-bit words; it fits in int32 when high is low's sign extension.
      const words = new Int32Array(buffer, 0, 2 * n);
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const low = words[2 * i];
        const high = words[2 * i + 1];
        if (high !== low >> 31) {
          const value = (BigInt(high) << 32n) | BigInt(low >>> 0);
          fail(
            `tensor "${name}" (I64) holds ${value} at index ${i}, which does not fit in int32; this reader ` +
              "returns I64 tensors as Int32Array (TensorFlow.js has no int64).",
          );
        }
        out[i] = low;
      }
      return { dtype, shape, data: out };
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------------------

/**
 * Serializes tensors (and optional string metadata) into safetensors bytes, laid out like the reference
 * writer (see the module comment). Values are converted to each tensor's dtype: F16 and BF16 round to
 * nearest even; integer dtypes require integers in range (they are never silently wrapped or truncated).
 */
export function serializeSafetensors(tensors: Record<string, TensorInput> | Map<string, TensorInput>, metadata?: Record<string, string>): Uint8Array {
  const entries = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const prepared = entries.map(([name, input]) => prepareTensor(name, input));
  prepared.sort((a, b) => DTYPE_RANK[b.dtype] - DTYPE_RANK[a.dtype] || compareCodePoints(a.name, b.name));

  // Header: __metadata__ first, then the tensors in data order. Built by hand so the key order is ours.
  const parts: string[] = [];
  if (metadata !== undefined) {
    const keys = Object.keys(metadata).sort(compareCodePoints);
    for (const key of keys) {
      if (typeof metadata[key] !== "string") {
        throw new SafetensorsError(`metadata "${key}" must be a string (safetensors metadata is string → string), ` + `got ${describe(metadata[key])}.`);
      }
    }
    parts.push(`"__metadata__":{${keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(metadata[k])}`).join(",")}}`);
  }
  let offset = 0;
  for (const t of prepared) {
    const info = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.length] };
    parts.push(`${JSON.stringify(t.name)}:${JSON.stringify(info)}`);
    offset += t.bytes.length;
  }
  const json = new TextEncoder().encode(`{${parts.join(",")}}`);
  const headerLength = Math.ceil(json.length / 8) * 8;

  const out = new Uint8Array(8 + headerLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength); // pad with spaces
  let position = 8 + headerLength;
  for (const t of prepared) {
    out.set(t.bytes, position);
    position += t.bytes.length;
  }
  return out;
}

/**
 * Writes a safetensors file atomically: the bytes go to a temporary file in the same directory, which is
 * flushed to disk and then renamed over `file`. A reader never sees a half-written file, and a failed write
 * leaves any previous file intact. Refuses to replace a directory.
 */
export function writeSafetensors(file: string, tensors: Record<string, TensorInput> | Map<string, TensorInput>, metadata?: Record<string, string>): void {
  const bytes = serializeSafetensors(tensors, metadata);
  if (fs.statSync(file, { throwIfNoEntry: false })?.isDirectory()) {
    throw new SafetensorsError(
      `${file}: is a directory; refusing to replace it with a safetensors file. ` + `Pass a file path such as ${path.join(file, "model.safetensors")}.`,
      file,
    );
  }
  const dir = path.dirname(file);
  if (!fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory()) {
    throw new SafetensorsError(`${file}: cannot write: directory "${dir}" does not exist.`, file);
  }
  const temporary = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now().toString(36)}.tmp`);
  try {
    const fd = fs.openSync(temporary, "wx");
    try {
      let done = 0;
      while (done < bytes.length) done += fs.writeSync(fd, bytes, done, bytes.length - done);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temporary, file);
  } catch (e) {
    fs.rmSync(temporary, { force: true });
    throw e;
  }
}

interface PreparedTensor {
  name: string;
  dtype: DType;
  shape: number[];
  bytes: Uint8Array;
}

/** Checks one input tensor and encodes its values as little-endian bytes of its dtype. */
function prepareTensor(name: string, input: TensorInput): PreparedTensor {
  const where = `tensor "${name}"`;
  const bad = (message: string): never => {
    throw new SafetensorsError(`${where}: ${message}`);
  };
  if (name === "__metadata__") bad(`"__metadata__" is reserved for metadata; pass metadata as the second argument.`);
  const dtype = input.dtype ?? "F32";
  if (!isDType(dtype)) bad(`unknown dtype ${JSON.stringify(dtype)} (supported: ${Object.keys(DTYPE_SIZE).join(", ")}).`);
  const shape = Array.from(input.shape);
  if (!shape.every(isSize)) bad(`shape must be an array of non-negative integers, got ${JSON.stringify(shape)}.`);
  const count = elementCount(shape, bad);
  const { data } = input;
  if (data.length !== count) {
    bad(`shape [${shape.join(", ")}] has ${count} elements but data has ${data.length}.`);
  }
  if (data instanceof BigInt64Array && dtype !== "I64") bad(`BigInt64Array data can only be written as I64, not ${dtype}.`);
  const encoded = encodeValues(dtype, data, bad);
  let bytes = new Uint8Array(encoded.buffer, encoded.byteOffset, encoded.byteLength);
  if (!HOST_LITTLE_ENDIAN) {
    bytes = bytes.slice(); // may be the caller's own array: swap a copy
    swapBytes(bytes, DTYPE_SIZE[dtype]);
  }
  return { name, dtype, shape, bytes };
}

type EncodedArray = Float32Array | Float64Array | Uint16Array | Int32Array | Int16Array | Int8Array | Uint8Array | BigInt64Array;

function encodeValues(dtype: DType, data: TensorValues, bad: (message: string) => never): EncodedArray {
  if (data instanceof BigInt64Array) return data; // dtype is I64, checked by the caller
  switch (dtype) {
    case "F32":
      return data instanceof Float32Array ? data : Float32Array.from(data);
    case "F64":
      return data instanceof Float64Array ? data : Float64Array.from(data);
    case "F16":
      return encodeF16(data);
    case "BF16":
      return encodeBf16(data);
    case "I32":
      return data instanceof Int32Array ? data : Int32Array.from(checkIntegers(data, -(2 ** 31), 2 ** 31 - 1, dtype, bad));
    case "I16":
      return data instanceof Int16Array ? data : Int16Array.from(checkIntegers(data, -(2 ** 15), 2 ** 15 - 1, dtype, bad));
    case "I8":
      return data instanceof Int8Array ? data : Int8Array.from(checkIntegers(data, -128, 127, dtype, bad));
    case "U8":
      return data instanceof Uint8Array ? data : Uint8Array.from(checkIntegers(data, 0, 255, dtype, bad));
    case "BOOL":
      return Uint8Array.from(checkIntegers(data, 0, 1, dtype, bad));
    case "I64": {
      checkIntegers(data, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, dtype, bad);
      // Split each value into (low, high) 32-bit words; floor division keeps negative numbers right.
      const words = new Uint32Array(2 * data.length);
      for (let i = 0; i < data.length; i++) {
        const high = Math.floor(data[i] / 2 ** 32);
        words[2 * i] = data[i] - high * 2 ** 32;
        words[2 * i + 1] = high >>> 0;
      }
      return new BigInt64Array(words.buffer);
    }
  }
}

/** Throws unless every value is an integer in [min, max]; returns the values unchanged. */
function checkIntegers(data: ArrayLike<number>, min: number, max: number, dtype: DType, bad: (message: string) => never): ArrayLike<number> {
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (!Number.isInteger(v) || v < min || v > max) {
      const range = dtype === "BOOL" ? "0 or 1" : `an integer from ${min} to ${max}`;
      bad(`value ${v} at index ${i} cannot be stored as ${dtype} (needs ${range}).`);
    }
  }
  return data;
}

// ---------------------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------------------

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Reverses the bytes of each `size`-byte element in place (only needed on big-endian hosts). */
function swapBytes(bytes: Uint8Array, size: number): void {
  if (size === 1) return;
  for (let i = 0; i < bytes.length; i += size) bytes.subarray(i, i + size).reverse();
}

function isDType(s: string): s is DType {
  return Object.prototype.hasOwnProperty.call(DTYPE_SIZE, s);
}

function isSize(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/** Product of the shape (1 for a scalar, 0 for an empty tensor); `fail`s if it is too large to count exactly. */
function elementCount(shape: readonly number[], fail: (message: string) => never): number {
  const count = shape.reduce((a, b) => a * b, 1);
  if (!Number.isSafeInteger(count)) fail(`shape [${shape.join(", ")}] has more elements than can be counted exactly.`);
  return count;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "object") return "an object";
  return `${typeof v === "string" ? "a string" : `a ${typeof v}`} (${JSON.stringify(v)})`;
}

/** Orders strings by Unicode code point, i.e. by their UTF-8 bytes, as Rust's `str` ordering does. */
function compareCodePoints(a: string, b: string): number {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done || y.done) return (x.done ? 0 : 1) - (y.done ? 0 : 1);
    const d = (x.value.codePointAt(0) ?? 0) - (y.value.codePointAt(0) ?? 0);
    if (d !== 0) return d;
  }
}
