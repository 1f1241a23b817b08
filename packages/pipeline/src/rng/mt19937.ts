/**
 * The 32-bit Mersenne Twister (MT19937) exactly as PyTorch's CPU generator runs it
 * (`at::mt19937`, which equals numpy's legacy `RandomState` word stream).
 *
 * Seeding is the standard `init_genrand`: `s[0] = seed; s[i] = 1812433253 * (s[i-1] ^ (s[i-1] >>> 30)) + i`
 * (mod 2^32). Words come out of the usual twist (every 624 words) followed by tempering.
 */

const N = 624;
const M = 397;
const MATRIX_A = 0x9908b0df;
const UPPER_MASK = 0x80000000;
const LOWER_MASK = 0x7fffffff;

export class MT19937 {
  private readonly state = new Uint32Array(N);
  private index = N;

  constructor(seed32: number) {
    this.seed(seed32);
  }

  /** Re-seed with a 32-bit value (the caller has already reduced the seed to its low 32 bits). */
  seed(seed32: number): void {
    const s = this.state;
    s[0] = seed32 >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = s[i - 1];
      // Math.imul gives the low 32 bits of the product, which is the mod-2^32 multiply we need.
      s[i] = (Math.imul(1812433253, prev ^ (prev >>> 30)) + i) >>> 0;
    }
    this.index = N;
  }

  /** Next tempered 32-bit word, as an unsigned number in [0, 2^32). */
  nextU32(): number {
    if (this.index >= N) this.twist();
    let y = this.state[this.index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** Fill `out` with consecutive words (same stream as calling nextU32 out.length times). */
  fillU32(out: Uint32Array): void {
    for (let i = 0; i < out.length; i++) out[i] = this.nextU32();
  }

  private twist(): void {
    const s = this.state;
    for (let i = 0; i < N; i++) {
      const y = (s[i] & UPPER_MASK) | (s[(i + 1) % N] & LOWER_MASK);
      let v = s[(i + M) % N] ^ (y >>> 1);
      if (y & 1) v ^= MATRIX_A;
      s[i] = v >>> 0;
    }
    this.index = 0;
  }
}
