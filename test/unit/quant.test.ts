/**
 * lib/quant: NF4 / FP4 / int8 blockwise quantization byte-exact against an independent numpy/torch
 * implementation (scripts/fixtures/make-quant-fixtures.py), ties, errors, double quantization and bits per
 * parameter, the Linear4bit layer, and 8-bit Adam state.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { strict as assert } from "node:assert";
import { Linear } from "../../lib/nn/linear";
import {
  DoubleQuantizedTensor,
  FP4_CODE,
  Linear4bit,
  NF4_CODE,
  QuantizedAdamState,
  QuantizedTensor,
  bitsPerParameter,
  compressStatistics,
  dequantize,
  dequantizeFP4,
  dequantizeInt8,
  dequantizeNF4,
  fp4Encode,
  fp4Value,
  int8View,
  inverseNormalCdf,
  isDoubleQuantized,
  nf4CodebookFromQuantiles,
  nf4Encode,
  numBlocks,
  pack4bit,
  quantize,
  quantizeFP4,
  quantizeInt8,
  quantizeNF4,
  restoreAbsmax,
  roundHalfEven,
  storageBytes,
  unpack4bit,
} from "../../lib/quant";
import { Rng, normalArray } from "../../lib/util/random";
import { assertClose, maxAbsDiff, setupBackend } from "../helpers";

interface Packed4 {
  packed: string;
  absmax: number[];
  dequant: number[];
}
interface Case {
  name: string;
  blocksize: number;
  x: number[];
  shape?: number[];
  nf4: Packed4;
  fp4: Packed4;
  int8: { codes: number[]; absmax: number[]; dequant: number[] };
  nf4_double_quant?: { offset: number; codes: number[]; absmax2: number[]; restored_absmax: number[] };
}
interface Fixture {
  nf4_code: number[];
  fp4_code: number[];
  nf4_from_quantiles: number[];
  cases: Case[];
}

// fp32 numbers are stored as their shortest round-trip decimals: compare after fp32 rounding (f32()).
const fixture = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "fixtures/quant/blockwise.json"), "utf8")) as Fixture;
const f32 = (a: number[]): Float32Array => Float32Array.from(a);

/** The table in docs/peft-reference.md, "QLoRA (bitsandbytes NF4)". */
const SPEC_NF4 = [
  -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
  0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
];

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");

/** Mean squared error between two arrays. */
function mse(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return s / a.length;
}

function assertArrayEqual(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) assert.equal(actual[i], expected[i], `${what}[${i}]: ${actual[i]} ≠ ${expected[i]}`);
}

describe("quant: code books", () => {
  it("NF4 code book is bitsandbytes' table, exactly (and the fixture's)", () => {
    assert.equal(NF4_CODE.length, 16);
    assertArrayEqual(NF4_CODE, Float32Array.from(SPEC_NF4), "NF4_CODE");
    assertArrayEqual(NF4_CODE, f32(fixture.nf4_code), "NF4_CODE vs fixture");
    for (let i = 1; i < 16; i++) assert.ok(NF4_CODE[i] > NF4_CODE[i - 1], "ascending");
    assert.equal(NF4_CODE[7], 0);
  });

  it("NF4 re-derived from normal quantiles matches the table to 1e-6 (and torch.special.ndtri's derivation)", () => {
    const derived = nf4CodebookFromQuantiles();
    assert.ok(maxAbsDiff(derived, NF4_CODE) < 1e-6, `max diff ${maxAbsDiff(derived, NF4_CODE)}`);
    assert.ok(maxAbsDiff(derived, fixture.nf4_from_quantiles) < 1e-6);
  });

  it("inverse normal CDF: known quantiles", () => {
    assert.equal(inverseNormalCdf(0.5), 0);
    // references: torch.special.ndtri in float64; Acklam's relative error is < 1.15e-9
    const cases: Array<[number, number]> = [
      [0.975, 1.959963984540054],
      [0.025, -1.959963984540054],
      [0.9677083, 1.8481309597573734],
      [1e-6, -4.753424308822899],
    ];
    for (const [p, z] of cases) assert.ok(Math.abs(inverseNormalCdf(p) - z) < 1.2e-9 * Math.abs(z), `Φ⁻¹(${p}) = ${inverseNormalCdf(p)} ≠ ${z}`);
  });

  it("FP4 code book: bitsandbytes' e2m1 values ÷ 12, decodable from the bit layout", () => {
    assertArrayEqual(FP4_CODE, f32(fixture.fp4_code), "FP4_CODE vs fixture");
    const bnb = [0, 0.0625, 8, 12, 4, 6, 2, 3, -0, -0.0625, -8, -12, -4, -6, -2, -3];
    for (let b = 0; b < 16; b++) {
      assert.equal(fp4Value(b), bnb[b], `fp4Value(${b})`);
      assert.equal(FP4_CODE[b], Math.fround(bnb[b] / 12));
    }
    assert.ok(Object.is(FP4_CODE[8], -0), "code 8 is −0");
  });
});

describe("quant: NF4 / FP4 / int8 against the numpy/torch fixture", () => {
  for (const c of fixture.cases) {
    it(`${c.name}: NF4 packed bytes, absmax and dequantized values are exact`, () => {
      const q = quantizeNF4(c.x, { blocksize: c.blocksize, shape: c.shape });
      assert.equal(hex(q.packed), c.nf4.packed);
      assertArrayEqual(q.absmax, f32(c.nf4.absmax), "absmax");
      assertArrayEqual(dequantizeNF4(q), f32(c.nf4.dequant), "dequant");
      assert.deepEqual(q.shape, c.shape ?? [c.x.length]);
    });

    it(`${c.name}: FP4 packed bytes, absmax and dequantized values are exact`, () => {
      const q = quantizeFP4(c.x, { blocksize: c.blocksize });
      assert.equal(hex(q.packed), c.fp4.packed);
      assertArrayEqual(q.absmax, f32(c.fp4.absmax), "absmax");
      const dq = dequantizeFP4(q);
      const ref = f32(c.fp4.dequant);
      for (let i = 0; i < dq.length; i++) assert.ok(dq[i] === ref[i], `dequant[${i}]`); // −0 === 0
    });

    it(`${c.name}: int8 codes, absmax and dequantized values are exact`, () => {
      const q = quantizeInt8(c.x, { blocksize: c.blocksize });
      assertArrayEqual(int8View(q.packed), c.int8.codes, "codes");
      assertArrayEqual(q.absmax, f32(c.int8.absmax), "absmax");
      assertArrayEqual(dequantizeInt8(q), f32(c.int8.dequant), "dequant");
    });
  }

  it("double quantization of the 16×48 matrix's NF4 scales matches the fixture", () => {
    const c = fixture.cases.find((k) => k.nf4_double_quant) as Case;
    const ref = c.nf4_double_quant as NonNullable<Case["nf4_double_quant"]>;
    const dq = compressStatistics(quantizeNF4(c.x, { blocksize: c.blocksize, shape: c.shape }));
    assert.equal(dq.nested.offset, Math.fround(ref.offset));
    assertArrayEqual(int8View(dq.nested.quantized.packed), ref.codes, "codes₂");
    assertArrayEqual(dq.nested.quantized.absmax, f32(ref.absmax2), "absmax₂");
    assertArrayEqual(restoreAbsmax(dq), f32(ref.restored_absmax), "restored absmax");
    assert.equal(hex(dq.packed), c.nf4.packed, "the 4-bit codes are unchanged");
  });
});

describe("quant: rounding, packing, edge cases", () => {
  it("NF4: every exact midpoint goes to the lower code, the next double up to the upper one", () => {
    for (let i = 0; i < 15; i++) {
      const mid = (NF4_CODE[i] + NF4_CODE[i + 1]) / 2;
      assert.equal(nf4Encode(mid), i, `tie ${i}|${i + 1}`);
      assert.equal(nf4Encode(mid + Math.abs(mid) * 1e-15 + 1e-300), i + 1);
      assert.equal(nf4Encode(NF4_CODE[i]), i, `level ${i}`);
    }
    assert.equal(nf4Encode(1), 15);
    assert.equal(nf4Encode(0), 7);
    assert.equal(nf4Encode(-0), 7);
  });

  it("FP4: sign bit for negatives, magnitude ties go to the smaller magnitude", () => {
    const order = [0b000, 0b001, 0b110, 0b111, 0b100, 0b101, 0b010, 0b011];
    for (let i = 0; i < 7; i++) {
      const mid = (FP4_CODE[order[i]] + FP4_CODE[order[i + 1]]) / 2;
      assert.equal(fp4Encode(mid), order[i]);
      assert.equal(fp4Encode(-mid), 8 | order[i]);
      assert.equal(fp4Encode(mid * (1 + 1e-12)), order[i + 1]);
      assert.equal(fp4Encode(-mid * (1 + 1e-12)), 8 | order[i + 1]);
    }
    assert.equal(fp4Encode(0), 0);
    assert.equal(fp4Encode(-1e-9), 8, "tiny negatives are −0, as in the CUDA kernel");
    assert.equal(fp4Encode(1), 3);
    assert.equal(fp4Encode(-1), 11);
  });

  it("int8 rounds exact halves to even (torch.round)", () => {
    assert.deepEqual([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4, -2.6].map(roundHalfEven), [0, 2, 2, -0, -2, -2, 2, -3]);
  });

  it("two codes per byte, the first element in the HIGH nibble; odd lengths padded with the zero code", () => {
    assert.equal(hex(quantizeNF4([1, -1]).packed), "f0");
    assert.equal(hex(quantizeNF4([-1, 1]).packed), "0f");
    assert.equal(hex(quantizeNF4([1]).packed), "f7"); // padding value 0.0 → NF4 code 7
    assert.equal(hex(quantizeFP4([1, -1, 0.5]).packed), "3b50"); // 1 → 0b0011, −1 → 0b1011, 0.5 → 0b0101, pad 0
    const codes = [1, 2, 3, 4, 5, 6, 7, 8, 15];
    const p = pack4bit(codes, 7);
    assert.equal(hex(p), "12345678f7");
    assertArrayEqual(unpack4bit(p, codes.length), codes, "unpack");
  });

  it("absmax 0 (an all-zero block) gives no NaN: scale 0, the zero code, dequantized 0", () => {
    const x = new Float32Array(130); // blocks of 64: [0..63] zero, [64..127] with values, [128, 129] zero
    for (let i = 64; i < 128; i++) x[i] = (i % 7) - 3;
    for (const type of ["nf4", "fp4", "int8"] as const) {
      for (const doubleQuant of [false, true]) {
        const s = quantize(x, { quantType: type, doubleQuant });
        const y = dequantize(s);
        assert.ok(
          y.every((v) => Number.isFinite(v)),
          `${type} finite`,
        );
        // (=== so that −0 counts: restored double-quantized scales of a zero block may be a hair below 0)
        for (const i of [0, 10, 63, 128, 129]) assert.ok(y[i] === 0, `${type} dq=${doubleQuant} zero block [${i}]: ${y[i]}`);
      }
      const q = quantize(x, { quantType: type });
      assert.ok(!isDoubleQuantized(q) && q.absmax[0] === 0 && q.absmax[2] === 0);
    }
    assert.equal(hex(quantizeNF4(new Float32Array(4)).packed), "7777");
  });

  it("shape is checked and recorded; blocks of any size, short last block", () => {
    assert.throws(() => quantizeNF4(new Float32Array(6), { shape: [2, 2] }), /shape/);
    const q = quantizeNF4(normalArray(new Rng(1), 100, 1), { blocksize: 32, shape: [10, 10] });
    assert.equal(q.absmax.length, 4);
    assert.equal(q.packed.length, 50);
    assert.deepEqual(q.shape, [10, 10]);
  });
});

describe("quant: accuracy and storage", () => {
  const w = normalArray(new Rng(7), 64 * 256, 0.02);

  it("on Gaussian weights the error is ordered int8 < NF4 < FP4", () => {
    const e = {
      int8: mse(dequantize(quantize(w, { quantType: "int8" })), w),
      nf4: mse(dequantize(quantize(w, { quantType: "nf4" })), w),
      fp4: mse(dequantize(quantize(w, { quantType: "fp4" })), w),
    };
    assert.ok(e.int8 < e.nf4 && e.nf4 < e.fp4, JSON.stringify(e));
    // relative RMSE: NF4 ≈ 0.1 of the weight scale at blocksize 64
    assert.ok(Math.sqrt(e.nf4) / 0.02 < 0.12, `NF4 relative RMSE ${Math.sqrt(e.nf4) / 0.02}`);
  });

  it("bits per parameter: 4.5 with fp32 scales, ≈ 4.127 double-quantized (measured from byte lengths)", () => {
    const n = 1 << 20; // 1M weights, 16384 blocks of 64, 64 second-level blocks of 256
    const big = normalArray(new Rng(3), n, 0.02);
    const plain = quantize(big, { quantType: "nf4" }) as QuantizedTensor;
    const dq = quantize(big, { quantType: "nf4", doubleQuant: true }) as DoubleQuantizedTensor;
    assert.equal(bitsPerParameter(plain), 4.5);
    const b = storageBytes(dq);
    assert.deepEqual(b, { codes: n / 2, scales: n / 64, scales2: (n / 64 / 256) * 4, offset: 4, total: b.total });
    assert.equal(bitsPerParameter(dq), 4 + 8 / 64 + 32 / (64 * 256) + 32 / n);
    assert.ok(Math.abs(bitsPerParameter(dq) - 4.127) < 5e-4, `${bitsPerParameter(dq)}`);
    assert.equal(bitsPerParameter(quantize(big, { quantType: "int8" })), 8.5);

    // restored scales: within absmax₂/254 of the fp32 ones, and the weights barely move
    const restored = restoreAbsmax(dq);
    const tol = Math.max(...dq.nested.quantized.absmax) / 254 + 1e-9;
    assert.ok(maxAbsDiff(restored, plain.absmax) <= tol);
    const plainErr = mse(dequantize(plain), big);
    assert.ok(mse(dequantize(dq), big) < plainErr * 1.05);
  });
});

describe("quant: Linear4bit", () => {
  before(setupBackend);

  function fp32Layer(): Linear {
    const lin = new Linear(512, 128, { rng: new Rng(11) }); // weight (128, 512), std 0.02
    lin.bias?.assign(tf.tensor1d(normalArray(new Rng(12), 128, 0.1)));
    return lin;
  }
  const x = () => tf.tensor2d(normalArray(new Rng(13), 4 * 512, 1), [4, 512]);

  it("forward equals x·deq(W)ᵀ + b and is close to the fp32 layer", () => {
    const lin = fp32Layer();
    const q = Linear4bit.fromLinear(lin);
    const xs = x();
    tf.tidy(() => {
      const wq = q.dequantizedWeight();
      assert.deepEqual(wq.shape, [128, 512]);
      const expected = tf.add(tf.matMul(xs, wq, false, true), lin.bias as tf.Tensor);
      assertClose(q.forward(xs), expected, 1e-4, "Linear4bit forward");
      const ref = lin.forward(xs);
      const rel = tf.norm(tf.sub(q.forward(xs), ref)).dataSync()[0] / tf.norm(tf.sub(ref, lin.bias as tf.Tensor)).dataSync()[0];
      assert.ok(rel < 0.12, `relative error vs fp32 ${rel}`);
      assert.equal(q.inFeatures, 512);
      assert.equal(q.outFeatures, 128);
      // rank-3 input
      const x3 = tf.reshape(xs, [2, 2, 512]);
      assertClose(tf.reshape(q.forward(x3), [4, 128]), q.forward(xs), 1e-6, "rank-3");
    });
    xs.dispose();
    lin.dispose();
    q.dispose();
  });

  it("stores ≤ 30% of the fp32 bytes for a 128×512 weight (all three types)", () => {
    const lin = fp32Layer();
    for (const quantType of ["nf4", "fp4", "int8"] as const) {
      for (const doubleQuant of [true, false]) {
        const q = Linear4bit.fromLinear(lin, { quantType, doubleQuant });
        const b = q.storageBytes();
        assert.equal(b.total, b.codes + b.scales + b.scales2 + b.offset + b.bias);
        assert.equal(b.bias, 128 * 4);
        assert.equal(q.fp32Bytes, (128 * 512 + 128) * 4);
        assert.ok(b.total / q.fp32Bytes <= 0.3, `${quantType} dq=${doubleQuant}: ${b.total / q.fp32Bytes}`);
        if (quantType !== "int8") assert.equal(b.codes, (128 * 512) / 2);
        q.dispose();
      }
    }
    const nf4 = Linear4bit.fromLinear(lin).storageBytes();
    assert.deepEqual(nf4, { codes: 32768, scales: 1024, scales2: 16, offset: 4, bias: 512, total: 34324 });
    lin.dispose();
  });

  it("has no trainable parameters; the gradient flows to x (for adapters), not to the weight", () => {
    const lin = fp32Layer();
    const q = Linear4bit.fromLinear(lin);
    assert.equal(q.trainableParameters().length, 0);
    assert.equal(q.numParameters(true), 0);
    assert.deepEqual(
      q.namedParameters().map(([n]) => n),
      ["bias"],
    );
    assert.ok(
      q.parameters().every((p) => !p.trainable),
      "the bias is frozen",
    );
    const xs = x();
    tf.tidy(() => {
      const dx = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(q.forward(t), tf.range(0, 128).reshape([1, 128]))))(xs);
      const expected = tf.matMul(tf.tile(tf.range(0, 128).reshape([1, 128]), [4, 1]), q.dequantizedWeight());
      assertClose(dx, expected, 1e-3, "dL/dx");
    });
    xs.dispose();
    lin.dispose();
    q.dispose();
  });

  it("leaks no tensor per forward, dequantizedWeight or requantize", () => {
    const lin = fp32Layer();
    const q = Linear4bit.fromLinear(lin);
    const xs = x();
    q.forward(xs).dispose(); // warm-up (kernels may allocate once)
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) q.forward(xs).dispose();
    q.dequantizedWeight().dispose();
    tf.tidy(() => q.requantize(q.dequantizedWeight()));
    assert.equal(tf.memory().numTensors, before);
    xs.dispose();
    lin.dispose();
    q.dispose();
  });

  it("requantize (the lossy merge): W ← Q(deq(W) + ΔW)", () => {
    const lin = fp32Layer();
    const q = Linear4bit.fromLinear(lin);
    const delta = tf.tensor2d(normalArray(new Rng(21), 128 * 512, 0.01), [128, 512]);
    const target = tf.tidy(() => tf.add(q.dequantizedWeight(), delta) as tf.Tensor2D);
    q.requantize(target);
    const after = q.dequantizedWeight();
    const err = maxAbsDiff(after, target);
    assert.ok(err > 0, "re-quantization is lossy");
    assert.ok(err < 0.03, `requantize error ${err}`);
    assert.ok(isDoubleQuantized(q.quantState), "keeps its options");
    assert.throws(() => q.requantize(tf.zeros([512, 128]) as tf.Tensor2D), /shape/);
    tf.dispose([delta, target, after]);
    lin.dispose();
    q.dispose();
  });

  it("fromWeight keeps the caller's tensors, works without bias", () => {
    const w = tf.tensor2d(normalArray(new Rng(5), 6 * 10, 1), [6, 10]);
    const b = tf.tensor1d([1, 2, 3, 4, 5, 6]);
    const q = Linear4bit.fromWeight(w, b, { quantType: "int8", blocksize: 16, doubleQuant: false });
    const q0 = Linear4bit.fromWeight(w);
    assert.ok(!w.isDisposed && !b.isDisposed);
    assert.equal(q0.bias, null);
    assert.equal(q0.storageBytes().bias, 0);
    tf.tidy(() => {
      const xs = tf.ones([1, 10]);
      assertClose(tf.sub(q.forward(xs), q.forward(tf.zeros([1, 10]))), tf.sum(q.dequantizedWeight(), 1).reshape([1, 6]), 1e-5);
      assertClose(q.forward(tf.zeros([1, 10])), b.reshape([1, 6]), 0);
      assert.ok(maxAbsDiff(q.dequantizedWeight(), w) < 0.05, "int8 is close");
    });
    tf.dispose([w, b]);
    q.dispose();
    q0.dispose();
  });
});

describe("quant: 8-bit Adam state", () => {
  const n = 10000;
  const rng = new Rng(9);
  const m = normalArray(rng, n, 1e-3);
  const v = normalArray(rng, n, 1e-3).map((g) => g * g + 1e-9);

  it("store → load: small error relative to each block's largest value; √v never underestimated", () => {
    const st = new QuantizedAdamState();
    st.store("w", m, v);
    const back = st.load("w");
    const bs = st.blocksize;
    for (let b = 0; b < numBlocks(n, bs); b++) {
      let mMax = 0;
      let vMax = 0;
      for (let i = b * bs; i < Math.min(n, (b + 1) * bs); i++) {
        mMax = Math.max(mMax, Math.abs(m[i]));
        vMax = Math.max(vMax, v[i]);
      }
      for (let i = b * bs; i < Math.min(n, (b + 1) * bs); i++) {
        assert.ok(Math.abs(back.m[i] - m[i]) <= mMax / 254 + 1e-12, `m[${i}]`);
        assert.ok(Math.abs(back.v[i] - v[i]) <= vMax * (2 / 255 + 1 / 255 ** 2) + 1e-15, `v[${i}]`);
        assert.ok(Math.sqrt(back.v[i]) >= Math.sqrt(v[i]) * (1 - 1e-6), `√v[${i}] rounded up`);
      }
    }
    const rel = Math.sqrt(mse(back.m, m)) / Math.sqrt(mse(m, new Float32Array(n)));
    assert.ok(rel < 0.01, `m relative RMSE ${rel}`);
  });

  it("bytes: ≈ 1/4 of fp32 state plus the block scales", () => {
    const st = new QuantizedAdamState();
    st.store("a", m, v);
    st.store("b", m.subarray(0, 300), v.subarray(0, 300));
    const one = st.bytes("a");
    assert.equal(one.fp32, 8 * n);
    assert.equal(one.quantized, 2 * n + 2 * 4 * Math.ceil(n / 256));
    assert.ok(Math.abs(one.ratio - 0.254) < 0.002, `ratio ${one.ratio}`);
    const all = st.bytes();
    assert.equal(all.fp32, 8 * (n + 300));
    assert.deepEqual(st.names(), ["a", "b"]);
    assert.ok(st.delete("b") && !st.has("b"));
  });

  it("update(): the moments track fp32 Adam's within the quantization error", () => {
    const st = new QuantizedAdamState();
    const g = new Rng(4);
    const size = 512;
    const mRef = new Float64Array(size);
    const vRef = new Float64Array(size);
    let last = { m: new Float32Array(size), v: new Float32Array(size) };
    for (let step = 0; step < 20; step++) {
      const grad = normalArray(g, size, 1e-2);
      for (let i = 0; i < size; i++) {
        mRef[i] = 0.9 * mRef[i] + 0.1 * grad[i];
        vRef[i] = 0.999 * vRef[i] + 0.001 * grad[i] * grad[i];
      }
      last = st.update("p", grad);
    }
    const mScale = Math.max(...mRef.map(Math.abs));
    const vScale = Math.max(...vRef);
    assert.ok(maxAbsDiff(last.m, mRef) < 0.05 * mScale, `m drift ${maxAbsDiff(last.m, mRef) / mScale}`);
    assert.ok(maxAbsDiff(last.v, vRef) < 0.05 * vScale, `v drift ${maxAbsDiff(last.v, vRef) / vScale}`);
    assert.throws(() => st.update("p", new Float32Array(3)), /gradients/);
  });
});
