/**
 * Runs one checked job on a loaded model and encodes the images as the API returns them: base64 PNG with the A1111
 * `parameters` chunk (exactly what `encodePng(image, { parameters: formatParameters(image.params) })` gives for the
 * library's output). An interrupted job resolves with no images.
 */
import { type GeneratedImage, type ProgressCallback, formatParameters } from '@sd-webgpu/pipeline';
import { encodePng } from '@sd-webgpu/pipeline/node';
import { type GenerationModel, type ValidJob, jobOptions } from './job.js';

export interface JobResult {
  /** base64 PNGs. */
  images: string[];
  /** The A1111 parameters text of each image. */
  infotexts: string[];
  interrupted: boolean;
  /** The worker that ran the job and the model it had loaded (scale-out mode). */
  worker?: string;
  model?: string;
}

export interface RunHooks {
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
}

const isAbort = (e: unknown) => e instanceof Error && e.name === 'AbortError';

export async function runJob(model: GenerationModel, job: ValidJob, hooks: RunHooks = {}): Promise<JobResult> {
  const options = jobOptions(job, hooks);
  let images: GeneratedImage[];
  try {
    images = 'image' in options ? await model.img2img(options) : await model.txt2img(options);
  } catch (e) {
    if (isAbort(e) && hooks.signal?.aborted) return { images: [], infotexts: [], interrupted: true };
    throw e;
  }
  const infotexts = images.map((img) => formatParameters(img.params));
  return {
    images: images.map((img, i) => Buffer.from(encodePng(img, { parameters: infotexts[i] })).toString('base64')),
    infotexts,
    interrupted: false,
  };
}
