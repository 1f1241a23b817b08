import { describe, expect, it } from 'vitest';
import {
  bf16ArrayToF16,
  bf16ArrayToF32,
  bf16ToF32,
  f16ArrayToF32,
  f16BitsToF32Bits,
  f16ToF32,
  f32ArrayToBf16,
  f32ArrayToF16,
  f32BitsToBf16Bits,
  f32BitsToF16Bits,
  f32ToBf16,
  f32ToF16,
  f64ArrayToF16,
  f64ArrayToF32,
} from '../../packages/models/src/safetensors';

const f32Bits = (x: number) => new Uint32Array(new Float32Array([x]).buffer)[0]!;
const isNaN16 = (h: number) => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;

describe('f16 conversions', () => {
  it('decodes known patterns', () => {
    expect(f16ToF32(0x3c00)).toBe(1);
    expect(f16ToF32(0xc000)).toBe(-2);
    expect(f16ToF32(0x7bff)).toBe(65504);
    expect(f16ToF32(0x0400)).toBe(2 ** -14); // smallest normal
    expect(f16ToF32(0x0001)).toBe(2 ** -24); // smallest subnormal
    expect(f16ToF32(0x03ff)).toBe(1023 * 2 ** -24); // largest subnormal
    expect(f16ToF32(0x3555)).toBe(0.333251953125);
    expect(Object.is(f16ToF32(0x8000), -0)).toBe(true);
    expect(f16ToF32(0x7c00)).toBe(Infinity);
    expect(f16ToF32(0xfc00)).toBe(-Infinity);
    expect(Number.isNaN(f16ToF32(0x7e00))).toBe(true);
  });

  it('round-trips all 65536 patterns through f32 (bit path, number path, bulk path)', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const asF32 = f16ArrayToF32(all);
    const back = f32ArrayToF16(asF32);
    for (let h = 0; h < 65536; h++) {
      const v = asF32[h]!;
      if (isNaN16(h)) {
        expect(Number.isNaN(v)).toBe(true);
        expect(isNaN16(back[h]!)).toBe(true);
        expect(back[h]! & 0x8000).toBe(h & 0x8000);
        continue;
      }
      expect(f16BitsToF32Bits(h)).toBe(f32Bits(v));
      if (back[h] !== h || f32ToF16(v) !== h) throw new Error(`pattern 0x${h.toString(16)} → ${v} → 0x${back[h]!.toString(16)}`);
    }
  });

  it('rounds midpoints to even and everything else to nearest (f32 bits and f64 paths agree)', () => {
    // For each adjacent pair of finite positive f16 values, the midpoint and its f32 neighbours.
    for (let h = 0; h < 0x7bff; h++) {
      const lo = f16ToF32(h);
      const hi = f16ToF32(h + 1);
      const mid = (lo + hi) / 2; // exact in f32 (one more mantissa bit)
      const even = (h & 1) === 0 ? h : h + 1;
      const below = new Float32Array([mid])[0]! - (hi - lo) / 2 ** 12;
      const above = mid + (hi - lo) / 2 ** 12;
      for (const [v, want] of [
        [mid, even],
        [below, h],
        [above, h + 1],
      ] as const) {
        const fv = Math.fround(v);
        if (f32BitsToF16Bits(f32Bits(fv)) !== want || f32ToF16(fv) !== want) {
          throw new Error(`${fv} (between 0x${h.toString(16)} and next) rounded wrongly`);
        }
        expect(f32BitsToF16Bits(f32Bits(-fv))).toBe(want | 0x8000);
      }
    }
  });

  it('handles overflow, underflow and specials', () => {
    expect(f32ToF16(65519.99)).toBe(0x7bff);
    expect(f32ToF16(65520)).toBe(0x7c00); // tie between 65504 and 2^16 goes to even = Infinity
    expect(f32BitsToF16Bits(f32Bits(65520))).toBe(0x7c00);
    expect(f32BitsToF16Bits(f32Bits(1e10))).toBe(0x7c00);
    expect(f32BitsToF16Bits(f32Bits(-1e10))).toBe(0xfc00);
    expect(f32BitsToF16Bits(f32Bits(2 ** -25))).toBe(0); // tie with 0 → even (0)
    expect(f32BitsToF16Bits(f32Bits(2 ** -25 * 1.0001))).toBe(1);
    expect(f32BitsToF16Bits(f32Bits(2 ** -26))).toBe(0);
    expect(f32BitsToF16Bits(f32Bits(3 * 2 ** -25))).toBe(2); // 1.5 ulp → even (2)
    expect(f32BitsToF16Bits(f32Bits(-0))).toBe(0x8000);
    expect(f32ToF16(-0)).toBe(0x8000);
    expect(f32BitsToF16Bits(0x7f800000)).toBe(0x7c00);
    expect(isNaN16(f32BitsToF16Bits(0x7f800001))).toBe(true); // payload only in the low bits: must stay NaN
    expect(isNaN16(f32ToF16(NaN))).toBe(true);
    expect(f32BitsToF16Bits(1)).toBe(0); // f32 subnormal
  });

  it('f64 → f16 rounds once (no double rounding through f32)', () => {
    // 1 + 2^-11 is the exact midpoint between f16 1 and 1+2^-10; 2^-40 above it must round up, but going through
    // f32 first would drop the 2^-40 and then round the tie to even (down).
    const v = 1 + 2 ** -11 + 2 ** -40;
    expect(f32ToF16(Math.fround(v))).toBe(0x3c00);
    expect(f32ToF16(v)).toBe(0x3c01);
    expect(f64ArrayToF16(new Float64Array([v, -v]))).toEqual(new Uint16Array([0x3c01, 0xbc01]));
  });
});

describe('bf16 and f64 conversions', () => {
  it('bf16 decodes exactly and encodes with round to nearest even', () => {
    expect(bf16ToF32(0x3f80)).toBe(1);
    expect(bf16ToF32(0xc0a0)).toBe(-5);
    expect(f32ToBf16(1)).toBe(0x3f80);
    expect(f32BitsToBf16Bits(0x3f808000)).toBe(0x3f80); // tie → even
    expect(f32BitsToBf16Bits(0x3f818000)).toBe(0x3f82); // tie → even (up)
    expect(f32BitsToBf16Bits(0x3f808001)).toBe(0x3f81);
    expect(f32BitsToBf16Bits(0x7f7fffff)).toBe(0x7f80); // rounds to Infinity
    expect(f32BitsToBf16Bits(0x7f800001) & 0x7f80).toBe(0x7f80);
    expect(f32BitsToBf16Bits(0x7f800001) & 0x7f).not.toBe(0); // NaN stays NaN
    const all = new Uint16Array(65536).map((_, i) => i);
    const f = bf16ArrayToF32(all);
    const back = f32ArrayToBf16(f);
    for (let b = 0; b < 65536; b++) {
      if (Number.isNaN(f[b]!)) continue;
      if (back[b] !== b) throw new Error(`bf16 0x${b.toString(16)} did not round-trip`);
    }
  });

  it('bf16 → f16 equals bf16 → f32 → f16', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const direct = bf16ArrayToF16(all);
    const viaF32 = f32ArrayToF16(bf16ArrayToF32(all));
    expect(direct).toEqual(viaF32);
  });

  it('f64 → f32 rounds like Math.fround', () => {
    const src = new Float64Array([0.1, 1 / 3, 1e39, -1e-46, 16777217]);
    expect(Array.from(f64ArrayToF32(src))).toEqual(Array.from(src, Math.fround));
  });

  it('rejects destinations of the wrong length', () => {
    expect(() => f16ArrayToF32(new Uint16Array(3), new Float32Array(2))).toThrow(/dst.*2 elements, expected 3/);
  });
});
