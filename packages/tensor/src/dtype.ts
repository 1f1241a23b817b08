import { UnsupportedError } from './errors.js';
import { f16ArrayToF32, f16BitsToF32Bits, f32ArrayToF16, f32BitsToF16Bits } from './half.js';

/** Element types a Tensor can hold. f16 needs the device's `shader-f16` feature. */
export type DType = 'f32' | 'f16' | 'i32' | 'u32';

export const BYTES_PER_ELEMENT: Readonly<Record<DType, number>> = { f32: 4, f16: 2, i32: 4, u32: 4 };

/** The WGSL scalar type of a dtype. */
export const wgslType = (dtype: DType): string => dtype;

export type HostArray = Float32Array | Int32Array | Uint32Array;

export function checkFloat(op: string, dtype: DType): void {
  if (dtype !== 'f32' && dtype !== 'f16') throw new UnsupportedError(op, `dtype ${dtype} (expected f32 or f16)`);
}

// --- f16 <-> f32 on the host (see half.ts) ---

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** number → f16 bits (rounded to f32 first, then to nearest even f16). */
export function f32ToF16Bits(value: number): number {
  f32[0] = value;
  return f32BitsToF16Bits(u32[0]!);
}

export function f16BitsToF32(h: number): number {
  u32[0] = f16BitsToF32Bits(h);
  return f32[0]!;
}

export function toF16Array(src: ArrayLike<number>): Uint16Array {
  return f32ArrayToF16(src instanceof Float32Array ? src : Float32Array.from(src));
}

export function fromF16Array(src: Uint16Array): Float32Array {
  return f16ArrayToF32(src);
}

/** Rounds every value to the nearest f16 (what an f16 tensor would hold), returned as f32. */
export function roundToF16(src: ArrayLike<number>): Float32Array {
  return fromF16Array(toF16Array(src));
}
