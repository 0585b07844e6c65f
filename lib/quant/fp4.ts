/**
 * bitsandbytes' FP4: a 4-bit float (1 sign bit, 2 exponent bits, 1 mantissa bit — "e2m1"), the data type
 * QLoRA compares NF4 against.
 *
 * The 16 values come from bitsandbytes (`functional.get_4bit_type("fp4")`, and the CUDA kernels
 * `dQuantizeFP4` / `dDequantizeFP4Tree`): in units where the largest value is 12,
 *
 *     bits  0b0000 0b0001 0b0010 0b0011 0b0100 0b0101 0b0110 0b0111
 *     value   0    0.0625   8      12     4      6      2      3        (0b1xxx: the same, negative)
 *
 * and the code book is that divided by 12, so it spans [−1, 1]:
 *     0, 1/192, 2/3, 1, 1/3, 1/2, 1/6, 1/4, −0, −1/192, −2/3, −1, −1/3, −1/2, −1/6, −1/4.
 *
 * Bit layout of a code `s e e m` (bit 3 = sign s, bits 2–1 = exponent e, bit 0 = mantissa m):
 *     e ≥ 1:  (−1)^s · 2^(4−e) · (1 + m/2)      (note: a LARGER exponent field means a SMALLER value)
 *     e = 0:  (−1)^s · m · 0.0625               (zero, and one tiny "subnormal")
 * {@link fp4Value} decodes that layout; the test checks it reproduces the table.
 *
 * Unlike NF4, the positive levels form a logarithmic grid (each exponent step halves the value), so FP4
 * spends levels near zero where a normal distribution has few distinct weights after absmax scaling,
 * and has only 8 magnitudes (±0 both exist). On Gaussian weights it is less accurate than NF4.
 *
 * Rounding, as in the CUDA kernel `dQuantizeFP4`: the sign bit is set for s < 0, then the magnitude goes to
 * the nearest of the 8 levels, an exact tie going to the SMALLER magnitude (the kernel compares `x > pivot`).
 * The kernel's pivots are decimal literals (0.00260417, 0.0859375, 0.20833333, 0.29166667, 0.4166667,
 * 0.583333, 0.8333333) that differ from the exact midpoints by < 4e-7; here the exact midpoints are used.
 * bitsandbytes' CPU fallback instead takes argmin over a table rounded to 4 decimals (0.0052, 0.6667, …),
 * which can disagree within ~1e-4 of a midpoint and for tiny negative values (it picks +0, the kernel −0).
 */
import { BlockwiseOptions, QuantizedTensor, dequantize4bitWith, midpoints, nearestSorted, quantize4bitWith } from "./blockwise";

/** The value of a 4-bit FP4 code before normalisation (largest 12), decoded from its bit layout. */
export function fp4Value(bits: number): number {
  const sign = bits & 8 ? -1 : 1;
  const e = (bits >> 1) & 3;
  const m = bits & 1;
  return sign * (e === 0 ? m * 0.0625 : 2 ** (4 - e) * (1 + m / 2));
}

/** The 16 FP4 values indexed by code (NOT ascending), normalised to [−1, 1] as bitsandbytes does (÷12). */
export const FP4_CODE: Float32Array = Float32Array.from([0, 0.0625, 8, 12, 4, 6, 2, 3, -0, -0.0625, -8, -12, -4, -6, -2, -3].map((v) => v / 12));

/** The code of the value 0 (padding and all-zero blocks map here). */
export const FP4_ZERO_CODE = 0;

/** The 8 magnitude codes (sign bit clear) in ascending order of value. */
const MAGNITUDE_BITS = [0b000, 0b001, 0b110, 0b111, 0b100, 0b101, 0b010, 0b011];
const MAGNITUDE_MIDPOINTS = midpoints(MAGNITUDE_BITS.map((b) => FP4_CODE[b]));

/** The FP4 code of a scaled value s ∈ [−1, 1]: sign bit for s < 0, nearest magnitude, ties to the smaller. */
export function fp4Encode(s: number): number {
  const sign = s < 0 ? 8 : 0;
  return sign | MAGNITUDE_BITS[nearestSorted(Math.abs(s), MAGNITUDE_MIDPOINTS)];
}

/** Blockwise FP4 quantization (bitsandbytes `quantize_4bit(..., quant_type="fp4")`, blocksize 64 by default). */
export function quantizeFP4(x: ArrayLike<number>, opts: BlockwiseOptions = {}): QuantizedTensor {
  return quantize4bitWith(x, "fp4", fp4Encode, opts);
}

/** x̂ = FP4_CODE[q] · absmax, as fp32. Pass `absmax` to use restored (double-quantized) scales. */
export function dequantizeFP4(q: QuantizedTensor, absmax: Float32Array = q.absmax): Float32Array {
  if (q.quantType !== "fp4") throw new Error(`dequantizeFP4: got a ${q.quantType} tensor`);
  return dequantize4bitWith(q.packed, FP4_CODE, absmax, q.n, q.blocksize);
}
