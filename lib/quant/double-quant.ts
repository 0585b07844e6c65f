/**
 * Double quantization ("compress_statistics" in bitsandbytes) and the dispatching `quantize` / `dequantize`.
 *
 * ## Why quantize the scales?
 *
 * With blocks of 64, every 64 weights carry one fp32 absmax: 32/64 = 0.5 extra bits per weight, so NF4
 * really costs 4.5 bits. QLoRA quantizes those scales a second time:
 *
 *     offset   = mean(absmax)                               (one fp32 number per tensor)
 *     absmax'  = absmax − offset                             (centred, so a symmetric 8-bit grid fits)
 *     codes₂   = 8-bit blockwise quantization of absmax', blocks of 256, each with an fp32 absmax₂
 *     restore:   absmax ≈ dq(codes₂) · absmax₂ + offset
 *
 * Cost per weight: 8/64 = 0.125 bits for the 8-bit scales plus 32/(64·256) ≈ 0.002 bits for absmax₂:
 * 4 + 0.125 + 0.002 ≈ 4.127 bits instead of 4.5. {@link bitsPerParameter} counts the bytes actually stored.
 *
 * Difference from bitsandbytes (documented choice): bitsandbytes stores codes₂ with its signed 8-bit
 * "dynamic" code book (a 256-value exponent-plus-fraction map, `create_dynamic_map`); here codes₂ are a
 * plain symmetric int8 absmax grid, dq(q) = q/127 (int8.ts). Same storage, same idea, a slightly different
 * (uniform instead of log-like) spacing of the 255 levels. The tiny per-tensor extras bitsandbytes also
 * keeps (the 256-entry dynamic code book itself) are therefore not needed here.
 *
 * Like bitsandbytes, the 4-bit codes are computed with the exact fp32 scales; only the stored scales are
 * approximate, so the dequantized weights move by at most absmax₂/254 · |code| per block.
 */
import { BlockwiseOptions, QuantType, QuantizedTensor, asFloat32, int8View } from "./blockwise";
import { dequantizeFP4, quantizeFP4 } from "./fp4";
import { dequantizeInt8, quantizeInt8 } from "./int8";
import { dequantizeNF4, quantizeNF4 } from "./nf4";

/** bitsandbytes' block size for the second-level quantization of the scales. */
export const DOUBLE_QUANT_BLOCKSIZE = 256;

/** The first-level scales, stored double-quantized. */
export interface NestedAbsmax {
  /** int8 codes of (absmax − offset) with their fp32 second-level scales `absmax` (absmax₂). */
  quantized: QuantizedTensor;
  /** mean of the first-level absmax, fp32. */
  offset: number;
}

/** A quantized tensor whose scales are double-quantized: no fp32 absmax per block is kept. */
export interface DoubleQuantizedTensor extends Omit<QuantizedTensor, "absmax"> {
  nested: NestedAbsmax;
}

/** Either form: what a quantized layer stores. */
export type QuantState = QuantizedTensor | DoubleQuantizedTensor;

export function isDoubleQuantized(state: QuantState): state is DoubleQuantizedTensor {
  return "nested" in state;
}

/** Quantizes the scales of `q` (see the module comment); the codes are shared, not copied. */
export function compressStatistics(q: QuantizedTensor, blocksize2 = DOUBLE_QUANT_BLOCKSIZE): DoubleQuantizedTensor {
  const { absmax, ...rest } = q;
  let sum = 0;
  for (let i = 0; i < absmax.length; i++) sum += absmax[i];
  const offset = Math.fround(absmax.length ? sum / absmax.length : 0);
  const centred = absmax.map((a) => a - offset); // Float32Array: fp32(a − offset)
  return { ...rest, nested: { quantized: quantizeInt8(centred, { blocksize: blocksize2 }), offset } };
}

/** The per-block scales: the stored fp32 ones, or those restored from double quantization. */
export function restoreAbsmax(state: QuantState): Float32Array {
  if (!isDoubleQuantized(state)) return state.absmax;
  const { quantized, offset } = state.nested;
  const codes = int8View(quantized.packed);
  const out = new Float32Array(quantized.n);
  for (let i = 0; i < out.length; i++) {
    out[i] = (codes[i] * quantized.absmax[Math.floor(i / quantized.blocksize)]) / 127 + offset;
  }
  return out;
}

export interface QuantizeOptions extends BlockwiseOptions {
  /** "nf4" (default), "fp4" or "int8". */
  quantType?: QuantType;
  /** Also quantize the scales (QLoRA's double quantization). Default false, as in bitsandbytes' functional API. */
  doubleQuant?: boolean;
  /** Block size of the second level (default 256). */
  doubleQuantBlocksize?: number;
}

/** Blockwise quantization with any of the three types, optionally double-quantized. */
export function quantize(x: ArrayLike<number>, opts: QuantizeOptions = {}): QuantState {
  const data = asFloat32(x);
  const type = opts.quantType ?? "nf4";
  const q = type === "nf4" ? quantizeNF4(data, opts) : type === "fp4" ? quantizeFP4(data, opts) : quantizeInt8(data, opts);
  return opts.doubleQuant ? compressStatistics(q, opts.doubleQuantBlocksize) : q;
}

/** The fp32 values a quantized state stands for (flat, row-major; reshape with `state.shape`). */
export function dequantize(state: QuantState): Float32Array {
  const absmax = restoreAbsmax(state);
  const q: QuantizedTensor = isDoubleQuantized(state)
    ? { quantType: state.quantType, packed: state.packed, absmax, n: state.n, shape: state.shape, blocksize: state.blocksize }
    : state;
  switch (q.quantType) {
    case "nf4":
      return dequantizeNF4(q, absmax);
    case "fp4":
      return dequantizeFP4(q, absmax);
    case "int8":
      return dequantizeInt8(q, absmax);
  }
}

/** Bytes actually stored, by part. */
export interface QuantBytes {
  /** The packed codes. */
  codes: number;
  /** First-level scales: fp32 absmax, or their 8-bit codes when double-quantized. */
  scales: number;
  /** Second-level fp32 scales (double quantization only). */
  scales2: number;
  /** The fp32 offset (double quantization only). */
  offset: number;
  total: number;
}

/** Measures the storage from the arrays' byte lengths. */
export function storageBytes(state: QuantState): QuantBytes {
  const codes = state.packed.byteLength;
  if (!isDoubleQuantized(state)) {
    const scales = state.absmax.byteLength;
    return { codes, scales, scales2: 0, offset: 0, total: codes + scales };
  }
  const scales = state.nested.quantized.packed.byteLength;
  const scales2 = state.nested.quantized.absmax.byteLength;
  const offset = Float32Array.BYTES_PER_ELEMENT;
  return { codes, scales, scales2, offset, total: codes + scales + scales2 + offset };
}

/** Stored bits per parameter: 4.5 for NF4 with fp32 scales (blocks of 64), ≈ 4.127 double-quantized. */
export function bitsPerParameter(state: QuantState): number {
  return (storageBytes(state).total * 8) / state.n;
}
