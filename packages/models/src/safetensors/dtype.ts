import { checkLengths, f16BitsToF32Bits, f32BitsToF16Bits } from '@sd-webgpu/tensor';

/**
 * safetensors dtypes and the float conversions between f16, bf16, f32 and f64.
 *
 * All conversions to a narrower float round to nearest, ties to even, as IEEE 754 (and torch's `.half()`) do.
 * Overflow gives ±Infinity, NaN stays NaN (quiet, sign kept), and -0 stays -0.
 */

/** The dtype names of the safetensors format. */
export type SafetensorsDtype =
  | 'F64'
  | 'F32'
  | 'F16'
  | 'BF16'
  | 'I64'
  | 'I32'
  | 'I16'
  | 'I8'
  | 'U8'
  | 'BOOL'
  | 'U16'
  | 'U32'
  | 'U64';

/** Bytes per element of each dtype. */
export const DTYPE_SIZES: Readonly<Record<SafetensorsDtype, number>> = Object.freeze({
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
  U16: 2,
  U32: 4,
  U64: 8,
});

export const SAFETENSORS_DTYPES = Object.freeze(Object.keys(DTYPE_SIZES) as SafetensorsDtype[]);

export function isSafetensorsDtype(x: unknown): x is SafetensorsDtype {
  return typeof x === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_SIZES, x);
}

export function dtypeSize(dtype: SafetensorsDtype): number {
  return DTYPE_SIZES[dtype];
}

/** True for the float dtypes that `readFloat32` / `readFloat16Bits` convert. */
export function isFloatDtype(dtype: SafetensorsDtype): dtype is 'F64' | 'F32' | 'F16' | 'BF16' {
  return dtype === 'F64' || dtype === 'F32' || dtype === 'F16' || dtype === 'BF16';
}

// ---- scalar conversions -------------------------------------------------------------------------

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);



/** f16 bit pattern → number (exact). */
export function f16ToF32(h: number): number {
  scratchU32[0] = f16BitsToF32Bits(h);
  return scratchF32[0]!;
}

/**
 * number → f16 bit pattern, rounding the *exact* value of `v` (a double) to nearest even.
 * For f32 inputs this equals `f32BitsToF16Bits`; for f64 inputs it avoids the double rounding of going through f32.
 */
export function f32ToF16(v: number): number {
  if (Number.isNaN(v)) return 0x7e00;
  const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  const a = Math.abs(v);
  if (a >= 65520) return sign | 0x7c00; // 65520 is the tie between 65504 and 2^16: ties to even → Infinity
  if (a < 6.103515625e-5) {
    // Below 2^-14: subnormal, in units of 2^-24 (the scaling is exact).
    return sign | roundHalfEven(a * 16777216);
  }
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  let r = roundHalfEven(a * 2 ** (10 - e)); // in [1024, 2048]
  if (r === 2048) {
    r = 1024;
    e++;
  }
  if (e + 15 >= 0x1f) return sign | 0x7c00;
  return sign | ((e + 15) << 10) | (r - 1024);
}

function roundHalfEven(q: number): number {
  const f = Math.floor(q);
  const d = q - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** bf16 bit pattern → number (exact). */
export function bf16ToF32(b: number): number {
  scratchU32[0] = (b & 0xffff) << 16;
  return scratchF32[0]!;
}

/** f32 bit pattern → bf16 bit pattern (round to nearest even; NaN stays quiet NaN). */
export function f32BitsToBf16Bits(x: number): number {
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) return ((x >>> 16) | 0x40) & 0xffff;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/** number → bf16 bit pattern (rounds to f32 first, then to bf16; both steps are exact or RNE on f32 data). */
export function f32ToBf16(v: number): number {
  scratchF32[0] = v;
  return f32BitsToBf16Bits(scratchU32[0]!);
}

// ---- bulk conversions ---------------------------------------------------------------------------

// f16 bit-level conversions live in the tensor package (one implementation for uploads, readbacks and files).
export { f16ArrayToF32, f16BitsToF32Bits, f32ArrayToF16, f32BitsToF16Bits } from '@sd-webgpu/tensor';



/** bf16 bits → Float32Array (exact). */
export function bf16ArrayToF32(src: Uint16Array, dst: Float32Array = new Float32Array(src.length)): Float32Array {
  checkLengths(src.length, dst.length);
  const out = new Uint32Array(dst.buffer, dst.byteOffset, dst.length);
  for (let i = 0; i < src.length; i++) out[i] = src[i]! << 16;
  return dst;
}

/** Float64Array → Float32Array (round to nearest even, as `Math.fround`). */
export function f64ArrayToF32(src: Float64Array, dst: Float32Array = new Float32Array(src.length)): Float32Array {
  checkLengths(src.length, dst.length);
  dst.set(src);
  return dst;
}


/** Float64Array → f16 bits, rounding each double directly (no double rounding through f32). */
export function f64ArrayToF16(src: Float64Array, dst: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  checkLengths(src.length, dst.length);
  for (let i = 0; i < src.length; i++) dst[i] = f32ToF16(src[i]!);
  return dst;
}

/** bf16 bits → f16 bits (bf16 → f32 is exact, so this rounds once). */
export function bf16ArrayToF16(src: Uint16Array, dst: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  checkLengths(src.length, dst.length);
  for (let i = 0; i < src.length; i++) dst[i] = f32BitsToF16Bits((src[i]! << 16) >>> 0);
  return dst;
}

/** Float32Array → bf16 bits (round to nearest even). */
export function f32ArrayToBf16(src: Float32Array, dst: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  checkLengths(src.length, dst.length);
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < bits.length; i++) dst[i] = f32BitsToBf16Bits(bits[i]!);
  return dst;
}

