/**
 * A generation job as it travels through a queue: plain JSON with every parameter resolved (the seed included), so
 * any worker that runs it, first try or retry, makes the same image. `validateJob` checks job data with the
 * library's own option rules (resolveOptions, resolveStrength) and is run both before queueing and by the worker.
 */
import { ParameterError } from '@sd-webgpu/tensor';
import {
  type GenerateOptions, type GeneratedImage, type Img2ImgOptions, ImageFormatError, type RgbaImage, type SchedulerName,
  resolveOptions, resolveStrength,
} from '@sd-webgpu/pipeline';
import { decodeImage } from '@sd-webgpu/pipeline/node';
import { JobDataError } from './errors.js';

export interface JobSpec {
  mode: 'txt2img' | 'img2img';
  prompt: string;
  negativePrompt: string;
  steps: number;
  guidanceScale: number;
  seed: number;
  scheduler: SchedulerName;
  width: number;
  height: number;
  numImages: number;
  /** img2img only. */
  strength?: number;
  /** img2img only: the input image, base64 PNG or JPEG. */
  initImage?: string;
}

/** A checked job: its spec and, for img2img, the decoded input image. */
export interface ValidJob {
  spec: JobSpec;
  image?: RgbaImage;
}

const REQUIRED = ['mode', 'prompt', 'negativePrompt', 'steps', 'guidanceScale', 'seed', 'scheduler', 'width', 'height', 'numImages'] as const;
const IMG2IMG = ['strength', 'initImage'] as const;
const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

/** Base64 (optionally a `data:image/...;base64,` URL, as A1111 accepts) → bytes; JobDataError when it is not base64. */
export function decodeBase64(field: string, text: string): Uint8Array {
  const body = text.startsWith('data:') ? text.slice(text.indexOf(',') + 1) : text;
  const compact = body.replace(/\s+/g, '');
  if (compact.length === 0 || compact.length % 4 === 1 || !BASE64_RE.test(compact)) throw new JobDataError(field, 'is not base64 data');
  return new Uint8Array(Buffer.from(compact, 'base64'));
}

/** Decodes a base64 PNG/JPEG; JobDataError naming `field` when it is not one. */
export function decodeBase64Image(field: string, text: unknown): RgbaImage {
  if (typeof text !== 'string') throw new JobDataError(field, `must be a base64 string (got ${typeof text})`);
  try {
    return decodeImage(decodeBase64(field, text), { source: field });
  } catch (e) {
    if (e instanceof ImageFormatError) throw new JobDataError(field, e.message);
    throw e;
  }
}

/** Checks job data (from a request or from Redis) with the library's rules; throws JobDataError naming the field. */
export function validateJob(data: unknown): ValidJob {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new JobDataError('(job)', 'must be an object');
  const d = data as Record<string, unknown>;
  if (d.mode !== 'txt2img' && d.mode !== 'img2img') throw new JobDataError('mode', `must be 'txt2img' or 'img2img' (got ${JSON.stringify(d.mode)})`);
  const allowed: readonly string[] = d.mode === 'img2img' ? [...REQUIRED, ...IMG2IMG] : REQUIRED;
  for (const k of allowed) if (d[k] === undefined) throw new JobDataError(k, 'is missing');
  for (const k of Object.keys(d)) if (!allowed.includes(k)) throw new JobDataError(k, `is not a ${d.mode} job field`);
  if (typeof d.seed !== 'number') throw new JobDataError('seed', `must be a number (got ${typeof d.seed})`);
  const image = d.mode === 'img2img' ? decodeBase64Image('initImage', d.initImage) : undefined;
  try {
    const o = resolveOptions(d as unknown as GenerateOptions, { width: 0, height: 0 });
    if (d.mode === 'img2img') resolveStrength(d.strength, o.steps);
  } catch (e) {
    if (e instanceof ParameterError) throw new JobDataError(e.param, e.message);
    throw e;
  }
  return { spec: d as unknown as JobSpec, ...(image ? { image } : {}) };
}

/** What a job needs of a loaded model (StableDiffusion). */
export interface GenerationModel {
  txt2img(o: GenerateOptions): Promise<GeneratedImage[]>;
  img2img(o: Img2ImgOptions): Promise<GeneratedImage[]>;
}

/** The library options of a checked job. */
export function jobOptions(job: ValidJob, hooks: { onProgress?: GenerateOptions['onProgress']; signal?: AbortSignal } = {}): Img2ImgOptions | GenerateOptions {
  const s = job.spec;
  const base: GenerateOptions = {
    prompt: s.prompt, negativePrompt: s.negativePrompt, steps: s.steps, guidanceScale: s.guidanceScale, seed: s.seed,
    scheduler: s.scheduler, width: s.width, height: s.height, numImages: s.numImages, ...hooks,
  };
  return s.mode === 'img2img' ? { ...base, image: job.image!, strength: s.strength! } : base;
}
