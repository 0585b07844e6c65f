/**
 * Blockwise absmax quantization: the part that NF4, FP4 and int8 share (bitsandbytes' `quantize_4bit` /
 * `quantize_blockwise` skeleton).
 *
 * A weight matrix is flattened (row-major, like `tensor.reshape(-1)` in PyTorch) and cut into blocks of
 * `blocksize` consecutive values (64 by default; the last block may be shorter). Each block is scaled by
 * its own absolute maximum, so one outlier only spoils the 63 values it shares a block with, not the whole
 * tensor:
 *
 *     absmax_b = max |x_i| over block b                 (kept in fp32)
 *     s_i      = clamp(x_i · (1/absmax_b), −1, 1)        (in [−1, 1])
 *     q_i      = index of the code-book value nearest to s_i
 *     x̂_i      = code[q_i] · absmax_b                    (dequantized)
 *
 * The scaling is done exactly as the bitsandbytes kernels do it in fp32: first the reciprocal
 * r = fp32(1/absmax), then the product fp32(x·r). (In JavaScript, `Math.fround` of a double product or
 * quotient of two fp32 numbers is the correctly rounded fp32 result, so this is bit-exact.)
 *
 * A block of zeros has absmax 0. bitsandbytes then multiplies by 1/0 = ∞ and gets 0·∞ = NaN, which its
 * kernels map to *some* code; since that code is multiplied by absmax = 0 on the way back, the
 * dequantized values are 0 anyway. Here the reciprocal of 0 is taken to be 0, so every value of such a
 * block scales to 0 and gets the code for zero: no NaN anywhere, dequantized values exactly 0.
 *
 * Packing 4-bit codes: two codes per byte, the FIRST element in the HIGH nibble (`q[0] << 4 | q[1]`), as
 * bitsandbytes' CUDA kernels and its default (PyTorch) backend do. An odd-length tensor gets one padding
 * value 0.0 whose code (NF4: 7, FP4: 0) fills the low nibble of its last byte — bitsandbytes pads the same
 * way (its kernels load missing elements as 0.0), so even the padding nibble is byte-exact.
 */

/** The data types of this module. */
export type QuantType = "nf4" | "fp4" | "int8";

/** bitsandbytes' default block size for 4-bit weights. */
export const DEFAULT_BLOCKSIZE = 64;

/**
 * A quantized tensor with fp32 scales: what bitsandbytes keeps as the packed weight plus its `QuantState`.
 *
 * - `packed`: for nf4/fp4 two 4-bit codes per byte (⌈n/2⌉ bytes); for int8 one two's-complement byte per
 *   value (n bytes, read them with {@link int8View}).
 * - `absmax`: one fp32 scale per block (⌈n/blocksize⌉ values).
 * - `n`: number of values; `shape`: the original shape (its product is n).
 */
export interface QuantizedTensor {
  quantType: QuantType;
  packed: Uint8Array;
  absmax: Float32Array;
  n: number;
  shape: number[];
  blocksize: number;
}

export interface BlockwiseOptions {
  /** Values per block (default 64). */
  blocksize?: number;
  /** Shape recorded in the result (default [n]); its product must be n. */
  shape?: number[];
}

/** Number of blocks for n values: ⌈n / blocksize⌉. */
export function numBlocks(n: number, blocksize: number): number {
  return Math.ceil(n / blocksize);
}

/** Checks the options and returns the block size and shape to use. */
export function resolveOptions(n: number, opts: BlockwiseOptions = {}): { blocksize: number; shape: number[] } {
  const blocksize = opts.blocksize ?? DEFAULT_BLOCKSIZE;
  if (!Number.isInteger(blocksize) || blocksize < 2) throw new Error(`blocksize must be an integer ≥ 2, got ${blocksize}`);
  const shape = opts.shape ? [...opts.shape] : [n];
  const size = shape.reduce((a, b) => a * b, 1);
  if (size !== n) throw new Error(`shape [${shape}] has ${size} elements but the data has ${n}`);
  return { blocksize, shape };
}

/** The data as a Float32Array (no copy when it already is one). */
export function asFloat32(x: ArrayLike<number>): Float32Array {
  return x instanceof Float32Array ? x : Float32Array.from(x);
}

/** absmax of every block, in fp32. */
export function blockAbsmax(x: Float32Array, blocksize: number): Float32Array {
  const out = new Float32Array(numBlocks(x.length, blocksize));
  for (let b = 0; b < out.length; b++) {
    const end = Math.min(x.length, (b + 1) * blocksize);
    let m = 0;
    for (let i = b * blocksize; i < end; i++) {
      const a = Math.abs(x[i]);
      if (a > m) m = a;
    }
    out[b] = m;
  }
  return out;
}

/** fp32(1/absmax), or 0 for an all-zero block (see the module comment). */
export function reciprocal(absmax: number): number {
  return absmax > 0 ? Math.fround(1 / absmax) : 0;
}

/** fp32(x · r) clamped to [−1, 1]: a value scaled into the code book's range. */
export function scaleToUnit(x: number, r: number): number {
  const s = Math.fround(x * r);
  return s > 1 ? 1 : s < -1 ? -1 : s;
}

/**
 * Exact midpoints between neighbouring values of an ascending code book. Midpoints of two fp32 numbers
 * are exact in double precision, so `s > mid[i]` decides "nearer to code i+1" with an exact tie going to
 * the lower code i.
 */
export function midpoints(sortedCode: ArrayLike<number>): Float64Array {
  const out = new Float64Array(sortedCode.length - 1);
  for (let i = 0; i < out.length; i++) out[i] = (sortedCode[i] + sortedCode[i + 1]) / 2;
  return out;
}

/** Index of the nearest value of an ascending code book, given its midpoints: #{i : s > mid[i]}. */
export function nearestSorted(s: number, mids: Float64Array): number {
  let lo = 0;
  let hi = mids.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (s > mids[mid]) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Blockwise 4-bit quantization with any code book: `encode` maps a scaled value s ∈ [−1, 1] to its 4-bit
 * code. Returns the packed codes and the fp32 absmax of every block.
 */
export function quantize4bitWith(x: ArrayLike<number>, quantType: "nf4" | "fp4", encode: (s: number) => number, opts: BlockwiseOptions = {}): QuantizedTensor {
  const data = asFloat32(x);
  const n = data.length;
  const { blocksize, shape } = resolveOptions(n, opts);
  const absmax = blockAbsmax(data, blocksize);
  const packed = new Uint8Array(Math.ceil(n / 2));
  for (let b = 0; b < absmax.length; b++) {
    const r = reciprocal(absmax[b]);
    const end = Math.min(n, (b + 1) * blocksize);
    for (let i = b * blocksize; i < end; i++) {
      const q = encode(scaleToUnit(data[i], r));
      // Even index → high nibble, odd index → low nibble.
      packed[i >> 1] |= (i & 1) === 0 ? q << 4 : q;
    }
  }
  // Odd length: the last low nibble holds the code of 0.0, as in bitsandbytes (it pads with a zero value).
  if (n % 2 === 1) packed[packed.length - 1] |= encode(0);
  return { quantType, packed, absmax, n, shape, blocksize };
}

/** Packs 4-bit codes (0..15) two per byte, first in the high nibble; an odd length is padded with `padCode`. */
export function pack4bit(codes: ArrayLike<number>, padCode = 0): Uint8Array {
  const out = new Uint8Array(Math.ceil(codes.length / 2));
  for (let i = 0; i < codes.length; i++) out[i >> 1] |= (i & 1) === 0 ? (codes[i] & 15) << 4 : codes[i] & 15;
  if (codes.length % 2 === 1) out[out.length - 1] |= padCode & 15;
  return out;
}

/** The first n 4-bit codes of a packed array (inverse of {@link pack4bit}). */
export function unpack4bit(packed: Uint8Array, n: number): Uint8Array {
  if (packed.length < Math.ceil(n / 2)) throw new Error(`unpack4bit: ${packed.length} bytes cannot hold ${n} codes`);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i & 1) === 0 ? packed[i >> 1] >> 4 : packed[i >> 1] & 15;
  return out;
}

/**
 * x̂_i = code[q_i] · absmax_b in fp32, for a packed 4-bit tensor. `absmax` may be given to use restored
 * (double-quantized) scales instead of fp32 ones.
 */
export function dequantize4bitWith(
  packed: Uint8Array,
  code: Float32Array,
  absmax: Float32Array,
  n: number,
  blocksize: number,
  out: Float32Array = new Float32Array(n),
): Float32Array {
  if (absmax.length !== numBlocks(n, blocksize)) {
    throw new Error(`dequantize: ${absmax.length} scales for ${n} values in blocks of ${blocksize}`);
  }
  for (let b = 0; b < absmax.length; b++) {
    const a = absmax[b];
    const end = Math.min(n, (b + 1) * blocksize);
    for (let i = b * blocksize; i < end; i++) {
      const byte = packed[i >> 1];
      out[i] = code[(i & 1) === 0 ? byte >> 4 : byte & 15] * a; // Float32Array rounds once: fp32 product
    }
  }
  return out;
}

/** The int8 codes of an int8 QuantizedTensor (a view on `packed`, no copy). */
export function int8View(packed: Uint8Array): Int8Array {
  return new Int8Array(packed.buffer, packed.byteOffset, packed.length);
}
