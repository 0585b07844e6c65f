/**
 * Blockwise int8 absmax quantization: the linear 8-bit baseline.
 *
 *     q_i = round(127 · x_i / absmax_b)  ∈ [−127, 127]        x̂_i = q_i · absmax_b / 127
 *
 * computed the way bitsandbytes' LLM.int8 row-wise quantizer does it in fp32 (`int8_vectorwise_quant`):
 * the factor fp32(127/absmax) first, then fp32(x · factor), then `torch.round`, which rounds an exact half
 * to the even integer. Here it is applied per block of `blocksize` values (64 by default) instead of per
 * row. 255 evenly spaced levels: far finer than any 4-bit type, at twice the storage.
 *
 * The codes are stored as two's-complement bytes in `packed` (one per value); {@link int8View} reads them
 * as an Int8Array. An all-zero block has absmax 0 and codes 0 (no NaN).
 */
import { BlockwiseOptions, QuantizedTensor, asFloat32, blockAbsmax, int8View, numBlocks, resolveOptions } from "./blockwise";

/** Rounds to the nearest integer, an exact half to the even one (`torch.round`, numpy's `rint`). */
export function roundHalfEven(v: number): number {
  return Math.abs(v % 1) === 0.5 ? 2 * Math.round(v / 2) : Math.round(v);
}

/** Blockwise int8 absmax quantization. */
export function quantizeInt8(x: ArrayLike<number>, opts: BlockwiseOptions = {}): QuantizedTensor {
  const data = asFloat32(x);
  const n = data.length;
  const { blocksize, shape } = resolveOptions(n, opts);
  const absmax = blockAbsmax(data, blocksize);
  const packed = new Uint8Array(n);
  const codes = int8View(packed);
  for (let b = 0; b < absmax.length; b++) {
    const factor = absmax[b] > 0 ? Math.fround(127 / absmax[b]) : 0;
    const end = Math.min(n, (b + 1) * blocksize);
    for (let i = b * blocksize; i < end; i++) {
      const q = roundHalfEven(Math.fround(data[i] * factor));
      codes[i] = q > 127 ? 127 : q < -127 ? -127 : q;
    }
  }
  return { quantType: "int8", packed, absmax, n, shape, blocksize };
}

/** x̂ = q · absmax / 127, rounded once to fp32. Pass `absmax` to use restored (double-quantized) scales. */
export function dequantizeInt8(q: QuantizedTensor, absmax: Float32Array = q.absmax): Float32Array {
  if (q.quantType !== "int8") throw new Error(`dequantizeInt8: got a ${q.quantType} tensor`);
  if (absmax.length !== numBlocks(q.n, q.blocksize)) throw new Error(`dequantizeInt8: ${absmax.length} scales for ${q.n} values`);
  const codes = int8View(q.packed);
  const out = new Float32Array(q.n);
  for (let b = 0; b < absmax.length; b++) {
    const a = absmax[b];
    const end = Math.min(q.n, (b + 1) * q.blocksize);
    for (let i = b * q.blocksize; i < end; i++) out[i] = (codes[i] * a) / 127;
  }
  return out;
}
