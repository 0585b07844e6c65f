/**
 * NF4 ("4-bit NormalFloat"), the data type of QLoRA (Dettmers et al., 2023), as bitsandbytes implements it.
 *
 * ## Why the code book is made of normal quantiles
 *
 * Pretrained weights are roughly normally distributed around zero. After a block is divided by its absmax,
 * its values lie in [−1, 1] and still look like a (scaled) bell curve. If the 16 levels sit at *quantiles*
 * of N(0, 1) — so that each level catches about the same share of a normal sample — every 4-bit code is
 * used about equally often. That is "quantile quantization": no code is wasted on a region where few
 * weights live, which is what the paper means by information-theoretically optimal for normal data.
 *
 * The lecture calls the NF4 levels "logarithmic". They are not: a logarithmic (floating-point-like) grid
 * halves its step towards zero — FP4's levels are 0, 1/192, 1/6, 1/4, 1/3, 1/2, 2/3, 1 (see fp4.ts). NF4's
 * levels are almost evenly spaced near zero (0.080, 0.161, 0.246, 0.338, … about 0.08 apart) and spread out
 * only in the tails (0.563 → 0.723 → 1.0), exactly as Φ⁻¹ (the inverse normal CDF) does.
 *
 * How bitsandbytes builds it (`create_normal_map(offset=0.9677083, use_extra_value=True)`):
 *   - Φ⁻¹(1) = ∞, so the outermost probability is trimmed to `offset` = ½[(1 − 1/(2·15)) + (1 − 1/(2·16))]
 *     = 0.9677083 (the QLoRA paper's choice between the 15- and 16-level spacings);
 *   - zero must be represented exactly (zero weights, padding), so the two halves are built separately:
 *     8 positive levels Φ⁻¹(p) for p = 9 equal steps from `offset` to 0.5 (the last, 0.5 → 0, dropped),
 *     7 negative levels −Φ⁻¹(p) for p = 8 equal steps from `offset` to 0.5 (last dropped), plus 0 itself;
 *   - everything is divided by the largest value, so the code book spans [−1, 1]. The type is asymmetric:
 *     one more positive level than negative ones.
 * {@link nf4CodebookFromQuantiles} re-derives the table that way; the test checks it against the constants.
 *
 * Quantization and packing: see blockwise.ts (absmax per block of 64, nearest level with an exact tie
 * going to the lower code, two codes per byte with the first element in the high nibble).
 */
import { BlockwiseOptions, QuantizedTensor, dequantize4bitWith, midpoints, nearestSorted, quantize4bitWith } from "./blockwise";

/** The 16 NF4 levels, ascending, exactly as bitsandbytes lists them (code q ↦ NF4_CODE[q]). */
export const NF4_CODE: Float32Array = Float32Array.from([
  -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
  0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
]);

/** The code of the value 0 (padding and all-zero blocks map here). */
export const NF4_ZERO_CODE = 7;

const NF4_MIDPOINTS = midpoints(NF4_CODE);

/** The NF4 code of a scaled value s ∈ [−1, 1]: the nearest level, an exact tie going to the lower code. */
export function nf4Encode(s: number): number {
  return nearestSorted(s, NF4_MIDPOINTS);
}

/** Blockwise NF4 quantization (bitsandbytes `quantize_4bit(..., quant_type="nf4")`, blocksize 64 by default). */
export function quantizeNF4(x: ArrayLike<number>, opts: BlockwiseOptions = {}): QuantizedTensor {
  return quantize4bitWith(x, "nf4", nf4Encode, opts);
}

/** x̂ = NF4_CODE[q] · absmax, as fp32. Pass `absmax` to use restored (double-quantized) scales. */
export function dequantizeNF4(q: QuantizedTensor, absmax: Float32Array = q.absmax): Float32Array {
  if (q.quantType !== "nf4") throw new Error(`dequantizeNF4: got a ${q.quantType} tensor`);
  return dequantize4bitWith(q.packed, NF4_CODE, absmax, q.n, q.blocksize);
}

// Peter Acklam's rational approximation of the inverse normal CDF (relative error < 1.15e-9, far below
// the fp32 resolution of the code book).
const A = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
const B = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
const C = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
const D = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
const P_LOW = 0.02425;

/** Φ⁻¹(p): the z with P(Z ≤ z) = p for Z ~ N(0, 1), 0 < p < 1 (Acklam's algorithm). */
export function inverseNormalCdf(p: number): number {
  if (!(p > 0 && p < 1)) {
    if (p === 0) return -Infinity;
    if (p === 1) return Infinity;
    throw new Error(`inverseNormalCdf: p must be in [0, 1], got ${p}`);
  }
  if (p < P_LOW || p > 1 - P_LOW) {
    // Tails: a rational function of sqrt(−2 ln p).
    const q = Math.sqrt(-2 * Math.log(p < P_LOW ? p : 1 - p));
    const x = (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5]) / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1);
    return p < P_LOW ? x : -x;
  }
  // Central region: a rational function of (p − ½)².
  const q = p - 0.5;
  const r = q * q;
  return ((((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q) / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1);
}

/** `torch.linspace(start, end, steps)` in fp32 (PyTorch fills the second half backwards from `end`). */
function linspaceF32(start: number, end: number, steps: number): number[] {
  const s = Math.fround(start);
  const e = Math.fround(end);
  const step = Math.fround((e - s) / (steps - 1));
  const out: number[] = [];
  for (let i = 0; i < steps; i++) {
    out.push(i < steps / 2 ? Math.fround(s + Math.fround(step * i)) : Math.fround(e - Math.fround(step * (steps - 1 - i))));
  }
  return out;
}

/**
 * Re-derives the NF4 code book from the normal distribution, as bitsandbytes' `create_normal_map` does
 * (see the module comment): 8 positive quantiles, 7 negative ones, and 0, normalised to [−1, 1].
 */
export function nf4CodebookFromQuantiles(offset = 0.9677083): Float32Array {
  const positive = linspaceF32(offset, 0.5, 9)
    .slice(0, -1)
    .map((p) => inverseNormalCdf(p));
  const negative = linspaceF32(offset, 0.5, 8)
    .slice(0, -1)
    .map((p) => -inverseNormalCdf(p));
  const values = Float32Array.from([...positive, 0, ...negative]).sort();
  const max = values[values.length - 1];
  return values.map((v) => v / max);
}
