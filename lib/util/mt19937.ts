/**
 * The Mersenne Twister MT19937 and PyTorch's CPU `torch.randperm(n, generator)` built on it, reproduced
 * exactly so that WaveFT's coefficient positions match adapters written by huggingface/peft
 * (peft draws them with `torch.randperm(out*in, generator=torch.Generator().manual_seed(seed))`).
 */
export class MT19937 {
  private readonly mt = new Uint32Array(624);
  private index = 624;

  constructor(seed: number) {
    this.mt[0] = seed >>> 0;
    for (let i = 1; i < 624; i++) {
      const prev = this.mt[i - 1] ^ (this.mt[i - 1] >>> 30);
      // 1812433253 * prev + i, in 32-bit arithmetic
      this.mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
  }

  private twist(): void {
    const mt = this.mt;
    for (let i = 0; i < 624; i++) {
      const y = (mt[i] & 0x80000000) | (mt[(i + 1) % 624] & 0x7fffffff);
      mt[i] = (mt[(i + 397) % 624] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0)) >>> 0;
    }
    this.index = 0;
  }

  /** The next 32-bit output. */
  nextUint32(): number {
    if (this.index >= 624) this.twist();
    let y = this.mt[this.index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }
}

/**
 * torch.randperm(n) on the CPU for n < 2³²/20: r = 0..n−1, then for i = 0..n−2 swap r[i] with
 * r[i + (next32() mod (n − i))].
 */
export function torchRandperm(n: number, seed: number): Int32Array {
  if (n >= 2 ** 32 / 20) throw new Error(`torchRandperm: n = ${n} is past the range where PyTorch uses this algorithm`);
  const gen = new MT19937(seed);
  const r = new Int32Array(n);
  for (let i = 0; i < n; i++) r[i] = i;
  for (let i = 0; i < n - 1; i++) {
    const z = gen.nextUint32() % (n - i);
    const t = r[i];
    r[i] = r[i + z];
    r[i + z] = t;
  }
  return r;
}
