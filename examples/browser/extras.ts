/**
 * The page's extras (issue 13): LoRA files merged at load, a mask that turns the img2img image into an inpainting
 * run, and a TAESD file whose previews replace the canvas during a run. Kept apart from main.ts.
 */
import type { LoraSpec } from '@sd-webgpu/models';
import type { RgbaImage, StableDiffusion } from '@sd-webgpu/pipeline';
import { ParameterError } from '@sd-webgpu/tensor';
import { readImageFile } from './image_input';

function input(id: string): HTMLInputElement {
  const el = document.getElementById(id);
  if (!(el instanceof HTMLInputElement)) throw new Error(`index.html: #${id} is missing or not an input`);
  return el;
}

export const extras = {
  loraFiles: input('lora-files'),
  loraScale: input('lora-scale'),
  maskImage: input('mask-image'),
  taesdFile: input('taesd-file'),
};

/** The picked LoRA files, all with the scale field's value. */
export function loraSpecs(): LoraSpec[] {
  const files = [...(extras.loraFiles.files ?? [])];
  if (files.length === 0) return [];
  const scale = Number(extras.loraScale.value);
  if (extras.loraScale.value.trim() === '' || !Number.isFinite(scale)) {
    throw new ParameterError('page', 'LoRA scale', `must be a number (got '${extras.loraScale.value}')`);
  }
  return files.map((f) => ({ source: f, scale, name: f.name }));
}

/** Loads the picked TAESD weights (diffusers AutoencoderTiny .safetensors) into the model, if any. */
export async function loadTaesdFile(model: StableDiffusion): Promise<void> {
  const f = extras.taesdFile.files?.[0];
  if (f) await model.loadTaesd(f);
}

/** The picked inpainting mask, decoded (null when none). */
export async function readMask(): Promise<RgbaImage | null> {
  const f = extras.maskImage.files?.[0];
  return f ? readImageFile(f) : null;
}

/** Draws a TAESD preview on the canvas. */
export function drawPreview(canvas: HTMLCanvasElement, p: RgbaImage): void {
  canvas.width = p.width;
  canvas.height = p.height;
  canvas.getContext('2d')?.putImageData(new ImageData(new Uint8ClampedArray(p.data), p.width, p.height), 0, 0);
}
