/**
 * The single-level 2-D discrete wavelet transform and its inverse, as PyWavelets computes them
 * (`pywt.dwt2`, `pywt.idwt2`), built from TensorFlow.js matrix products so that gradients flow.
 *
 * ## One dimension: the transform is a matrix
 *
 * A 1-D DWT of a length-N signal x with a filter f of length L keeps every second output of a convolution:
 *
 *   a[k] = Σ_j f[j] · x̃[2k + 1 − j],      k = 0 … ⌊(N + L − 1)/2⌋ − 1
 *
 * where x̃ is x *extended* past its ends by the signal extension mode (mirror it, pad zeros, …). The output
 * is linear in x, so it is a fixed (rows × N) matrix A times x, a banded matrix with the filter on each row,
 * shifted two columns per row. Boundary handling only changes which columns the taps that fall outside
 * [0, N) land on: with "symmetric" mode x̃[−1] = x[0], so that tap is added to column 0.
 *
 * The inverse upsamples by two (zeros between samples), convolves with the reconstruction filter g and
 * keeps the part not touched by the boundary:
 *
 *   x[m] = Σ_k a[k] · g[m + L − 2 − 2k],   m = 0 … 2n − L + 1         (length 2n − L + 2)
 *
 * again a matrix S, this time (2n − L + 2) × n. With "periodization" both are circulant instead: the signal
 * wraps around (an odd N is first extended by repeating its last sample), exactly n = ⌈N/2⌉ coefficients
 * come out, and the inverse returns 2n samples. For an orthogonal wavelet in that mode, S = Aᵀ and the
 * transform is a rotation.
 *
 * ## Two dimensions: one matrix on each side
 *
 * The 2-D transform applies the 1-D one down the columns (axis 0) and along the rows (axis 1). Stack the
 * low-pass and high-pass analysis matrices of each axis, A = [A_lo; A_hi], and the whole transform is
 *
 *   Y = A_rows · X · A_colsᵀ = [[cA, cV],
 *                               [cH, cD]]
 *
 * PyWavelets' names, from `pywt.dwt2` (= dwtn with keys 'aa', 'da', 'ad', 'dd', the first letter for axis 0):
 *   cA: low-pass on both axes (approximation);
 *   cH: high-pass down the columns, low-pass along the rows: *horizontal* detail (it responds to horizontal
 *       edges, where values change from one row to the next);
 *   cV: low-pass down the columns, high-pass along the rows: *vertical* detail;
 *   cD: high-pass on both: diagonal detail.
 * Mind the layout: in Y, cH sits bottom-left and cV top-right. WaveFT's quadrant layout is the other
 * way round (see {@link idwt2FromQuadrants}).
 *
 * The inverse is X = S_rows · [[cA, cV], [cH, cD]] · S_colsᵀ with S = [S_lo, S_hi].
 *
 * ## Gradients
 *
 * Each product with a constant matrix M has the gradient "multiply by Mᵀ". The matrices (and their
 * transposes) are built once per (length, wavelet, mode) in plain JavaScript and cached; every product runs
 * as a plain A·B matMul (on the wasm backend the transposed matMul forms are about 10x slower), and the
 * backward pass never computes a gradient for the constant matrices.
 *
 * The dense products cost O(N³) although the matrices are banded (L/2 non-zeros per row and band). For
 * Haar, WaveFT's default, the inverse uses its closed form instead (see haarIdwt2), which is O(N²).
 */
import * as tf from "@tensorflow/tfjs";
import { FilterBank, waveletFilters } from "./filters";

/**
 * Signal extension modes, as in `pywt.Modes` (all but "antireflect"). Writing the signal as x0 x1 … x(N−1):
 *   zero           … 0  0 | x0 x1 … | 0  0 …
 *   constant       … x0 x0 | x0 x1 … | x(N−1) x(N−1) …
 *   symmetric      … x1 x0 | x0 x1 … | x(N−1) x(N−2) …       (half-sample mirror; PyWavelets' default)
 *   reflect        … x2 x1 | x0 x1 … | x(N−2) x(N−3) …       (whole-sample mirror)
 *   periodic       … x(N−2) x(N−1) | x0 x1 … | x0 x1 …
 *   antisymmetric  … −x1 −x0 | x0 x1 … | −x(N−1) −x(N−2) …
 *   smooth         linear extrapolation of the first and last two samples
 *   periodization  periodic, but only ⌈N/2⌉ coefficients are kept (a non-redundant, invertible transform)
 */
export type ExtensionMode = "zero" | "constant" | "symmetric" | "reflect" | "periodic" | "antisymmetric" | "smooth" | "periodization";

export const EXTENSION_MODES: readonly ExtensionMode[] = ["zero", "constant", "symmetric", "reflect", "periodic", "antisymmetric", "smooth", "periodization"];

/** The four sub-bands of a one-level 2-D transform, named as in PyWavelets: `cA, (cH, cV, cD) = pywt.dwt2(x)`. */
export interface Coeffs2D {
  cA: tf.Tensor2D;
  cH: tf.Tensor2D;
  cV: tf.Tensor2D;
  cD: tf.Tensor2D;
}

function checkMode(mode: string): ExtensionMode {
  if (!(EXTENSION_MODES as readonly string[]).includes(mode)) {
    throw new Error(`unknown extension mode "${mode}": supported modes are ${EXTENSION_MODES.join(", ")}`);
  }
  return mode as ExtensionMode;
}

function bankOf(wavelet: string | FilterBank): FilterBank {
  return typeof wavelet === "string" ? waveletFilters(wavelet) : wavelet;
}

/** Number of coefficients of a 1-D transform of n samples (`pywt.dwt_coeff_len`). */
export function dwtLength(n: number, wavelet: string | FilterBank, mode: ExtensionMode = "symmetric"): number {
  checkMode(mode);
  if (!Number.isInteger(n) || n < 1) throw new Error(`dwt: signal length must be a positive integer, got ${n}`);
  return mode === "periodization" ? Math.ceil(n / 2) : Math.floor((n + bankOf(wavelet).length - 1) / 2);
}

/** Number of samples the inverse transform returns for n coefficients: 2n, or 2n − L + 2 (pywt's idwt). */
export function idwtLength(n: number, wavelet: string | FilterBank, mode: ExtensionMode = "symmetric"): number {
  checkMode(mode);
  const L = bankOf(wavelet).length;
  const out = mode === "periodization" ? 2 * n : 2 * n - L + 2;
  if (!Number.isInteger(n) || n < 1 || out < 1) {
    throw new Error(`idwt: ${n} coefficients are too few for a wavelet of length ${L} in mode "${mode}" (the output would have ${out} samples)`);
  }
  return out;
}

/**
 * Where the extended sample x̃[i] of a length-N signal comes from, as (index, weight) pairs: one pair for the
 * mirror and periodic modes, none for a zero, two for "smooth" (a linear extrapolation). Long filters on
 * short signals may reach past more than one mirror image; the modular arithmetic handles that as PyWavelets does.
 */
function extension(i: number, N: number, mode: ExtensionMode): Array<[number, number]> {
  if (i >= 0 && i < N) return [[i, 1]];
  const mod = (a: number, m: number) => ((a % m) + m) % m;
  switch (mode) {
    case "zero":
      return [];
    case "constant":
      return [[i < 0 ? 0 : N - 1, 1]];
    case "symmetric": {
      const p = mod(i, 2 * N);
      return [[p < N ? p : 2 * N - 1 - p, 1]];
    }
    case "reflect": {
      if (N === 1) return [[0, 1]]; // nothing to mirror (PyWavelets never returns here); repeat the sample
      const p = mod(i, 2 * N - 2);
      return [[p < N ? p : 2 * N - 2 - p, 1]];
    }
    case "periodic":
      return [[mod(i, N), 1]];
    case "antisymmetric": {
      const p = mod(i, 2 * N);
      return p < N ? [[p, 1]] : [[2 * N - 1 - p, -1]];
    }
    case "smooth": {
      if (N === 1) return [[0, 1]];
      if (i < 0)
        return [
          [0, 1 - i],
          [1, i],
        ]; // x0 + |i|·(x0 − x1)
      const k = i - (N - 1);
      return [
        [N - 1, 1 + k],
        [N - 2, -k],
      ]; // x(N−1) + k·(x(N−1) − x(N−2))
    }
    case "periodization":
      throw new Error("periodization is handled by the circulant branch");
  }
}

/** A dense row-major matrix in plain JavaScript (double precision), for building and inspecting operators. */
export interface DenseMatrix {
  rows: number;
  cols: number;
  values: Float64Array;
}

/**
 * The (dwtLength × n) matrix of a 1-D analysis step with one filter: `A · x` equals `pywt.dwt(x, …)[0]` for
 * `decLo` and `[1]` for `decHi`.
 */
export function analysisMatrix(n: number, filter: readonly number[], mode: ExtensionMode = "symmetric"): DenseMatrix {
  checkMode(mode);
  const L = filter.length;
  if (mode === "periodization") {
    // Circulant: a[k] = Σ_j f[j] · x̃[(2k + L/2 − j) mod Np], where an odd signal is first made even by
    // repeating its last sample (Np = N + 1).
    const Np = n + (n % 2);
    const rows = Np / 2;
    const values = new Float64Array(rows * n);
    for (let k = 0; k < rows; k++) {
      for (let j = 0; j < L; j++) {
        const p = (((2 * k + L / 2 - j) % Np) + Np) % Np;
        values[k * n + Math.min(p, n - 1)] += filter[j];
      }
    }
    return { rows, cols: n, values };
  }
  const rows = Math.floor((n + L - 1) / 2);
  const values = new Float64Array(rows * n);
  for (let k = 0; k < rows; k++) {
    for (let j = 0; j < L; j++) {
      for (const [idx, w] of extension(2 * k + 1 - j, n, mode)) values[k * n + idx] += w * filter[j];
    }
  }
  return { rows, cols: n, values };
}

/**
 * The (idwtLength × n) matrix of a 1-D synthesis step with one reconstruction filter: `pywt.idwt(a, d, …)`
 * equals `S_lo · a + S_hi · d`. The mode matters only as "periodization" or not (as in PyWavelets).
 */
export function synthesisMatrix(n: number, filter: readonly number[], mode: ExtensionMode = "symmetric"): DenseMatrix {
  checkMode(mode);
  const L = filter.length;
  if (mode === "periodization") {
    // The transpose of the circulant analysis above: coefficient k spreads over samples 2k + j − L/2 + 1.
    const rows = 2 * n;
    const values = new Float64Array(rows * n);
    for (let k = 0; k < n; k++) {
      for (let j = 0; j < L; j++) {
        const m = (((2 * k + j - L / 2 + 1) % rows) + rows) % rows;
        values[m * n + k] += filter[j];
      }
    }
    return { rows, cols: n, values };
  }
  const rows = 2 * n - L + 2;
  if (rows < 1) throw new Error(`idwt: ${n} coefficients are too few for a wavelet of length ${L}`);
  const values = new Float64Array(rows * n);
  for (let m = 0; m < rows; m++) {
    for (let k = 0; k < n; k++) {
      const t = m + L - 2 - 2 * k;
      if (t >= 0 && t < L) values[m * n + k] += filter[t];
    }
  }
  return { rows, cols: n, values };
}

// ---------------------------------------------------------------------------------------------------------
// Cached operators: M and its transpose as kept tensors.

interface Operator {
  /** The matrix that multiplies from the left (rows side); its transpose multiplies from the right. */
  M: tf.Tensor2D;
  /** Mᵀ, stored so that neither the forward nor the backward pass needs a transposed matMul. */
  MT: tf.Tensor2D;
}

const operators = new Map<string, Operator>();

function toTensors(m: DenseMatrix): Operator {
  const t = new Float32Array(m.rows * m.cols);
  for (let r = 0; r < m.rows; r++) for (let c = 0; c < m.cols; c++) t[c * m.rows + r] = m.values[r * m.cols + c];
  return {
    M: tf.keep(tf.tensor2d(Float32Array.from(m.values), [m.rows, m.cols])),
    MT: tf.keep(tf.tensor2d(t, [m.cols, m.rows])),
  };
}

/** Stacks two matrices with the same columns on top of each other ([top; bottom]). */
function stackRows(top: DenseMatrix, bottom: DenseMatrix): DenseMatrix {
  const values = new Float64Array((top.rows + bottom.rows) * top.cols);
  values.set(top.values, 0);
  values.set(bottom.values, top.values.length);
  return { rows: top.rows + bottom.rows, cols: top.cols, values };
}

/** Puts two matrices with the same rows side by side ([left, right]). */
function stackCols(left: DenseMatrix, right: DenseMatrix): DenseMatrix {
  const cols = left.cols + right.cols;
  const values = new Float64Array(left.rows * cols);
  for (let r = 0; r < left.rows; r++) {
    values.set(left.values.subarray(r * left.cols, (r + 1) * left.cols), r * cols);
    values.set(right.values.subarray(r * right.cols, (r + 1) * right.cols), r * cols + left.cols);
  }
  return { rows: left.rows, cols, values };
}

/** The operator cached under `key`, built (and kept for the process) on first use. */
function cachedOperator(key: string, build: () => Operator): Operator {
  let op = operators.get(key);
  if (!op) {
    op = build();
    operators.set(key, op);
  }
  return op;
}

/** [A_lo; A_hi]: (2·dwtLength × n). */
function analysisOperator(n: number, bank: FilterBank, mode: ExtensionMode): Operator {
  return cachedOperator(`analysis|${bank.name}|${bank.decLo.join(",")}|${mode}|${n}`, () =>
    toTensors(stackRows(analysisMatrix(n, bank.decLo, mode), analysisMatrix(n, bank.decHi, mode))),
  );
}

/** [S_lo, S_hi]: (idwtLength × 2n). Only "periodization" differs from the other modes. */
function synthesisOperator(n: number, bank: FilterBank, mode: ExtensionMode): Operator {
  const kind = mode === "periodization" ? "periodization" : "valid";
  return cachedOperator(`synthesis|${bank.name}|${bank.recLo.join(",")}|${kind}|${n}`, () =>
    toTensors(stackCols(synthesisMatrix(n, bank.recLo, mode), synthesisMatrix(n, bank.recHi, mode))),
  );
}

/** M · X, whose gradient with respect to X is Mᵀ · dY (no gradient for the constant M). */
function leftMul(op: Operator, x: tf.Tensor2D): tf.Tensor2D {
  const f = tf.customGrad((input: tf.Tensor | tf.GradSaveFunc) => {
    const value: tf.Tensor = tf.matMul(op.M, input as tf.Tensor);
    return { value, gradFunc: (dy: tf.Tensor) => tf.matMul(op.MT, dy) };
  });
  return f(x) as tf.Tensor2D;
}

/** X · Mᵀ, whose gradient with respect to X is dY · M. */
function rightMulT(x: tf.Tensor2D, op: Operator): tf.Tensor2D {
  const f = tf.customGrad((input: tf.Tensor | tf.GradSaveFunc) => {
    const value: tf.Tensor = tf.matMul(input as tf.Tensor, op.MT);
    return { value, gradFunc: (dy: tf.Tensor) => tf.matMul(dy, op.M) };
  });
  return f(x) as tf.Tensor2D;
}

/**
 * One level of the 2-D DWT, as `cA, (cH, cV, cD) = pywt.dwt2(x, wavelet, mode)`. Each sub-band has shape
 * (dwtLength(rows), dwtLength(cols)). Differentiable with respect to `x`.
 */
export function dwt2(x: tf.Tensor2D, wavelet: string | FilterBank, mode: ExtensionMode = "symmetric"): Coeffs2D {
  checkMode(mode);
  if (x.rank !== 2) throw new Error(`dwt2 expects a 2-D tensor, got shape [${x.shape}]`);
  const bank = bankOf(wavelet);
  const [R, C] = x.shape;
  const r = dwtLength(R, bank, mode);
  const c = dwtLength(C, bank, mode);
  return tf.tidy(() => {
    const y = rightMulT(leftMul(analysisOperator(R, bank, mode), x), analysisOperator(C, bank, mode));
    const part = (top: number, left: number) => tf.slice(y, [top, left], [r, c]);
    return { cA: part(0, 0), cH: part(r, 0), cV: part(0, c), cD: part(r, c) };
  });
}

/** Haar by name ("haar" or "db1"): the inverse then has the closed form below. */
function isHaar(bank: FilterBank): boolean {
  return bank.name === "haar" || bank.name === "db1";
}

/**
 * Haar's inverse 2-D transform in closed form. Its filters are rec_lo = (1, 1)/√2 and rec_hi = (1, −1)/√2,
 * so every coefficient position (i, j) fills one 2×2 block of the output on its own, with no overlap
 * between blocks (a, b ∈ {0, 1} are the row and column parities, σ0 = +1, σ1 = −1):
 *
 *   X[2i + a, 2j + b] = ½ (cA + σa·cH + σb·cV + σa·σb·cD)[i, j]
 *
 * The four parity planes are computed with elementwise ops and interleaved by a stack, a transpose and a
 * reshape: a dozen cheap O(N²) ops instead of two O(N³) matrix products. (Stacking on axis 0 and then
 * transposing is several times faster on wasm than stacking on the innermost axis.) The result is the same
 * as the matrix form in every mode, since Haar's filters never reach past the boundary.
 */
function haarIdwt2({ cA, cH, cV, cD }: Coeffs2D): tf.Tensor2D {
  const [n, m] = cA.shape;
  return tf.tidy(() => {
    const aPlusH = tf.add(cA, cH); // row parity a = 0
    const aMinusH = tf.sub(cA, cH); // a = 1
    const vPlusD = tf.add(cV, cD); // cV + σa·cD for a = 0 …
    const vMinusD = tf.sub(cV, cD); // … and a = 1; the column parity b then adds or subtracts it
    const planes = tf.stack([
      tf.add(aPlusH, vPlusD),
      tf.sub(aPlusH, vPlusD), // (a, b) = (0, 0), (0, 1)
      tf.add(aMinusH, vMinusD),
      tf.sub(aMinusH, vMinusD), // (1, 0), (1, 1)
    ]); // (4, n, m)
    const blocks = tf.transpose(tf.reshape(tf.mul(planes, 0.5), [2, 2, n, m]), [2, 0, 3, 1]); // [i, a, j, b]
    return tf.reshape(blocks, [2 * n, 2 * m]) as tf.Tensor2D;
  });
}

/**
 * One level of the inverse 2-D DWT, as `pywt.idwt2((cA, (cH, cV, cD)), wavelet, mode)`. The four sub-bands
 * must share one shape (n, m); the result is (idwtLength(n), idwtLength(m)): (2n − L + 2, 2m − L + 2), or
 * (2n, 2m) with "periodization". Any mode other than "periodization" gives the same result (PyWavelets'
 * inverse does not look at the mode then). Differentiable with respect to all four sub-bands.
 */
export function idwt2(coeffs: Coeffs2D, wavelet: string | FilterBank, mode: ExtensionMode = "symmetric"): tf.Tensor2D {
  checkMode(mode);
  const { cA, cH, cV, cD } = coeffs;
  const shape = cA.shape;
  for (const [name, t] of [
    ["cA", cA],
    ["cH", cH],
    ["cV", cV],
    ["cD", cD],
  ] as const) {
    if (t.rank !== 2 || t.shape[0] !== shape[0] || t.shape[1] !== shape[1]) {
      throw new Error(`idwt2: all four sub-bands must have one 2-D shape; cA is [${shape}] but ${name} is [${t.shape}]`);
    }
  }
  const bank = bankOf(wavelet);
  const [n, m] = shape;
  idwtLength(n, bank, mode); // throws when there are too few coefficients
  idwtLength(m, bank, mode);
  if (isHaar(bank)) return haarIdwt2(coeffs);
  return tf.tidy(() => {
    // Rows of the stacked synthesis matrices pair with rows of [[cA, cV], [cH, cD]]: low-pass first.
    const stacked = tf.concat([tf.concat([cA, cV], 1), tf.concat([cH, cD], 1)], 0);
    return rightMulT(leftMul(synthesisOperator(n, bank, mode), stacked), synthesisOperator(m, bank, mode));
  });
}

/**
 * WaveFT's inverse transform of a whole coefficient matrix C of shape (H, W), split into quadrants
 *
 *   C = [[cA, cH],        (approximation top-left, horizontal top-right,
 *        [cV, cD]]         vertical bottom-left, diagonal bottom-right)
 *
 * of shape (H/2, W/2) each, followed by one level of {@link idwt2}. H and W must be even.
 *
 * - mode "periodization" (the default): the result is exactly (H, W), so an (out, in) coefficient matrix
 *   gives an (out, in) weight update with no padding or cropping, for every wavelet. The boundary wraps around.
 * - any other mode: the result is (H − L + 2, W − L + 2), the "valid" reconstruction of `pywt.idwt2`. This
 *   is what huggingface/peft computes (its `waverec2` equals pywt.idwt2): peft pads the (out, in) matrix by
 *   L − 2 rows and columns (its WAVELET_REDUCTIONS, rounded up to even sizes) so that the reconstruction
 *   comes back at (out, in), and crops the centre when the rounding left one extra row or column.
 *
 * For Haar (L = 2) both give the same (H, W) result, in closed form (a, b ∈ {0, 1}, σ0 = +1, σ1 = −1):
 *
 *   ΔW[2i + a, 2j + b] = ½ (cA + σa·cH + σb·cV + σa·σb·cD)[i, j]
 *
 * The row parity a goes with cH, because the horizontal detail is the high-pass *down the columns* (axis 0);
 * the column parity b goes with cV. This is PyWavelets' convention, and it agrees with docs/peft-reference.md.
 */
export function idwt2FromQuadrants(c: tf.Tensor2D, wavelet: string | FilterBank, mode: ExtensionMode = "periodization"): tf.Tensor2D {
  checkMode(mode);
  if (c.rank !== 2) throw new Error(`idwt2FromQuadrants expects a 2-D tensor, got shape [${c.shape}]`);
  const [H, W] = c.shape;
  if (H % 2 !== 0 || W % 2 !== 0) {
    throw new Error(
      `idwt2FromQuadrants: the coefficient matrix must have even dimensions to split into quadrants, got [${H}, ${W}] (pad it with a row or column of zeros first)`,
    );
  }
  const h = H / 2;
  const w = W / 2;
  return tf.tidy(() => {
    const q = (top: number, left: number) => tf.slice(c, [top, left], [h, w]);
    return idwt2({ cA: q(0, 0), cH: q(0, w), cV: q(h, 0), cD: q(h, w) }, wavelet, mode);
  });
}
