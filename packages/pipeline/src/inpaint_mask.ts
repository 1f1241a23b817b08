/**
 * Inpainting mask rules of diffusers 0.27.2 (`VaeImageProcessor(do_normalize=False, do_binarize=True,
 * do_convert_grayscale=True)` and `prepare_mask_latents`), on the host:
 *   luma  = PIL convert("L"): (R·19595 + G·38470 + B·7471 + 2^15) >> 16
 *   mask  = luma/255 ≥ 0.5 ? 1 : 0            (so u8 ≤ 127 keeps, ≥ 128 repaints; white = repaint)
 *   masked image = image · (mask < 0.5)        (the repaint region becomes 0, mid-gray in [−1, 1])
 *   latent mask[i, j] = mask[8i, 8j]           (F.interpolate nearest: the top-left pixel of each 8×8 cell)
 */
import { ParameterError } from '@sd-webgpu/tensor';
import type { RgbaImage } from './options.js';

/** PIL's `convert("L")` luma of one RGBA pixel (alpha ignored). */
export function luma(r: number, g: number, b: number): number {
  return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
}

/** The binarised pixel mask `[H·W]` (1 = repaint) of an RGBA mask image of the output size. */
export function binarizeMask(mask: RgbaImage): Uint8Array {
  const n = mask.width * mask.height;
  const out = new Uint8Array(n);
  for (let p = 0; p < n; p++) {
    const l = luma(mask.data[4 * p]!, mask.data[4 * p + 1]!, mask.data[4 * p + 2]!);
    out[p] = l / 255 >= 0.5 ? 1 : 0;
  }
  return out;
}

/** `pixels [1, 3, H, W]` in [−1, 1] with the repaint region set to 0 (a new array). */
export function maskPixels(pixels: Float32Array, mask: Uint8Array, width: number, height: number): Float32Array {
  const out = Float32Array.from(pixels);
  const hw = width * height;
  for (let c = 0; c < 3; c++) for (let p = 0; p < hw; p++) if (mask[p]) out[c * hw + p] = 0;
  return out;
}

/** The mask at latent size `[h, w]` = `[H/8, W/8]` by nearest sampling (the top-left pixel of each cell). */
export function latentMask(mask: Uint8Array, width: number, height: number): Float32Array {
  if (width % 8 || height % 8) throw new ParameterError('inpaint', 'mask', `size ${width}x${height} is not a multiple of 8`);
  const w = width / 8;
  const h = height / 8;
  const out = new Float32Array(w * h);
  for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) out[i * w + j] = mask[8 * i * width + 8 * j]!;
  return out;
}

/** `m [h·w]` repeated as `[rows, channels, h, w]` (host side; uploaded once per run). */
export function repeatMask(m: Float32Array, rows: number, channels: number): Float32Array {
  const out = new Float32Array(rows * channels * m.length);
  for (let k = 0; k < rows * channels; k++) out.set(m, k * m.length);
  return out;
}
