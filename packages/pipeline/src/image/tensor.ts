/**
 * Conversions between RGBA bytes and the pipeline's float pixel tensors, reproducing the reference pipeline's float32
 * arithmetic bit for bit:
 *   decode side (diffusers + numpy): image = clamp(x/2 + 0.5, 0, 1) in f32; u8 = round_half_even(image·255 in f32)
 *   encode side (torch):              x = (u8 / 255.0) · 2.0 − 1.0 in f32
 * Each f32 operation is done in float64 and rounded once with Math.fround; for +, −, ·, / of two f32 operands that
 * double rounding is exact (53 ≥ 2·24 + 2), so the results equal true float32 arithmetic.
 */
import { ShapeError } from '@sd-webgpu/tensor';
import type { RgbaImage } from '../options.js';
import { checkRgbaImage } from './rgba.js';

const f32 = Math.fround;

/** Rounds to the nearest integer, ties to even (numpy.round / IEEE roundTiesToEven). */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * Byte of one decoded sample: `round_half_even(clamp(f32(x/2 + 0.5), 0, 1) · 255)` with f32 rounding at each step
 * (`range: 'signed'`, the VAE output in [-1, 1]), or the same without the affine map (`range: 'unit'`, for data
 * already mapped to [0, 1]). NaN gives 0.
 */
export function sampleToByte(x: number, range: 'signed' | 'unit' = 'signed'): number {
  let v = range === 'signed' ? f32(f32(x / 2) + 0.5) : x;
  if (!(v > 0)) return 0; // also NaN
  if (v > 1) v = 1;
  return roundHalfEven(f32(v * 255));
}

/**
 * RGBA bytes (alpha 255) of image `index` of an NCHW float tensor `[N, 3, H, W]`. `range` 'signed' (default) expects
 * the VAE decoder's [-1, 1] output; 'unit' expects values already in [0, 1].
 */
export function tensorToRgba(
  data: Float32Array,
  shape: readonly number[],
  index = 0,
  range: 'signed' | 'unit' = 'signed',
): Uint8ClampedArray {
  if (shape.length !== 4 || shape[1] !== 3) {
    throw new ShapeError('tensorToRgba', 'expected an NCHW tensor with 3 channels', [shape]);
  }
  const [n, , h, w] = shape as [number, number, number, number];
  if (data.length !== n * 3 * h * w) {
    throw new ShapeError('tensorToRgba', `data has ${data.length} elements, shape needs ${n * 3 * h * w}`, [shape]);
  }
  if (!Number.isInteger(index) || index < 0 || index >= n) {
    throw new ShapeError('tensorToRgba', `image index ${index} out of range 0..${n - 1}`, [shape]);
  }
  const plane = h * w;
  const base = index * 3 * plane;
  const out = new Uint8ClampedArray(plane * 4);
  for (let p = 0; p < plane; p++) {
    out[p * 4] = sampleToByte(data[base + p]!, range);
    out[p * 4 + 1] = sampleToByte(data[base + plane + p]!, range);
    out[p * 4 + 2] = sampleToByte(data[base + 2 * plane + p]!, range);
    out[p * 4 + 3] = 255;
  }
  return out;
}

/** The 256 possible values of `f32(f32(u8 / 255) · 2 − 1)`. */
const BYTE_TO_SIGNED = Float32Array.from({ length: 256 }, (_, v) => f32(f32(v / 255) * 2 - 1));

/**
 * The pipeline input tensor data `[1, 3, H, W]` = `px/255·2 − 1` (f32, as torch computes it) of an RGBA image.
 * Alpha is dropped without compositing (as PIL's convert('RGB') does).
 */
export function rgbaToTensorData(image: RgbaImage): Float32Array {
  checkRgbaImage('rgbaToTensorData', image);
  const { width, height, data } = image;
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  for (let p = 0; p < plane; p++) {
    out[p] = BYTE_TO_SIGNED[data[p * 4]!]!;
    out[plane + p] = BYTE_TO_SIGNED[data[p * 4 + 1]!]!;
    out[2 * plane + p] = BYTE_TO_SIGNED[data[p * 4 + 2]!]!;
  }
  return out;
}
