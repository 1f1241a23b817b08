/**
 * f16 <-> f32 on the host: exact widening (a 65536-entry table for arrays), round-to-nearest-even narrowing with
 * subnormals, infinities and NaN. Checked exhaustively over all 65536 f16 patterns (test/safetensors/dtype.test.ts).
 */
import { ParameterError } from './errors.js';

/** f32 bit pattern → f16 bit pattern (round to nearest even). */
export function f32BitsToF16Bits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return mant === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mant >>> 13);
  const e = exp - 112; // re-biased exponent: f32 bias 127, f16 bias 15
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal f16 (or zero). value / 2^-24 = (mant | 1<<23) >> (14 - e).
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e; // 14..24
    let half = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && (half & 1) === 1)) half++;
    return sign | half; // a carry into bit 10 gives the smallest normal, which is the right encoding
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1) === 1)) half++; // a carry may reach Infinity: correct
  return sign | half;
}

/** f16 bit pattern → f32 bit pattern (exact). */
export function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) {
    if (mant === 0) return sign >>> 0;
    // Subnormal: normalise the mantissa into an f32 normal.
    let e = -1;
    let m = mant;
    do {
      m <<= 1;
      e++;
    } while ((m & 0x400) === 0);
    return (sign | ((112 - e) << 23) | ((m & 0x3ff) << 13)) >>> 0;
  }
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0;
  return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
}

let f16Table: Uint32Array | undefined;

/** All 65536 f16 patterns as f32 bit patterns (256 KiB, built on first use). */
function f16ToF32Table(): Uint32Array {
  if (!f16Table) {
    f16Table = new Uint32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16BitsToF32Bits(h);
  }
  return f16Table;
}

/** f16 bits → Float32Array (exact). NaN payloads are kept bit for bit. */
export function f16ArrayToF32(src: Uint16Array, dst: Float32Array = new Float32Array(src.length)): Float32Array {
  checkLengths(src.length, dst.length);
  const table = f16ToF32Table();
  const out = new Uint32Array(dst.buffer, dst.byteOffset, dst.length);
  for (let i = 0; i < src.length; i++) out[i] = table[src[i]!]!;
  return dst;
}

/** Float32Array → f16 bits (round to nearest even). */
export function f32ArrayToF16(src: Float32Array, dst: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  checkLengths(src.length, dst.length);
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < bits.length; i++) dst[i] = f32BitsToF16Bits(bits[i]!);
  return dst;
}

/** Throws ParameterError unless a conversion's destination has the source's length. */
export function checkLengths(src: number, dst: number): void {
  if (src !== dst) throw new ParameterError('dtype conversion', 'dst', `has ${dst} elements, expected ${src} (the source length)`);
}
