import { ParameterError } from '@sd-webgpu/tensor';
import { MT19937 } from './mt19937.js';
import { boxMuller16, boxMullerDouble, uniformDouble, uniformFloat } from './normal.js';

/** A seed as torch accepts it: any integer; only its low 32 bits (two's complement) reach mt19937. */
export type TorchSeed = number | bigint;

/** Reduce a seed to the 32-bit value torch's CPU generator actually uses (`seed & 0xFFFFFFFF`). */
export function seedLow32(seed: TorchSeed): number {
  if (typeof seed === 'number') {
    if (!Number.isSafeInteger(seed)) {
      throw new ParameterError('TorchGenerator', 'seed', `must be an integer with |seed| <= 2^53-1, got ${seed}`);
    }
    seed = BigInt(seed);
  }
  if (seed < -(1n << 63n) || seed >= 1n << 64n) {
    throw new ParameterError('TorchGenerator', 'seed', `must fit in 64 bits (torch's uint64 seed), got ${seed}`);
  }
  // BigInt & works on the infinite two's complement, so -1 -> 0xFFFFFFFF, as torch's uint64 wrap does.
  return Number(seed & 0xffffffffn);
}

function shapeNumel(op: string, shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new ParameterError(`TorchGenerator.${op}`, 'shape', `must hold non-negative integers, got [${shape.join(',')}]`);
    }
    n *= d;
  }
  return n;
}

/**
 * A re-implementation of torch 1.13's CPU `torch.Generator` for float32 `rand` and `randn`:
 * `new TorchGenerator(s).randn(shape)` gives the same numbers as
 * `torch.randn(shape, generator=torch.Generator().manual_seed(s))`.
 *
 * - `rand`: one word per value, `(w & 0xFFFFFF) * 2^-24`; bit-exact.
 * - `randn`, numel >= 16 (torch's vectorised path): N uniform floats, then float32 Box-Muller on each full
 *   block of 16; if N % 16 != 0, 16 fresh uniforms overwrite the last 16 slots and that block is transformed
 *   again. Matches torch's AVX2 build bit for bit where our avx_mathfun emulation agrees (see normal.ts);
 *   always within 3 ulp.
 * - `randn`, numel < 16 (scalar path): double-precision Box-Muller from 4 words per pair; the sine half is
 *   cached in the generator and used by the next scalar-path draw, even in a later call. Seeding clears the
 *   cache; the vectorised path and `rand` neither use nor clear it.
 *
 * Draw the noise here on the CPU and upload it: WGSL sin/cos are far too inaccurate to reproduce torch.
 */
export class TorchGenerator {
  private readonly mt: MT19937;
  private readonly normalCache = { value: 0 };
  private hasCachedNormal = false;
  private seed32: number;

  constructor(seed: TorchSeed) {
    this.seed32 = seedLow32(seed);
    this.mt = new MT19937(this.seed32);
  }

  /** Re-seed in place (torch's `manual_seed`): restarts the stream and drops the cached normal. */
  manualSeed(seed: TorchSeed): this {
    this.seed32 = seedLow32(seed);
    this.mt.seed(this.seed32);
    this.hasCachedNormal = false;
    return this;
  }

  /** The 32-bit value the stream was last seeded with. */
  get initialSeed32(): number {
    return this.seed32;
  }

  /** The next raw mt19937 word in [0, 2^32). */
  nextU32(): number {
    return this.mt.nextU32();
  }

  /** `torch.rand(shape)`: uniform floats in [0, 1), one word each. */
  rand(shape: readonly number[]): Float32Array {
    const n = shapeNumel('rand', shape);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = uniformFloat(this.mt.nextU32());
    return out;
  }

  /** `torch.randn(shape)`: standard normal float32 values (row-major). */
  randn(shape: readonly number[]): Float32Array {
    const n = shapeNumel('randn', shape);
    return n >= 16 ? this.randnVectorised(n) : this.randnScalar(n);
  }

  private randnVectorised(n: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = uniformFloat(this.mt.nextU32());
    for (let i = 0; i + 16 <= n; i += 16) boxMuller16(out, i);
    if (n % 16 !== 0) {
      // torch redraws the whole last block of 16, overwriting values already transformed above.
      const tail = n - 16;
      for (let i = tail; i < n; i++) out[i] = uniformFloat(this.mt.nextU32());
      boxMuller16(out, tail);
    }
    return out;
  }

  private randnScalar(n: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      if (this.hasCachedNormal) {
        out[i] = this.normalCache.value; // stored as a double, rounded to f32 on output
        this.hasCachedNormal = false;
        continue;
      }
      const mt = this.mt;
      const u1 = uniformDouble(mt.nextU32(), mt.nextU32());
      const u2 = uniformDouble(mt.nextU32(), mt.nextU32());
      out[i] = boxMullerDouble(u1, u2, this.normalCache);
      this.hasCachedNormal = true;
    }
    return out;
  }
}
