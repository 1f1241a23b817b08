/**
 * The page's extras (issue 13): LoRA files merged at load, an init image plus mask for inpainting, and a TAESD file for
 * live previews on the canvas. Kept apart from main.ts so the page's core stays small.
 */
import type { LoraSpec } from '@sd-webgpu/models';
import type { RgbaImage, StableDiffusion } from '@sd-webgpu/pipeline';
import { ParameterError } from '@sd-webgpu/tensor';

export interface ExtraInputs {
  loraFiles: HTMLInputElement;
  loraScale: HTMLInputElement;
  initImage: HTMLInputElement;
  maskImage: HTMLInputElement;
  taesdFile: HTMLInputElement;
}

/** The picked LoRA files, all with the scale field's value. */
export function loraSpecs(x: ExtraInputs): LoraSpec[] {
  const files = [...(x.loraFiles.files ?? [])];
  if (files.length === 0) return [];
  const scale = Number(x.loraScale.value);
  if (x.loraScale.value.trim() === '' || !Number.isFinite(scale)) {
    throw new ParameterError('page', 'LoRA scale', `must be a number (got '${x.loraScale.value}')`);
  }
  return files.map((f) => ({ source: f, scale, name: f.name }));
}

/** Loads the picked TAESD weights (diffusers AutoencoderTiny .safetensors) into the model, if any. */
export async function loadTaesdFile(x: ExtraInputs, model: StableDiffusion): Promise<boolean> {
  const f = x.taesdFile.files?.[0];
  if (!f) return false;
  await model.loadTaesd(f);
  return true;
}

/** Decodes an image file with the browser's decoder to RGBA. */
export async function readImage(file: File): Promise<RgbaImage> {
  const bmp = await createImageBitmap(file);
  const canvas = new OffscreenCanvas(bmp.width, bmp.height);
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('OffscreenCanvas: no 2d context');
  ctx.drawImage(bmp, 0, 0);
  const { data } = ctx.getImageData(0, 0, bmp.width, bmp.height);
  bmp.close();
  return { width: canvas.width, height: canvas.height, data };
}

/** Init image and mask when both are picked (the page then inpaints), else null. */
export async function inpaintInputs(x: ExtraInputs): Promise<{ image: RgbaImage; mask: RgbaImage } | null> {
  const img = x.initImage.files?.[0];
  const mask = x.maskImage.files?.[0];
  if (!img && !mask) return null;
  if (!img || !mask) throw new ParameterError('page', 'inpainting', 'needs both an image and a mask (white = repaint)');
  return { image: await readImage(img), mask: await readImage(mask) };
}
