/**
 * SIMD kernels for TensorFlow.js's wasm backend, in AssemblyScript (compiled by `npm run build:wasm` to
 * lib/ops/simd-kernels.wasm; loaded by lib/ops/wasm-simd.ts).
 *
 * The module imports the backend's own memory and works on tensors in place: every function takes byte
 * offsets into that memory. It must never write anything of its own there, so it has no static data (no
 * lookup tables, no strings: exp is a polynomial, not the standard library's table-driven one) and no
 * allocator (`--runtime stub`); test/unit/wasm-simd.test.ts checks the compiled module has no data segment.
 */

// ---------------------------------------------------------------------------------------------------------
// Transpose: the last two axes of a batch of float32 matrices, 4 × 4 tiles (SIMD shuffles) in 32 × 32 blocks.

@inline function tile(src: usize, dst: usize, rows: i32, cols: i32, i: i32, j: i32): void {
  const s = src + (((<usize>i) * cols + j) << 2);
  const rs = (<usize>cols) << 2;
  const r0 = v128.load(s);
  const r1 = v128.load(s + rs);
  const r2 = v128.load(s + 2 * rs);
  const r3 = v128.load(s + 3 * rs);
  const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5);
  const t1 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7);
  const t2 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
  const t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
  const d = dst + (((<usize>j) * rows + i) << 2);
  const rd = (<usize>rows) << 2;
  v128.store(d, v128.shuffle<f32>(t0, t2, 0, 1, 4, 5));
  v128.store(d + rd, v128.shuffle<f32>(t0, t2, 2, 3, 6, 7));
  v128.store(d + 2 * rd, v128.shuffle<f32>(t1, t3, 0, 1, 4, 5));
  v128.store(d + 3 * rd, v128.shuffle<f32>(t1, t3, 2, 3, 6, 7));
}

/** dst[b][j][i] = src[b][i][j] for `batch` matrices of rows × cols (float32). */
export function transpose(src: usize, dst: usize, batch: i32, rows: i32, cols: i32): void {
  const block: i32 = 32;
  const rows4 = rows & ~3;
  const cols4 = cols & ~3;
  const size = ((<usize>rows) * cols) << 2;
  for (let b = 0; b < batch; b++) {
    for (let i0 = 0; i0 < rows4; i0 += block) {
      const iEnd = min(i0 + block, rows4);
      for (let j0 = 0; j0 < cols4; j0 += block) {
        const jEnd = min(j0 + block, cols4);
        for (let i = i0; i < iEnd; i += 4) {
          for (let j = j0; j < jEnd; j += 4) tile(src, dst, rows, cols, i, j);
        }
      }
    }
    // what the 4 × 4 tiles leave: the last columns of the tiled rows, and the last rows
    for (let i = 0; i < rows; i++) {
      for (let j = i < rows4 ? cols4 : 0; j < cols; j++) {
        store<f32>(dst + (((<usize>j) * rows + i) << 2), load<f32>(src + (((<usize>i) * cols + j) << 2)));
      }
    }
    src += size;
    dst += size;
  }
}

// ---------------------------------------------------------------------------------------------------------
// GELU, ½·x·(1 + erf(x/√2)), and its gradient, in one pass each (TensorFlow.js needs ~10 kernels for them).

/**
 * e^x: x = n·ln2 + r with |r| ≤ ln2/2, e^r by its Taylor polynomial to r⁶, 2ⁿ through the exponent bits.
 * n is rounded with the "magic number" 1.5·2²³ (adding it leaves n in the low bits of the float), so the
 * float-to-integer conversion needs no saturating instruction; pmin/pmax map to single x86 instructions.
 */
@inline function exp4(x: v128): v128 {
  x = f32x4.pmax(f32x4.pmin(x, f32x4.splat(88.0)), f32x4.splat(-87.0));
  const magic = f32x4.splat(12582912.0);
  const shifted = f32x4.add(f32x4.mul(x, f32x4.splat(1.4426950408889634)), magic);
  const n = f32x4.sub(shifted, magic);
  // ln2 in two parts (Cody–Waite), so that x − n·ln2 loses no bits
  const r = f32x4.sub(f32x4.sub(x, f32x4.mul(n, f32x4.splat(0.693145751953125))), f32x4.mul(n, f32x4.splat(1.428606765330187e-6)));
  let p = f32x4.splat(1.0 / 720.0);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0 / 120.0));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0 / 24.0));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0 / 6.0));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(0.5));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0));
  // the bits of `shifted` are 0x4B400000 + n: 2ⁿ = (n + 127) << 23
  return f32x4.mul(p, i32x4.shl(i32x4.add(shifted, i32x4.splat(127 - 0x4b400000)), 23));
}

/** erf(x), Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7), odd in x. */
@inline function erf4(x: v128): v128 {
  const sign = v128.and(x, f32x4.splat(-0.0));
  const ax = f32x4.abs(x);
  const t = f32x4.div(f32x4.splat(1.0), f32x4.add(f32x4.splat(1.0), f32x4.mul(f32x4.splat(0.3275911), ax)));
  let y = f32x4.splat(1.061405429);
  y = f32x4.add(f32x4.mul(y, t), f32x4.splat(-1.453152027));
  y = f32x4.add(f32x4.mul(y, t), f32x4.splat(1.421413741));
  y = f32x4.add(f32x4.mul(y, t), f32x4.splat(-0.284496736));
  y = f32x4.add(f32x4.mul(y, t), f32x4.splat(0.254829592));
  y = f32x4.mul(y, t);
  return v128.or(f32x4.sub(f32x4.splat(1.0), f32x4.mul(y, exp4(f32x4.neg(f32x4.mul(ax, ax))))), sign);
}

/** Φ(x) = ½(1 + erf(x/√2)), the standard normal CDF. */
@inline function cdf4(x: v128): v128 {
  return f32x4.mul(f32x4.splat(0.5), f32x4.add(f32x4.splat(1.0), erf4(f32x4.mul(x, f32x4.splat(0.7071067811865476)))));
}

/** Reads 4 floats from i, or the 1 to 3 left before n (the other lanes 0). */
@inline function load4(p: usize, i: i32, n: i32): v128 {
  if (i + 4 <= n) return v128.load(p + ((<usize>i) << 2));
  const a = load<f32>(p + ((<usize>i) << 2));
  const b: f32 = i + 1 < n ? load<f32>(p + ((<usize>(i + 1)) << 2)) : 0;
  const c: f32 = i + 2 < n ? load<f32>(p + ((<usize>(i + 2)) << 2)) : 0;
  return f32x4(a, b, c, 0);
}

/** Writes 4 floats at i, or the 1 to 3 left before n. */
@inline function store4(p: usize, i: i32, n: i32, v: v128): void {
  if (i + 4 <= n) {
    v128.store(p + ((<usize>i) << 2), v);
    return;
  }
  if (i < n) store<f32>(p + ((<usize>i) << 2), f32x4.extract_lane(v, 0));
  if (i + 1 < n) store<f32>(p + ((<usize>(i + 1)) << 2), f32x4.extract_lane(v, 1));
  if (i + 2 < n) store<f32>(p + ((<usize>(i + 2)) << 2), f32x4.extract_lane(v, 2));
}

/** out = x·Φ(x) for n floats. */
export function gelu(x: usize, out: usize, n: i32): void {
  for (let i = 0; i < n; i += 4) {
    const v = load4(x, i, n);
    store4(out, i, n, f32x4.mul(v, cdf4(v)));
  }
}

/** dx = dy·(Φ(x) + x·φ(x)) for n floats, φ(x) = e^(−x²/2)/√(2π). */
export function geluGrad(x: usize, dy: usize, dx: usize, n: i32): void {
  for (let i = 0; i < n; i += 4) {
    const v = load4(x, i, n);
    const pdf = f32x4.mul(f32x4.splat(0.3989422804014327), exp4(f32x4.mul(f32x4.splat(-0.5), f32x4.mul(v, v))));
    store4(dx, i, n, f32x4.mul(load4(dy, i, n), f32x4.add(cdf4(v), f32x4.mul(v, pdf))));
  }
}

// ---------------------------------------------------------------------------------------------------------
// Layer normalisation over rows of d floats (d a multiple of 4), y = (x − μ)·r·w + b with r = 1/√(σ² + eps),
// and its gradient, in one kernel each way (TensorFlow.js needs ~9 forward and ~20 backward).

@inline function sum4(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

/** μ and r = 1/√(σ² + eps) of the row at x. */
@inline function rowStats(x: usize, d: i32, eps: f32): v128 {
  let s = f32x4.splat(0);
  for (let j = 0; j < d; j += 4) s = f32x4.add(s, v128.load(x + ((<usize>j) << 2)));
  const mean = sum4(s) / <f32>d;
  const m = f32x4.splat(mean);
  let q = f32x4.splat(0);
  for (let j = 0; j < d; j += 4) {
    const c = f32x4.sub(v128.load(x + ((<usize>j) << 2)), m);
    q = f32x4.add(q, f32x4.mul(c, c));
  }
  return f32x4(mean, 1.0 / Mathf.sqrt(sum4(q) / <f32>d + eps), 0, 0);
}

/** y = layer norm of each of `rows` rows of x (d floats), times w, plus b. */
export function layerNorm(x: usize, w: usize, b: usize, y: usize, rows: i32, d: i32, eps: f32): void {
  const rowBytes = (<usize>d) << 2;
  for (let i = 0; i < rows; i++) {
    const stats = rowStats(x, d, eps);
    const m = f32x4.splat(f32x4.extract_lane(stats, 0));
    const r = f32x4.splat(f32x4.extract_lane(stats, 1));
    for (let j = 0; j < d; j += 4) {
      const o = (<usize>j) << 2;
      const xhat = f32x4.mul(f32x4.sub(v128.load(x + o), m), r);
      v128.store(y + o, f32x4.add(f32x4.mul(xhat, v128.load(w + o)), v128.load(b + o)));
    }
    x += rowBytes;
    y += rowBytes;
  }
}

/**
 * The gradient of layerNorm for the output gradient dy: dx = r·(g − mean(g) − x̂·mean(g·x̂)) with g = dy·w,
 * dw = Σ_rows dy·x̂, db = Σ_rows dy (dw and db are overwritten).
 */
export function layerNormGrad(x: usize, w: usize, dy: usize, dx: usize, dw: usize, db: usize, rows: i32, d: i32, eps: f32): void {
  const rowBytes = (<usize>d) << 2;
  for (let j = 0; j < d; j += 4) {
    v128.store(dw + ((<usize>j) << 2), f32x4.splat(0));
    v128.store(db + ((<usize>j) << 2), f32x4.splat(0));
  }
  for (let i = 0; i < rows; i++) {
    const stats = rowStats(x, d, eps);
    const m = f32x4.splat(f32x4.extract_lane(stats, 0));
    const r = f32x4.splat(f32x4.extract_lane(stats, 1));
    let sg = f32x4.splat(0);
    let sgx = f32x4.splat(0);
    for (let j = 0; j < d; j += 4) {
      const o = (<usize>j) << 2;
      const xhat = f32x4.mul(f32x4.sub(v128.load(x + o), m), r);
      const g = v128.load(dy + o);
      const gw = f32x4.mul(g, v128.load(w + o));
      sg = f32x4.add(sg, gw);
      sgx = f32x4.add(sgx, f32x4.mul(gw, xhat));
      v128.store(dw + o, f32x4.add(v128.load(dw + o), f32x4.mul(g, xhat)));
      v128.store(db + o, f32x4.add(v128.load(db + o), g));
    }
    const meanG = f32x4.splat(sum4(sg) / <f32>d);
    const meanGx = f32x4.splat(sum4(sgx) / <f32>d);
    for (let j = 0; j < d; j += 4) {
      const o = (<usize>j) << 2;
      const xhat = f32x4.mul(f32x4.sub(v128.load(x + o), m), r);
      const gw = f32x4.mul(v128.load(dy + o), v128.load(w + o));
      v128.store(dx + o, f32x4.mul(r, f32x4.sub(f32x4.sub(gw, meanG), f32x4.mul(xhat, meanGx))));
    }
    x += rowBytes;
    dy += rowBytes;
    dx += rowBytes;
  }
}

// ---------------------------------------------------------------------------------------------------------
// AdamW (PyTorch's), one parameter tensor in one pass: the same float32 operations, in the same order, as
// lib/train/adamw.ts's TensorFlow.js ops (which take ~14 kernels a parameter):
//   m' = β₁m + (1 − β₁)g,  v' = β₂v + (1 − β₂)g²,  p' = p·decay − (m' / (√v' / √bc₂ + ε))·stepSize

export function adamw(
  p: usize, m: usize, v: usize, g: usize, pOut: usize, mOut: usize, vOut: usize, n: i32,
  beta1: f32, oneMinusBeta1: f32, beta2: f32, oneMinusBeta2: f32, eps: f32, decay: f32, sqrtBc2: f32, stepSize: f32,
): void {
  for (let i = 0; i < n; i += 4) {
    const gi = load4(g, i, n);
    const mi = f32x4.add(f32x4.mul(load4(m, i, n), f32x4.splat(beta1)), f32x4.mul(gi, f32x4.splat(oneMinusBeta1)));
    const vi = f32x4.add(f32x4.mul(load4(v, i, n), f32x4.splat(beta2)), f32x4.mul(f32x4.mul(gi, gi), f32x4.splat(oneMinusBeta2)));
    let pi = load4(p, i, n);
    if (decay != 1) pi = f32x4.mul(pi, f32x4.splat(decay));
    const denom = f32x4.add(f32x4.div(f32x4.sqrt(vi), f32x4.splat(sqrtBc2)), f32x4.splat(eps));
    store4(pOut, i, n, f32x4.sub(pi, f32x4.mul(f32x4.div(mi, denom), f32x4.splat(stepSize))));
    store4(mOut, i, n, mi);
    store4(vOut, i, n, vi);
  }
}

// ---------------------------------------------------------------------------------------------------------
// A product with few rows, C [m, n] = A [m, k] · B [k, n] (m ≤ 16: LoRA's rank-r side, e.g. the gradient of A,
// dhᵀ·x). XNNPACK repacks all of B for every such product; here B is read once, row by row, and C (m rows)
// stays in the first-level cache: C[i, :] += A[i, p] · B[p, :] for every p.

export function matmulFewRows(a: usize, b: usize, c: usize, m: i32, k: i32, n: i32): void {
  const n4 = n & ~3;
  const rowBytes = (<usize>n) << 2;
  memory.fill(c, 0, (<usize>m) * rowBytes);
  for (let p = 0; p < k; p++) {
    const bRow = b + (<usize>p) * rowBytes;
    for (let i = 0; i < m; i++) {
      const aip = load<f32>(a + (((<usize>i) * k + p) << 2));
      const av = f32x4.splat(aip);
      const cRow = c + (<usize>i) * rowBytes;
      for (let j = 0; j < n4; j += 4) {
        const o = (<usize>j) << 2;
        v128.store(cRow + o, f32x4.add(v128.load(cRow + o), f32x4.mul(av, v128.load(bRow + o))));
      }
      for (let j = n4; j < n; j++) {
        const o = (<usize>j) << 2;
        store<f32>(cRow + o, load<f32>(cRow + o) + aip * load<f32>(bRow + o));
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Products of small matrices, C[b] = A[b] · B[b] for a batch of row-major A [m, k], B [k, n]: attention's
// per-head products (64 × 64 · 64 × 64) and LoRA's rank-r inner products (k = r). XNNPACK creates an operator
// and repacks B for each matrix; here a 4 × 8 block of C is accumulated in registers over k, B read in place.

/**
 * A 4 × 8 block of C accumulated over k in registers: row r of the block reads A at pa + r·aRow and steps
 * aStep bytes a term (a row-major A: aRow = one row, aStep = 4; a transposed one: aRow = 4, aStep = one row).
 */
@inline function block4x8(pa: usize, aRow: usize, aStep: usize, pb: usize, bStep: usize, k: i32, pc: usize, cRow: usize): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  for (let p = 0; p < k; p++) {
    const b0 = v128.load(pb);
    const b1 = v128.load(pb, 16);
    const a0 = v128.load32_splat(pa);
    const a1 = v128.load32_splat(pa + aRow);
    const a2 = v128.load32_splat(pa + 2 * aRow);
    const a3 = v128.load32_splat(pa + 3 * aRow);
    c00 = f32x4.add(c00, f32x4.mul(a0, b0));
    c01 = f32x4.add(c01, f32x4.mul(a0, b1));
    c10 = f32x4.add(c10, f32x4.mul(a1, b0));
    c11 = f32x4.add(c11, f32x4.mul(a1, b1));
    c20 = f32x4.add(c20, f32x4.mul(a2, b0));
    c21 = f32x4.add(c21, f32x4.mul(a2, b1));
    c30 = f32x4.add(c30, f32x4.mul(a3, b0));
    c31 = f32x4.add(c31, f32x4.mul(a3, b1));
    pa += aStep;
    pb += bStep;
  }
  v128.store(pc, c00);
  v128.store(pc, c01, 16);
  v128.store(pc + cRow, c10);
  v128.store(pc + cRow, c11, 16);
  v128.store(pc + 2 * cRow, c20);
  v128.store(pc + 2 * cRow, c21, 16);
  v128.store(pc + 3 * cRow, c30);
  v128.store(pc + 3 * cRow, c31, 16);
}

/** One entry of C the blocks leave (the last rows or columns): Σ_p A(i, p)·B[p][j], A read with the same strides. */
@inline function entry(pa: usize, aStep: usize, pb: usize, bStep: usize, k: i32, pc: usize): void {
  let s: f32 = 0;
  for (let p = 0; p < k; p++) {
    s += load<f32>(pa) * load<f32>(pb);
    pa += aStep;
    pb += bStep;
  }
  store<f32>(pc, s);
}

export function matmulSmall(a: usize, b: usize, c: usize, batch: i32, m: i32, k: i32, n: i32): void {
  const m4 = m & ~3;
  const n8 = n & ~7;
  const rowA = (<usize>k) << 2;
  const rowB = (<usize>n) << 2;
  for (let t = 0; t < batch; t++) {
    for (let i = 0; i < m; i++) {
      const pa = a + (<usize>i) * rowA;
      const pc = c + (<usize>i) * rowB;
      if (i < m4 && (i & 3) === 0) for (let j = 0; j < n8; j += 8) block4x8(pa, rowA, 4, b + ((<usize>j) << 2), rowB, k, pc + ((<usize>j) << 2), rowB);
      for (let j = i < m4 ? n8 : 0; j < n; j++) entry(pa, 4, b + ((<usize>j) << 2), rowB, k, pc + ((<usize>j) << 2));
    }
    a += (<usize>m) * rowA;
    b += (<usize>k) * rowB;
    c += (<usize>m) * rowB;
  }
}

/**
 * C = Aᵀ · B for A stored [k, m] and B [k, n] with n ≤ 16 (a weight gradient of LoRA's rank side, xᵀ·dC),
 * without transposing A: a 4 × 8 block of C is accumulated over k from A's row p (4 values) and B's row p.
 */
export function matmulTransposedA(a: usize, b: usize, c: usize, m: i32, k: i32, n: i32): void {
  const m4 = m & ~3;
  const n8 = n & ~7;
  const rowA = (<usize>m) << 2;
  const rowB = (<usize>n) << 2;
  for (let i = 0; i < m; i++) {
    const pa = a + ((<usize>i) << 2);
    const pc = c + (<usize>i) * rowB;
    if (i < m4 && (i & 3) === 0) for (let j = 0; j < n8; j += 8) block4x8(pa, 4, rowA, b + ((<usize>j) << 2), rowB, k, pc + ((<usize>j) << 2), rowB);
    for (let j = i < m4 ? n8 : 0; j < n; j++) entry(pa, rowA, b + ((<usize>j) << 2), rowB, k, pc + ((<usize>j) << 2));
  }
}
