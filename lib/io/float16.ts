/**
 * Half-precision number formats, bit by bit.
 *
 * Checkpoints are often stored in 16-bit floats to halve their size. JavaScript has no 16-bit float type, so
 * we keep the 16-bit patterns in a `Uint16Array` and convert them to and from ordinary numbers here.
 *
 * ```
 *            sign  exponent  mantissa   bias   largest finite   smallest subnormal
 *   float32    1       8        23       127      3.4e38           1.4e-45
 *   float16    1       5        10        15      65504            5.96e-8  (2^-24)
 *   bfloat16   1       8         7       127      3.39e38          9.2e-41
 * ```
 *
 * bfloat16 is simply the top half of a float32: same exponent range, fewer mantissa bits. float16 trades range
 * for precision: anything from 65520 up overflows to infinity.
 *
 * Narrowing rounds to the nearest representable value, ties to the even one (IEEE 754's default, what numpy
 * and PyTorch do). Widening (16 → 32 bits) is exact. NaN stays NaN: narrowing keeps the sign and the top
 * payload bits and sets the quiet bit; widening keeps the bits as they are.
 *
 * A JavaScript number is a float64. Rounding it first to float32 and then to 16 bits could round twice and
 * land on the wrong side of a tie, so the number-taking functions first round to float32 *to odd* (truncate,
 * then set the last bit if anything was cut off), which keeps enough information for the second rounding to
 * be exact. Float32Array inputs skip that step: their bits are used as they are.
 *
 * No TensorFlow.js here: these are plain typed-array functions.
 */

// One float32 slot seen three ways, for moving between numbers and bit patterns.
const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

// ---------------------------------------------------------------------------------------------------------
// Bit-pattern conversions (uint32 float32 bits <-> uint16 half bits)
// ---------------------------------------------------------------------------------------------------------

/** float16 bits → float32 bits. Exact for every one of the 65536 patterns, NaN payloads included. */
export function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exponent = (h >>> 10) & 0x1f;
  let mantissa = h & 0x3ff;
  if (exponent === 0x1f) return (sign | 0x7f800000 | (mantissa << 13)) >>> 0; // inf or NaN
  if (exponent !== 0) return (sign | ((exponent + 127 - 15) << 23) | (mantissa << 13)) >>> 0; // normal
  if (mantissa === 0) return sign >>> 0; // ±0
  // Subnormal: value = mantissa × 2^-24. Shift the leading 1 up to the implicit-bit position.
  let e = 127 - 15 + 1;
  while ((mantissa & 0x400) === 0) {
    mantissa <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((mantissa & 0x3ff) << 13)) >>> 0;
}

/** float32 bits → float16 bits, rounding to nearest, ties to even. */
export function f32BitsToF16Bits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  const mantissa = x & 0x7fffff;
  if (exponent === 0xff) {
    if (mantissa === 0) return sign | 0x7c00; // ±inf
    return sign | 0x7e00 | (mantissa >>> 13); // NaN: quiet bit set, top payload bits kept
  }
  const e = exponent - 127 + 15; // the float16 exponent field, before rounding
  if (e >= 0x1f) return sign | 0x7c00; // far too large: inf
  if (e <= 0) {
    // float16 subnormal (or zero). Counted in units of the smallest subnormal, 2^-24, the value is
    // (2^23 + mantissa) / 2^(14 - e): a right shift that needs rounding.
    if (e < -10) return sign; // below half the smallest subnormal: rounds to ±0
    const full = mantissa | 0x800000;
    const shift = 14 - e;
    return sign | roundShift(full, shift);
  }
  // Normal: drop 13 mantissa bits. A carry out of the mantissa correctly bumps the exponent (up to inf).
  return sign | roundShift((e << 23) | mantissa, 13);
}

/** bfloat16 bits → float32 bits: bfloat16 is the top half of a float32. */
export function bf16BitsToF32Bits(b: number): number {
  return ((b & 0xffff) << 16) >>> 0;
}

/** float32 bits → bfloat16 bits, rounding to nearest, ties to even. */
export function f32BitsToBf16Bits(x: number): number {
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) {
    return ((x >>> 16) | 0x0040) & 0xffff; // NaN: keep sign and top payload, set the quiet bit
  }
  return roundShift(x >>> 0, 16) & 0xffff; // a carry into the exponent is right, even up to inf
}

/** `value >>> shift`, rounded to nearest with ties to even (value a uint32, 1 <= shift <= 30). */
function roundShift(value: number, shift: number): number {
  const kept = value >>> shift;
  const rest = value & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  return rest > half || (rest === half && (kept & 1) === 1) ? kept + 1 : kept;
}

/**
 * The float32 bits of `value` rounded *to odd*: truncated toward zero, with the lowest bit set when the
 * truncation was inexact. A later rounding to 16 bits then gives the same result as rounding `value` directly.
 */
function roundToOddF32Bits(value: number): number {
  scratchF32[0] = value; // rounds to nearest float32
  let bits = scratchU32[0];
  const rounded = scratchF32[0];
  if (rounded !== value && value === value) {
    if (Math.abs(rounded) > Math.abs(value)) bits -= 1; // rounded away from zero: step back one ulp
    bits = (bits | 1) >>> 0;
  }
  return bits;
}

function f32BitsToNumber(bits: number): number {
  scratchU32[0] = bits;
  return scratchF32[0];
}

// ---------------------------------------------------------------------------------------------------------
// Scalar conversions (numbers in, numbers out)
// ---------------------------------------------------------------------------------------------------------

/** The value of the float16 bit pattern `bits` (0..65535). */
export function f16ToF32(bits: number): number {
  return f32BitsToNumber(f16BitsToF32Bits(bits));
}

/** The float16 bit pattern nearest to `value` (ties to even; 65520 and above become infinity). */
export function f32ToF16(value: number): number {
  if (value !== value) return 0x7e00; // a JS NaN has no observable sign or payload
  return f32BitsToF16Bits(roundToOddF32Bits(value));
}

/** The value of the bfloat16 bit pattern `bits` (0..65535). */
export function bf16ToF32(bits: number): number {
  return f32BitsToNumber(bf16BitsToF32Bits(bits));
}

/** The bfloat16 bit pattern nearest to `value` (ties to even). */
export function f32ToBf16(value: number): number {
  if (value !== value) return 0x7fc0;
  return f32BitsToBf16Bits(roundToOddF32Bits(value));
}

// ---------------------------------------------------------------------------------------------------------
// Array conversions
// ---------------------------------------------------------------------------------------------------------

/** Decodes float16 bit patterns into a new Float32Array (bit-exact, NaN payloads kept). */
export function decodeF16(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const outBits = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) outBits[i] = f16BitsToF32Bits(bits[i]);
  return out;
}

/** Decodes bfloat16 bit patterns into a new Float32Array (exact). */
export function decodeBf16(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const outBits = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) outBits[i] = bits[i] << 16;
  return out;
}

/** Encodes numbers as float16 bit patterns (round to nearest even). */
export function encodeF16(values: ArrayLike<number>): Uint16Array {
  return encode16(values, f32BitsToF16Bits, f32ToF16);
}

/** Encodes numbers as bfloat16 bit patterns (round to nearest even). */
export function encodeBf16(values: ArrayLike<number>): Uint16Array {
  return encode16(values, f32BitsToBf16Bits, f32ToBf16);
}

function encode16(values: ArrayLike<number>, fromF32Bits: (bits: number) => number, fromNumber: (value: number) => number): Uint16Array {
  const out = new Uint16Array(values.length);
  if (values instanceof Float32Array) {
    // Already float32: use the bits directly (one rounding, NaN payloads kept).
    const inBits = new Uint32Array(values.buffer, values.byteOffset, values.length);
    for (let i = 0; i < out.length; i++) out[i] = fromF32Bits(inBits[i]);
  } else {
    for (let i = 0; i < out.length; i++) out[i] = fromNumber(values[i]);
  }
  return out;
}
