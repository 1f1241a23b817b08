/** Shared by the server tests: what the library itself makes for a job, and a small HTTP client. */
import type { StableDiffusion } from '@sd-webgpu/pipeline';
import { type JobSpec, decodeBase64Image } from '@sd-webgpu/server';
import { encodePng, formatParameters } from './image';

/**
 * The library's images for the parameters of a job, encoded as the API encodes them (base64 PNG with the parameters
 * chunk), computed by calling StableDiffusion directly.
 */
export async function libraryImages(sd: StableDiffusion, s: JobSpec): Promise<string[]> {
  const o = {
    prompt: s.prompt, negativePrompt: s.negativePrompt, steps: s.steps, guidanceScale: s.guidanceScale, seed: s.seed,
    scheduler: s.scheduler, width: s.width, height: s.height, numImages: s.numImages,
  };
  const images = s.mode === 'img2img'
    ? await sd.img2img({ ...o, image: decodeBase64Image('initImage', s.initImage), strength: s.strength })
    : await sd.txt2img(o);
  return images.map((img) => Buffer.from(encodePng(img, { parameters: formatParameters(img.params) })).toString('base64'));
}

/** A 64x64 test pattern as base64 PNG (an init image). */
export function patternPng(width = 64, height = 64): string {
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data.set([x * 4, y * 4, (x ^ y) * 4, 255], (y * width + x) * 4);
  }
  return Buffer.from(encodePng({ width, height, data })).toString('base64');
}

export interface A1111Result {
  status: number;
  images: string[];
  parameters: Record<string, unknown>;
  info: Record<string, unknown>;
  body: Record<string, unknown>;
}

export async function postJson(base: string, path: string, body: unknown): Promise<A1111Result> {
  const r = await fetch(base + path, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  const json = (await r.json()) as Record<string, unknown>;
  return {
    status: r.status,
    images: (json.images as string[]) ?? [],
    parameters: (json.parameters as Record<string, unknown>) ?? {},
    info: typeof json.info === 'string' ? JSON.parse(json.info) : {},
    body: json,
  };
}

export async function getProgress(base: string): Promise<{ progress: number; eta_relative: number; state: Record<string, unknown> }> {
  return (await fetch(`${base}/sdapi/v1/progress`)).json() as never;
}
