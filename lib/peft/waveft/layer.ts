/**
 * WaveFT (huggingface/peft tuners/waveft): the weight update is trained in the *wavelet* domain.
 *
 * A handful of n coefficients (the "spectrum") sit at fixed random positions of an (out, in) coefficient
 * matrix C; everything else in C is zero. The update is one level of the inverse 2-D wavelet transform:
 *
 *   C = [ cA  cH ]        ΔW = scaling · IDWT2(cA, cH, cV, cD)        y = W x + b + ΔW x
 *       [ cV  cD ]
 *
 * Because every wavelet coefficient spreads over a small patch of ΔW, n sparse coefficients give a dense,
 * typically full-rank ΔW — unlike LoRA's rank-r product. The positions are the first n entries of
 * `torch.randperm(out·in)` seeded with `randomLocSeed`, reproduced exactly (lib/util/mt19937.ts) so that
 * files move between this kit and peft. For wavelets longer than Haar, peft pads C by the filter's
 * "reduction" (centred), reconstructs, and crops the centre back to (out, in); this file does the same.
 * The spectrum starts at zero, so a fresh adapter is an exact no-op.
 */
import * as tf from "@tensorflow/tfjs";
import { ParameterDict } from "../../nn/module";
import { linear } from "../../ops/matmul";
import { torchRandperm } from "../../util/mt19937";
import { Rng, normalArray } from "../../util/random";
import { idwt2 } from "../../wavelets/dwt";
import { WAVELET_NAMES } from "../../wavelets/filters";
import { AdapterLayer, BaseLinear } from "../adapter-layer";
import { patternValue } from "../targets";
import type { WaveFTConfig } from "./config";

/** Extra rows/cols peft pads per wavelet family (constants.py WAVELET_REDUCTIONS): 2·(filter length/2 − 1). */
export function waveletReduction(family: string): number {
  const m = family.match(/^(db|sym|coif)(\d+)$/);
  if (!m || !(WAVELET_NAMES as readonly string[]).includes(family)) {
    throw new Error(`WaveFT: unsupported wavelet family "${family}" (supported here: ${WAVELET_NAMES.filter((n) => n !== "haar").join(", ")})`);
  }
  const k = Number(m[2]);
  if (m[1] === "db") return 2 * (k - 1);
  if (m[1] === "sym") return 2 * (k - 1);
  return 6 * k - 2; // coifN has filter length 6N
}

interface WaveSpec {
  n: number;
  scaling: number;
  family: string;
  useIdwt: boolean;
  /** (n, 2) int32 positions in the padded coefficient matrix. */
  positions: tf.Tensor2D;
  /** The same positions in JavaScript memory (read without touching the backend). */
  positionValues: Int32Array;
  padded: [number, number];
}

export interface WaveFTAdapterOptions {
  n: number;
  scaling: number;
  waveletFamily: string;
  useIdwt: boolean;
  randomLocSeed: number;
  initWeights: boolean;
  rng: Rng;
}

export class WaveFTLayer extends AdapterLayer {
  readonly adapterLayerNames = ["waveft_spectrum"] as const;
  private readonly specs = new Map<string, WaveSpec>();

  constructor(base: BaseLinear) {
    super(base);
    this.addModule("waveft_spectrum", new ParameterDict());
  }

  private spectra(): ParameterDict {
    return this.getSubmodule("waveft_spectrum", ParameterDict);
  }

  adapterNames(): string[] {
    return [...this.specs.keys()];
  }

  addAdapter(name: string, o: WaveFTAdapterOptions): void {
    if (this.hasAdapter(name)) throw new Error(`adapter "${name}" already exists in this layer`);
    const { inFeatures, outFeatures } = this;
    if (!(o.n > 0) || o.n > inFeatures * outFeatures) {
      throw new Error(`WaveFT: nFrequency must be in [1, ${inFeatures * outFeatures}] for a ${outFeatures}×${inFeatures} layer, got ${o.n}`);
    }
    const red = o.useIdwt ? waveletReduction(o.waveletFamily) : 0;
    const even = (v: number) => (o.useIdwt && v % 2 ? v + 1 : v);
    const padded: [number, number] = [even(outFeatures + red), even(inFeatures + red)];
    const rowOffset = Math.floor((padded[0] - outFeatures) / 2);
    const colOffset = Math.floor((padded[1] - inFeatures) / 2);
    const perm = torchRandperm(outFeatures * inFeatures, o.randomLocSeed).subarray(0, o.n);
    const pos = new Int32Array(2 * o.n);
    perm.forEach((idx, i) => {
      pos[2 * i] = Math.floor(idx / inFeatures) + rowOffset;
      pos[2 * i + 1] = (idx % inFeatures) + colOffset;
    });
    this.specs.set(name, {
      n: o.n,
      scaling: o.scaling,
      family: o.waveletFamily,
      useIdwt: o.useIdwt,
      positions: tf.keep(tf.tensor2d(pos, [o.n, 2], "int32")),
      positionValues: pos,
      padded,
    });
    this.spectra().set(name, o.initWeights ? tf.zeros([o.n]) : tf.tensor1d(normalArray(o.rng, o.n, 0.01)));
  }

  protected override disposeExtras(): void {
    for (const spec of this.specs.values()) spec.positions.dispose();
    this.specs.clear();
  }

  deleteAdapter(name: string): void {
    this.specs.get(name)?.positions.dispose();
    this.specs.delete(name);
    this.spectra().removeParameter(name);
  }

  /** Row and column of each coefficient in the (out, in) matrix (for plots and tests). */
  positions(name: string): { rows: Int32Array; cols: Int32Array } {
    const spec = this.specs.get(name) as WaveSpec;
    const p = spec.positionValues;
    const off = [Math.floor((spec.padded[0] - this.outFeatures) / 2), Math.floor((spec.padded[1] - this.inFeatures) / 2)];
    return {
      rows: Int32Array.from({ length: spec.n }, (_, i) => p[2 * i] - off[0]),
      cols: Int32Array.from({ length: spec.n }, (_, i) => p[2 * i + 1] - off[1]),
    };
  }

  deltaWeight(name: string): tf.Tensor2D {
    return tf.tidy(() => {
      const spec = this.specs.get(name) as WaveSpec;
      const [H, W] = spec.padded;
      const dense = tf.scatterND(spec.positions, this.spectra().param(name), [H, W]) as tf.Tensor2D;
      if (!spec.useIdwt) return tf.mul(dense, spec.scaling) as tf.Tensor2D;
      const [h2, w2] = [H / 2, W / 2];
      const quad = (r: number, c: number) => tf.slice(dense, [r, c], [h2, w2]) as tf.Tensor2D;
      const rec = idwt2({ cA: quad(0, 0), cH: quad(0, w2), cV: quad(h2, 0), cD: quad(h2, w2) }, spec.family, "zero");
      const [rh, rw] = rec.shape;
      const top = Math.floor((rh - this.outFeatures) / 2);
      const left = Math.floor((rw - this.inFeatures) / 2);
      const cropped = rh === this.outFeatures && rw === this.inFeatures ? rec : tf.slice(rec, [top, left], [this.outFeatures, this.inFeatures]);
      return tf.mul(cropped, spec.scaling) as tf.Tensor2D;
    });
  }

  protected adapterOutput(x: tf.Tensor, name: string): tf.Tensor {
    return linear(x, this.deltaWeight(name));
  }

  override dispose(): void {
    for (const s of this.specs.values()) s.positions.dispose();
    super.dispose();
  }
}

/**
 * n per layer with proportional allocation: n_l = max(1, round(n·L·in_l·out_l / Σ in·out)), with
 * Python's round-half-to-even as peft computes it.
 */
export function proportionalFrequencies(n: number, shapes: Array<{ inFeatures: number; outFeatures: number }>): number[] {
  const total = shapes.reduce((s, l) => s + l.inFeatures * l.outFeatures, 0);
  const roundHalfEven = (v: number) => {
    const f = Math.floor(v);
    const d = v - f;
    return d > 0.5 || (d === 0.5 && f % 2 === 1) ? f + 1 : f;
  };
  return shapes.map((l) => Math.max(1, roundHalfEven((n * shapes.length * l.inFeatures * l.outFeatures) / total)));
}

/** n for each target module: the pattern override, else proportional allocation or the global n. */
export function waveftFrequencies(config: WaveFTConfig, names: string[], shapes: Array<{ inFeatures: number; outFeatures: number }>): Map<string, number> {
  const proportional = config.proportionalParameters ? proportionalFrequencies(config.nFrequency, shapes) : null;
  return new Map(names.map((name, i) => [name, patternValue(name, config.nFrequencyPattern, proportional ? proportional[i] : config.nFrequency)]));
}
