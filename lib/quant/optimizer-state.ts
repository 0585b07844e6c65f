/**
 * 8-bit Adam state: an honest analogue of bitsandbytes' 8-bit and paged optimizers.
 *
 * Adam keeps two fp32 moments per trainable weight — m (mean of gradients) and v (mean of squared
 * gradients) — so its state is twice the size of the parameters. bitsandbytes attacks that in two ways:
 *   - 8-bit optimizers: m and v are stored blockwise-quantized to 8 bits (blocks of 256 values, one fp32
 *     absmax each) and dequantized only inside the update kernel, which computes the new moments in fp32,
 *     uses them for the step, and quantizes them again for storage;
 *   - paged optimizers: the state lives in memory the GPU can evict to CPU RAM under pressure.
 *
 * {@link QuantizedAdamState} does both in spirit: the moments are held as 8-bit codes in plain JavaScript
 * typed arrays (outside the tensor backend's memory, like paged-out state), and {@link QuantizedAdamState.bytes}
 * reports the bytes actually held next to what fp32 state would take — measured, not claimed.
 *
 * Encoding (blocks of 256, fp32 absmax per block):
 *   - m is signed: symmetric int8 absmax, q = round(127·m/absmax) (int8.ts); error ≤ absmax/254.
 *   - v ≥ 0 spans the SQUARES of gradient magnitudes, a huge dynamic range. It is stored as √v on an
 *     unsigned 8-bit grid of 255 steps, q = ⌈255·√v/max√v⌉, rounding UP. Taking the square root halves the
 *     dynamic range (√v is on the scale of the gradients, like m), and rounding up guarantees the restored
 *     √v is never smaller than the true one (up to fp32 rounding), so the Adam step m/(√v + ε) can only
 *     shrink, never blow up because a small v was rounded to 0. The error in v is at most
 *     (2/255 + 1/255²)·max v per block.
 *   bitsandbytes instead uses its 8-bit "dynamic" map (exponent + fraction bits, signed for m, unsigned for
 *   v), which keeps relative precision for small values; this simpler scheme is the documented substitute.
 */
import { QuantizedTensor, blockAbsmax } from "./blockwise";
import { dequantizeInt8, quantizeInt8 } from "./int8";

/** bitsandbytes' block size for its blockwise 8-bit optimizers. */
export const OPTIMIZER_BLOCKSIZE = 256;

/** √v on an unsigned 8-bit grid: codes 0..255 and one fp32 max(√v) per block. */
interface SqrtUint8 {
  codes: Uint8Array;
  absmax: Float32Array;
}

interface StoredMoments {
  n: number;
  m: QuantizedTensor;
  v: SqrtUint8;
}

/** Bytes held for the moments, next to what fp32 moments would take. */
export interface OptimizerStateBytes {
  /** Bytes actually stored: m codes + v codes + their fp32 block scales. */
  quantized: number;
  /** 2 moments × 4 bytes × parameters. */
  fp32: number;
  /** quantized / fp32 (≈ 1/4 plus the scales: 0.254 for blocks of 256). */
  ratio: number;
}

function quantizeSqrt(v: Float32Array, blocksize: number): SqrtUint8 {
  const root = v.map((x) => Math.sqrt(Math.max(0, x))); // Float32Array
  const absmax = blockAbsmax(root, blocksize);
  const codes = new Uint8Array(v.length);
  for (let b = 0; b < absmax.length; b++) {
    const max = absmax[b];
    if (!(max > 0)) continue; // all zero: codes stay 0
    const end = Math.min(v.length, (b + 1) * blocksize);
    for (let i = b * blocksize; i < end; i++) codes[i] = Math.min(255, Math.ceil((root[i] * 255) / max));
  }
  return { codes, absmax };
}

function dequantizeSqrt(s: SqrtUint8, blocksize: number): Float32Array {
  const out = new Float32Array(s.codes.length);
  for (let i = 0; i < out.length; i++) {
    const r = (s.codes[i] * s.absmax[Math.floor(i / blocksize)]) / 255;
    out[i] = r * r;
  }
  return out;
}

export class QuantizedAdamState {
  readonly blocksize: number;
  private readonly states = new Map<string, StoredMoments>();

  constructor(opts: { blocksize?: number } = {}) {
    this.blocksize = opts.blocksize ?? OPTIMIZER_BLOCKSIZE;
  }

  /** Quantizes and stores the moments of parameter `name` (replacing what was there). */
  store(name: string, m: Float32Array, v: Float32Array): void {
    if (m.length !== v.length) throw new Error(`QuantizedAdamState.store("${name}"): m has ${m.length} values, v ${v.length}`);
    this.states.set(name, {
      n: m.length,
      m: quantizeInt8(m, { blocksize: this.blocksize }),
      v: quantizeSqrt(v, this.blocksize),
    });
  }

  /** The dequantized moments of `name` (fresh arrays). */
  load(name: string): { m: Float32Array; v: Float32Array } {
    const s = this.states.get(name);
    if (!s) throw new Error(`QuantizedAdamState: no state for "${name}"`);
    return { m: dequantizeInt8(s.m), v: dequantizeSqrt(s.v, this.blocksize) };
  }

  /**
   * One Adam moment update, as bitsandbytes' 8-bit kernels do it: dequantize the stored moments (zeros the
   * first time), m ← β1·m + (1−β1)·g, v ← β2·v + (1−β2)·g², store them quantized again, and return the fresh
   * fp32 moments for computing this step's update (bias correction is the caller's, it depends on the step).
   */
  update(name: string, grad: Float32Array, beta1 = 0.9, beta2 = 0.999): { m: Float32Array; v: Float32Array } {
    const prev = this.states.get(name);
    if (prev && prev.n !== grad.length) throw new Error(`QuantizedAdamState.update("${name}"): ${grad.length} gradients for ${prev.n} values`);
    const { m, v } = prev ? this.load(name) : { m: new Float32Array(grad.length), v: new Float32Array(grad.length) };
    for (let i = 0; i < grad.length; i++) {
      const g = grad[i];
      m[i] = beta1 * m[i] + (1 - beta1) * g;
      v[i] = beta2 * v[i] + (1 - beta2) * g * g;
    }
    this.store(name, m, v);
    return { m, v };
  }

  has(name: string): boolean {
    return this.states.has(name);
  }

  delete(name: string): boolean {
    return this.states.delete(name);
  }

  names(): string[] {
    return [...this.states.keys()];
  }

  /** Measured bytes of the stored moments (one parameter, or all), next to fp32 state. */
  bytes(name?: string): OptimizerStateBytes {
    let quantized = 0;
    let n = 0;
    for (const [key, s] of this.states) {
      if (name !== undefined && key !== name) continue;
      quantized += s.m.packed.byteLength + s.m.absmax.byteLength + s.v.codes.byteLength + s.v.absmax.byteLength;
      n += s.n;
    }
    const fp32 = 2 * n * Float32Array.BYTES_PER_ELEMENT;
    return { quantized, fp32, ratio: fp32 ? quantized / fp32 : 0 };
  }
}
