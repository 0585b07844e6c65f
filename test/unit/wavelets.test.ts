/**
 * lib/wavelets against PyWavelets (fixtures from scripts/fixtures/make-wavelet-fixtures.py).
 */
import * as tf from "@tensorflow/tfjs";
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  EXTENSION_MODES,
  ExtensionMode,
  WAVELET_NAMES,
  analysisMatrix,
  dwt2,
  dwtLength,
  idwt2,
  idwt2FromQuadrants,
  idwtLength,
  synthesisMatrix,
  waveletFilters,
} from "../../lib/wavelets";
import { assertClose, setupBackend } from "../helpers";

const FIXTURES = path.join(__dirname, "..", "fixtures", "wavelets");
function load<T>(name: string): T {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES, name), "utf8")) as T;
}

interface FiltersFixture {
  wavelets: Record<string, { dec_lo: number[]; dec_hi: number[]; rec_lo: number[]; rec_hi: number[] }>;
}
interface Dwt2Case {
  wavelet: string;
  mode: ExtensionMode;
  input: string;
  shape: [number, number];
  cA: number[];
  cH: number[];
  cV: number[];
  cD: number[];
}
interface Dwt2Fixture {
  inputs: Record<string, { shape: [number, number]; values: number[] }>;
  cases: Dwt2Case[];
}
interface Idwt2Case {
  wavelet: string;
  mode: ExtensionMode;
  shape: [number, number];
  cA: number[];
  cH: number[];
  cV: number[];
  cD: number[];
  outShape: [number, number];
  out: number[];
}
interface QuadrantCase {
  wavelet: string;
  mode: ExtensionMode;
  shape: [number, number];
  C: number[];
  outShape: [number, number];
  out: number[];
}

const TOL = 1e-5;

/** Runs f and checks that it left no tensor behind. */
function noLeak<T>(f: () => T): T {
  const before = tf.memory().numTensors;
  const result = f();
  assert.equal(tf.memory().numTensors, before, "tensors leaked");
  return result;
}

describe("wavelets", () => {
  before(setupBackend);

  describe("filter banks", () => {
    const fx = load<FiltersFixture>("filters.json");

    it("match pywt.Wavelet(name).filter_bank exactly", () => {
      assert.deepEqual([...WAVELET_NAMES].sort(), Object.keys(fx.wavelets).sort());
      for (const [name, ref] of Object.entries(fx.wavelets)) {
        const b = waveletFilters(name);
        assert.equal(b.length, ref.dec_lo.length, name);
        assert.deepEqual([...b.decLo], ref.dec_lo, `${name} dec_lo`);
        assert.deepEqual([...b.decHi], ref.dec_hi, `${name} dec_hi`);
        assert.deepEqual([...b.recLo], ref.rec_lo, `${name} rec_lo`);
        assert.deepEqual([...b.recHi], ref.rec_hi, `${name} rec_hi`);
      }
    });

    it("are orthonormal: Σ decLo = √2, Σ decLo² = 1, Σ decHi = 0", () => {
      for (const name of WAVELET_NAMES) {
        const { decLo, decHi } = waveletFilters(name);
        const sum = (v: readonly number[]) => v.reduce((s, x) => s + x, 0);
        assert.ok(Math.abs(sum(decLo) - Math.SQRT2) < 1e-9, name);
        assert.ok(Math.abs(sum(decLo.map((x) => x * x)) - 1) < 1e-9, name);
        assert.ok(Math.abs(sum(decHi)) < 1e-9, name);
      }
    });

    it("reject an unknown wavelet with the list of supported names", () => {
      assert.throws(
        () => waveletFilters("db5"),
        (e: Error) => {
          assert.match(e.message, /unknown wavelet "db5"/);
          for (const name of WAVELET_NAMES) assert.ok(e.message.includes(name), `message lists ${name}`);
          return true;
        },
      );
      assert.throws(() => waveletFilters("toString"), /unknown wavelet "toString"/);
      const x = tf.zeros([4, 4]) as tf.Tensor2D;
      assert.throws(() => dwt2(x, "bior1.3"), /supported wavelets are haar, db1, db2/);
      assert.throws(() => idwt2FromQuadrants(x, "morlet"), /unknown wavelet "morlet"/);
      assert.throws(() => dwt2(x, "db2", "antireflect" as ExtensionMode), /unknown extension mode "antireflect"/);
      x.dispose();
    });
  });

  describe("dwt2 matches pywt.dwt2", () => {
    const fx = load<Dwt2Fixture>("dwt2.json");
    const modes = [...new Set(fx.cases.map((c) => c.mode))];

    it(`for every wavelet, mode and shape in the fixture (${fx.cases.length} cases, modes ${modes.join(", ")})`, () => {
      assert.deepEqual([...modes].sort(), [...EXTENSION_MODES].sort(), "fixture covers every mode");
      for (const c of fx.cases) {
        const inp = fx.inputs[c.input];
        const what = `${c.wavelet}/${c.mode}/${c.input}`;
        assert.equal(dwtLength(inp.shape[0], c.wavelet, c.mode), c.shape[0], what);
        assert.equal(dwtLength(inp.shape[1], c.wavelet, c.mode), c.shape[1], what);
        tf.tidy(() => {
          const out = dwt2(tf.tensor2d(inp.values, inp.shape), c.wavelet, c.mode);
          for (const band of ["cA", "cH", "cV", "cD"] as const) {
            assert.deepEqual(out[band].shape, c.shape, `${what} ${band} shape`);
            assertClose(out[band], c[band], TOL, `${what} ${band}`);
          }
        });
      }
    });

    it("perfect reconstruction: idwt2(dwt2(x)) = x (cropped to x's shape) in every mode", () => {
      const inputs = Object.values(fx.inputs);
      for (const name of WAVELET_NAMES) {
        for (const mode of EXTENSION_MODES) {
          for (const inp of inputs) {
            tf.tidy(() => {
              const x = tf.tensor2d(inp.values, inp.shape);
              const y = idwt2(dwt2(x, name, mode), name, mode);
              // pywt returns one extra row/column for odd sizes (and 2n − L + 2 ≥ N in general).
              assert.ok(y.shape[0] >= inp.shape[0] && y.shape[1] >= inp.shape[1], `${name}/${mode} shape ${y.shape}`);
              assertClose(tf.slice(y, [0, 0], inp.shape), x, TOL, `${name}/${mode}/${inp.shape}`);
            });
          }
        }
      }
    });
  });

  describe("idwt2 matches pywt.idwt2", () => {
    const fx = load<{ cases: Idwt2Case[] }>("idwt2.json");

    it(`for every wavelet (${fx.cases.length} cases), and any non-periodization mode gives the same result`, () => {
      for (const c of fx.cases) {
        const what = `${c.wavelet}/${c.mode}/${c.shape}`;
        assert.equal(idwtLength(c.shape[0], c.wavelet, c.mode), c.outShape[0], what);
        tf.tidy(() => {
          const t = (v: number[]) => tf.tensor2d(v, c.shape);
          const coeffs = { cA: t(c.cA), cH: t(c.cH), cV: t(c.cV), cD: t(c.cD) };
          const modes: ExtensionMode[] = c.mode === "periodization" ? ["periodization"] : ["symmetric", "zero", "smooth"];
          for (const mode of modes) {
            const y = idwt2(coeffs, c.wavelet, mode);
            assert.deepEqual(y.shape, c.outShape, `${what} (${mode}) shape`);
            assertClose(y, c.out, TOL, `${what} (${mode})`);
          }
        });
      }
    });

    it("Haar's closed form (used for haar/db1) equals the matrix form", () => {
      // A bank under another name takes the general matrix path.
      const haarAsMatrices = { ...waveletFilters("haar"), name: "haar (matrix form)" };
      tf.tidy(() => {
        for (const mode of ["symmetric", "periodization"] as const) {
          const t = (seed: number) => tf.randomNormal([3, 5], 0, 1, "float32", seed) as tf.Tensor2D;
          const coeffs = { cA: t(1), cH: t(2), cV: t(3), cD: t(4) };
          const fast = idwt2(coeffs, "haar", mode);
          const slow = idwt2(coeffs, haarAsMatrices, mode);
          assert.deepEqual(fast.shape, [6, 10]);
          assertClose(fast, slow, 1e-6, mode);
        }
      });
    });

    it("rejects mismatched sub-band shapes and too few coefficients", () => {
      tf.tidy(() => {
        const a = tf.zeros([3, 3]) as tf.Tensor2D;
        const b = tf.zeros([3, 2]) as tf.Tensor2D;
        assert.throws(() => idwt2({ cA: a, cH: a, cV: b, cD: a }, "haar"), /cV is \[3,2\]/);
        // db4 (L = 8) needs at least 4 coefficients per axis for a non-empty "valid" reconstruction.
        assert.throws(() => idwt2({ cA: a, cH: a, cV: a, cD: a }, "db4"), /too few/);
        assert.deepEqual(idwt2({ cA: a, cH: a, cV: a, cD: a }, "db4", "periodization").shape, [6, 6]);
      });
    });

    it("periodization synthesis is the transpose of analysis (orthogonal wavelets: a rotation)", () => {
      for (const name of WAVELET_NAMES) {
        const { decLo, recLo } = waveletFilters(name);
        for (const n of [6, 8, 10]) {
          const A = analysisMatrix(n, decLo, "periodization");
          const S = synthesisMatrix(n / 2, recLo, "periodization");
          assert.equal(A.rows, n / 2);
          assert.equal(S.rows, n);
          let worst = 0;
          for (let i = 0; i < A.rows; i++) for (let j = 0; j < n; j++) worst = Math.max(worst, Math.abs(A.values[i * n + j] - S.values[j * A.rows + i]));
          assert.ok(worst < 1e-12, `${name} n=${n}: |A − Sᵀ| = ${worst}`);
        }
      }
    });
  });

  describe("idwt2FromQuadrants (WaveFT's convention)", () => {
    const fx = load<{ cases: QuadrantCase[] }>("quadrants.json");

    it(`matches pywt.idwt2 on [[cA, cH], [cV, cD]] (${fx.cases.length} cases)`, () => {
      for (const c of fx.cases) {
        const what = `${c.wavelet}/${c.mode}/${c.shape}`;
        tf.tidy(() => {
          const y = idwt2FromQuadrants(tf.tensor2d(c.C, c.shape), c.wavelet, c.mode);
          assert.deepEqual(y.shape, c.outShape, `${what} shape`);
          assertClose(y, c.out, TOL, what);
        });
      }
    });

    it("periodization (the default) keeps the shape; peft's padding by L − 2 gives it back in the other modes", () => {
      tf.tidy(() => {
        for (const name of WAVELET_NAMES) {
          const L = waveletFilters(name).length;
          assert.deepEqual(idwt2FromQuadrants(tf.zeros([12, 6]) as tf.Tensor2D, name).shape, [12, 6]);
          assert.deepEqual(idwt2FromQuadrants(tf.zeros([12 + L - 2, 6 + L - 2]) as tf.Tensor2D, name, "zero").shape, [12, 6]);
        }
      });
    });

    it("rejects odd dimensions with a clear error", () => {
      tf.tidy(() => {
        assert.throws(() => idwt2FromQuadrants(tf.zeros([5, 4]) as tf.Tensor2D, "haar"), /even dimensions.*\[5, 4\]/);
      });
    });

    /** docs/peft-reference.md: ΔW[2i+a, 2j+b] = ½ (cA + σa·cH + σb·cV + σa·σb·cD)[i, j], σ0 = +1, σ1 = −1. */
    function haarClosedForm(C: number[][]): number[][] {
      const h = C.length / 2;
      const w = C[0].length / 2;
      const sigma = [1, -1];
      const out: number[][] = Array.from({ length: 2 * h }, () => new Array<number>(2 * w).fill(0));
      for (let i = 0; i < h; i++) {
        for (let j = 0; j < w; j++) {
          const [cA, cH, cV, cD] = [C[i][j], C[i][w + j], C[h + i][j], C[h + i][w + j]];
          for (const a of [0, 1]) {
            for (const b of [0, 1]) out[2 * i + a][2 * j + b] = 0.5 * (cA + sigma[a] * cH + sigma[b] * cV + sigma[a] * sigma[b] * cD);
          }
        }
      }
      return out;
    }

    it("Haar on a 2×2 matrix, by hand: ½ [[A+H+V+D, A+H−V−D], [A−H+V−D, A−H−V+D]]", () => {
      // C = [[cA, cH], [cV, cD]] = [[1, 2], [3, 4]]
      const byHand = [
        [0.5 * (1 + 2 + 3 + 4), 0.5 * (1 + 2 - 3 - 4)],
        [0.5 * (1 - 2 + 3 - 4), 0.5 * (1 - 2 - 3 + 4)],
      ]; // [[5, −2], [−1, 0]]
      assert.deepEqual(
        haarClosedForm([
          [1, 2],
          [3, 4],
        ]),
        byHand,
      );
      for (const name of ["haar", "db1"]) {
        for (const mode of ["periodization", "symmetric"] as const) {
          tf.tidy(() =>
            assertClose(
              idwt2FromQuadrants(
                tf.tensor2d([
                  [1, 2],
                  [3, 4],
                ]),
                name,
                mode,
              ),
              byHand.flat(),
              1e-6,
              `${name}/${mode}`,
            ),
          );
        }
      }
      // An impulse in cH alone: only the row parity flips the sign (cH = high-pass down the columns).
      tf.tidy(() =>
        assertClose(
          idwt2FromQuadrants(
            tf.tensor2d([
              [0, 1],
              [0, 0],
            ]),
            "haar",
          ),
          [0.5, 0.5, -0.5, -0.5],
          1e-6,
          "cH impulse",
        ),
      );
      tf.tidy(() =>
        assertClose(
          idwt2FromQuadrants(
            tf.tensor2d([
              [0, 0],
              [1, 0],
            ]),
            "haar",
          ),
          [0.5, -0.5, 0.5, -0.5],
          1e-6,
          "cV impulse",
        ),
      );
    });

    it("Haar on a 4×4 matrix agrees with the closed form (and with pywt via the fixture above)", () => {
      const C = [
        [1, -2, 0.5, 3],
        [4, 0, -1, 2],
        [-3, 1, 2, -0.5],
        [0, 5, -4, 1],
      ];
      const expected = haarClosedForm(C);
      // Spot check one entry by hand: ΔW[3, 2] = ½ (cA[1,1] − cH[1,1] + cV[1,1] − cD[1,1]) = ½ (0 − 2 + 5 − 1) = 1.
      assert.equal(expected[3][2], 1);
      tf.tidy(() => assertClose(idwt2FromQuadrants(tf.tensor2d(C), "haar"), expected.flat(), 1e-6));
    });
  });

  describe("gradients and memory", () => {
    it("gradients reach the coefficients: tf.grad equals central finite differences", () => {
      const rows = 6;
      const cols = 8;
      for (const [name, mode] of [
        ["haar", "periodization"],
        ["db2", "periodization"],
        ["sym3", "zero"],
      ] as const) {
        const L = waveletFilters(name).length;
        const [H, W] = mode === "periodization" ? [rows, cols] : [rows + L - 2, cols + L - 2];
        const C0 = Array.from({ length: H * W }, (_, i) => Math.sin(1.3 * i + 0.2));
        const weights = tf.tensor2d(
          Array.from({ length: rows * cols }, (_, i) => Math.cos(0.7 * i)),
          [rows, cols],
        );
        // loss(C) = Σ w ⊙ IDWT2(C) (plus a square to make the gradient depend on C)
        const loss = (C: tf.Tensor) => {
          const y = idwt2FromQuadrants(C as tf.Tensor2D, name, mode);
          return tf.add(tf.sum(tf.mul(y, weights)), tf.mul(0.1, tf.sum(tf.square(y)))) as tf.Scalar;
        };
        const g = tf.tidy(() =>
          tf
            .grad(loss)(tf.tensor2d(C0, [H, W]))
            .dataSync()
            .slice(),
        );
        // The loss is quadratic in C, so central differences are exact up to float32 rounding even with a large step.
        const eps = 1e-2;
        for (const k of [0, 5, W + 3, H * W - 1, Math.floor((H * W) / 2) + 1]) {
          const f = (delta: number) =>
            tf.tidy(() => {
              const C = C0.slice();
              C[k] += delta;
              return loss(tf.tensor2d(C, [H, W])).dataSync()[0];
            });
          const fd = (f(eps) - f(-eps)) / (2 * eps);
          assert.ok(Math.abs(fd - g[k]) < 2e-3 * Math.max(1, Math.abs(fd)), `${name}/${mode} k=${k}: grad ${g[k]} vs finite difference ${fd}`);
        }
        weights.dispose();
      }
    });

    it("the gradient of dwt2 is its transpose: <dwt2(x), u> = <x, dwt2ᵀ(u)>", () => {
      tf.tidy(() => {
        const x = tf.randomNormal([7, 5], 0, 1, "float32", 1) as tf.Tensor2D;
        const us = dwt2(tf.zeros([7, 5]) as tf.Tensor2D, "db3");
        const u = {
          cA: tf.randomNormal(us.cA.shape, 0, 1, "float32", 2) as tf.Tensor2D,
          cH: tf.randomNormal(us.cA.shape, 0, 1, "float32", 3) as tf.Tensor2D,
          cV: tf.randomNormal(us.cA.shape, 0, 1, "float32", 4) as tf.Tensor2D,
          cD: tf.randomNormal(us.cA.shape, 0, 1, "float32", 5) as tf.Tensor2D,
        };
        const inner = (z: tf.Tensor) => {
          const c = dwt2(z as tf.Tensor2D, "db3", "symmetric");
          return tf.addN([tf.sum(tf.mul(c.cA, u.cA)), tf.sum(tf.mul(c.cH, u.cH)), tf.sum(tf.mul(c.cV, u.cV)), tf.sum(tf.mul(c.cD, u.cD))]) as tf.Scalar;
        };
        const g = tf.grad(inner)(x); // = dwt2ᵀ(u), independent of x
        const lhs = inner(x).dataSync()[0];
        const rhs = tf.sum(tf.mul(x, g)).dataSync()[0];
        assert.ok(Math.abs(lhs - rhs) < 1e-4 * Math.max(1, Math.abs(lhs)), `${lhs} vs ${rhs}`);
      });
    });

    it("no tensor is left behind (transform matrices are cached once)", () => {
      const x = tf.randomNormal([10, 6]) as tf.Tensor2D;
      const C = tf.randomNormal([10, 6]) as tf.Tensor2D;
      const run = () => {
        // (tidy returns what its function returns, undisposed: so these return nothing)
        tf.tidy(() => {
          idwt2(dwt2(x, "coif1"), "coif1");
        });
        tf.tidy(() => {
          idwt2FromQuadrants(C, "db4");
        });
        tf.tidy(() => {
          tf.grad((c: tf.Tensor) => tf.sum(idwt2FromQuadrants(c as tf.Tensor2D, "sym2")))(C);
          tf.grad((c: tf.Tensor) => tf.sum(idwt2FromQuadrants(c as tf.Tensor2D, "haar")))(C);
        });
      };
      run(); // builds and caches the matrices
      noLeak(run);
      // Results returned from the API are the caller's to dispose: exactly one new tensor per output.
      const before = tf.memory().numTensors;
      const y = idwt2FromQuadrants(C, "db4");
      const bands = dwt2(x, "coif1");
      assert.equal(tf.memory().numTensors, before + 5);
      tf.dispose([y, bands.cA, bands.cH, bands.cV, bands.cD]);
      x.dispose();
      C.dispose();
    });
  });
});
