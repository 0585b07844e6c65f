/**
 * Singular values of a small dense matrix, for notebooks that compare the *rank* of weight updates
 * (LoRA's ΔW = B·A has rank ≤ r; WaveFT's and DoRA's need not). TensorFlow.js has no SVD or eigen solver,
 * so this is a one-sided Jacobi SVD (Hestenes, 1958) in double precision, in plain JavaScript:
 *
 *   Rotate pairs of columns (p, q) of a working copy U = X until every pair is orthogonal. Each rotation is
 *   the 2×2 Jacobi rotation that zeroes the pair's inner product; the column norms of the converged U are
 *   the singular values of X (the rotations multiply X from the right by an orthogonal matrix, which
 *   changes neither the singular values nor the rank).
 *
 * It works on the columns of the thinner side (X or Xᵀ), so an (m × n) matrix costs about
 * sweeps · min(m,n)² · max(m,n) · 3 flops: a 512 × 128 matrix takes a few tens of milliseconds. It is accurate
 * to relative precision even for tiny singular values (unlike the eigenvalues of XᵀX, which square the
 * condition number), so the numerical rank below is trustworthy. Meant for matrices up to a few hundred
 * columns, not for large models.
 */
import * as tf from "@tensorflow/tfjs";

export interface SingularValueOptions {
  /** Stop when every pair's |cos angle| is below this (default 1e-12). */
  tolerance?: number;
  /** Give up after this many sweeps over all pairs (default 60; a few sweeps are typical). */
  maxSweeps?: number;
}

/**
 * The singular values of the row-major (rows × cols) matrix `values`, in descending order
 * (min(rows, cols) of them).
 */
export function singularValues(values: ArrayLike<number>, rows: number, cols: number, opts: SingularValueOptions = {}): Float64Array {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 1 || cols < 1) {
    throw new Error(`singularValues: the shape must be two positive integers, got ${rows} × ${cols}`);
  }
  if (values.length !== rows * cols) {
    throw new Error(`singularValues: ${values.length} values do not fill a ${rows} × ${cols} matrix`);
  }
  const tol = opts.tolerance ?? 1e-12;
  const maxSweeps = opts.maxSweeps ?? 60;
  // Work on n columns of length m with m ≥ n: the matrix itself, or its transpose. Columns are stored
  // contiguously (column j at [j*m, (j+1)*m)) so that each rotation streams through memory.
  const transpose = cols > rows;
  const m = transpose ? cols : rows;
  const n = transpose ? rows : cols;
  const u = new Float64Array(m * n);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = Number(values[r * cols + c]);
      if (!Number.isFinite(v)) throw new Error(`singularValues: entry (${r}, ${c}) is ${v}`);
      // X: column c holds X[:, c]. Xᵀ: column r holds row r of X.
      if (transpose) u[r * m + c] = v;
      else u[c * m + r] = v;
    }
  }
  const norms = new Float64Array(n);
  const sq = (j: number): number => {
    let s = 0;
    for (let i = j * m, e = i + m; i < e; i++) s += u[i] * u[i];
    return s;
  };
  for (let j = 0; j < n; j++) norms[j] = sq(j);
  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    let rotated = false;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const a = norms[p];
        const b = norms[q];
        if (a === 0 || b === 0) continue;
        let c = 0;
        const op = p * m;
        const oq = q * m;
        for (let i = 0; i < m; i++) c += u[op + i] * u[oq + i];
        if (Math.abs(c) <= tol * Math.sqrt(a * b)) continue;
        rotated = true;
        // The rotation that makes columns p and q orthogonal (Golub & Van Loan, Algorithm 8.4.1 on XᵀX).
        const zeta = (b - a) / (2 * c);
        const t = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const cs = 1 / Math.sqrt(1 + t * t);
        const sn = cs * t;
        for (let i = 0; i < m; i++) {
          const x = u[op + i];
          const y = u[oq + i];
          u[op + i] = cs * x - sn * y;
          u[oq + i] = sn * x + cs * y;
        }
        norms[p] = sq(p);
        norms[q] = sq(q);
      }
    }
    if (!rotated) break;
  }
  const out = Float64Array.from(norms, (v) => Math.sqrt(v));
  return out.sort().reverse();
}

/** The singular values of a 2-D tensor (read back to the CPU asynchronously, as any backend allows), in descending order. */
export async function singularValuesOf(x: tf.Tensor2D, opts: SingularValueOptions = {}): Promise<Float64Array> {
  if (x.rank !== 2) throw new Error(`singularValuesOf expects a 2-D tensor, got shape [${x.shape}]`);
  const [rows, cols] = x.shape;
  return singularValues(await x.data(), rows, cols, opts);
}

/**
 * The numerical rank: how many singular values exceed σ_max · max(rows, cols) · eps — NumPy's
 * `matrix_rank` rule. The default eps is float32's (2⁻²³), since the matrices come from float32 tensors:
 * a product B·A of rank r computed in float32 has r large singular values and the rest at rounding level.
 */
export function numericalRank(sv: ArrayLike<number>, rows: number, cols: number, eps = 2 ** -23): number {
  let max = 0;
  for (let i = 0; i < sv.length; i++) max = Math.max(max, sv[i]);
  const threshold = max * Math.max(rows, cols) * eps;
  let rank = 0;
  for (let i = 0; i < sv.length; i++) if (sv[i] > threshold) rank++;
  return rank;
}
