/**
 * The img2img picker: an image file (PNG, JPEG, WebP, anything the browser decodes) as RGBA pixels, decoded by the
 * browser and read back through an OffscreenCanvas without colour-space conversion.
 */
import type { RgbaImage } from '@sd-webgpu/pipeline';
import { ParameterError } from '@sd-webgpu/tensor';

export async function readImageFile(file: File): Promise<RgbaImage> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  } catch (e) {
    throw new ParameterError('img2img picker', 'image', `'${file.name}' is not an image the browser can decode (${(e as Error).message})`);
  }
  try {
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const ctx = canvas.getContext('2d');
    if (!ctx) throw new Error('OffscreenCanvas: no 2d context');
    ctx.drawImage(bitmap, 0, 0);
    const { data, width, height } = ctx.getImageData(0, 0, bitmap.width, bitmap.height);
    return { width, height, data };
  } finally {
    bitmap.close();
  }
}
