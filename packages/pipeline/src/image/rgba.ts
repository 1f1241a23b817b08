import { ParameterError } from '@sd-webgpu/tensor';
import type { RgbaImage } from '../options.js';

/** Throws ParameterError unless `image` is `{ width, height, data }` with width·height·4 bytes. */
export function checkRgbaImage(where: string, image: RgbaImage): void {
  if (!image || typeof image !== 'object') throw new ParameterError(where, 'image', 'must be an RgbaImage { width, height, data }');
  const { width, height, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new ParameterError(where, 'image', `must have positive integer width and height (got ${width}x${height})`);
  }
  if (!(data instanceof Uint8Array || data instanceof Uint8ClampedArray)) {
    throw new ParameterError(where, 'image.data', 'must be a Uint8Array or Uint8ClampedArray of RGBA bytes');
  }
  if (data.length !== width * height * 4) {
    throw new ParameterError(where, 'image.data', `has ${data.length} bytes, expected ${width}x${height}x4 = ${width * height * 4}`);
  }
}
