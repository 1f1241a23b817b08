/**
 * AUTOMATIC1111 `/sdapi/v1/txt2img` and `/sdapi/v1/img2img` request bodies → checked jobs. Every field is checked
 * with the library's rules (validateJob) before anything is queued; a bad field is a RequestError 422 naming the
 * A1111 field. Absent fields take the library's defaults (25 steps, CFG 7.5, PLMS, strength 0.8) except the size,
 * which is A1111's 512x512 for txt2img (the server may not have the model loaded) and the init image's size, rounded
 * down to a multiple of 8, for img2img. Seed -1 (or none) is drawn here, so the job carries it.
 */
import { JobDataError, RequestError } from './errors.js';
import { type JobSpec, type ValidJob, decodeBase64Image, validateJob } from './job.js';
import { schedulerForSampler, samplerList } from './samplers.js';

/** Job field → A1111 request field. */
const A1111_FIELD: Readonly<Record<string, string>> = {
  prompt: 'prompt',
  negativePrompt: 'negative_prompt',
  steps: 'steps',
  guidanceScale: 'cfg_scale',
  seed: 'seed',
  scheduler: 'sampler_name',
  width: 'width',
  height: 'height',
  numImages: 'batch_size',
  strength: 'denoising_strength',
  initImage: 'init_images',
};

/**
 * A1111 fields that change the result in ways this server does not implement: accepted only at their neutral
 * value (clients send many of them with defaults), otherwise refused rather than silently ignored.
 */
const UNSUPPORTED: ReadonlyArray<[field: string, isNeutral: (v: unknown) => boolean, what: string]> = [
  ['n_iter', (v) => v === 1, 'must be 1 (use batch_size or send several requests)'],
  ['enable_hr', (v) => v === false, 'is not supported (no hires fix)'],
  ['restore_faces', (v) => v === false, 'is not supported'],
  ['tiling', (v) => v === false, 'is not supported'],
  ['subseed_strength', (v) => v === 0, 'must be 0 (variation seeds are not supported)'],
  ['mask', (v) => v === '', 'is not supported (no inpainting)'],
  ['script_name', (v) => v === '', 'is not supported (no scripts)'],
  ['alwayson_scripts', (v) => typeof v === 'object' && v !== null && Object.keys(v).length === 0, 'is not supported (no scripts)'],
];

const DEFAULT_SIZE = 512;

function randomSeed(): number {
  const a = new Uint32Array(1);
  globalThis.crypto.getRandomValues(a);
  return a[0]!;
}

const toRequestError = (e: JobDataError) =>
  new RequestError(422, A1111_FIELD[e.field] ?? e.field, e.message.replace(/^job field '[^']*' /, ''));

function sampler(body: Record<string, unknown>): JobSpec['scheduler'] {
  const field = body.sampler_name !== undefined ? 'sampler_name' : 'sampler_index';
  const name = body[field] ?? 'PLMS';
  const schedule = typeof body.scheduler === 'string' ? body.scheduler : undefined;
  const s = typeof name === 'string' ? schedulerForSampler(name, schedule) : null;
  if (!s) throw new RequestError(422, field, `must be one of ${samplerList().map((x) => x.name).join(', ')} (got ${JSON.stringify(name)})`);
  return s;
}

/** Parses and checks an A1111 request body; throws RequestError (422 naming the field) on anything invalid. */
export function parseA1111Request(mode: JobSpec['mode'], body: unknown, drawSeed: () => number = randomSeed): ValidJob {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new RequestError(422, null, 'the request body must be a JSON object');
  const b = body as Record<string, unknown>;
  for (const [field, isNeutral, what] of UNSUPPORTED) {
    if (b[field] !== undefined && b[field] !== null && !isNeutral(b[field])) throw new RequestError(422, field, what);
  }
  const seed = b.seed ?? -1;
  const spec: Record<string, unknown> = {
    mode,
    prompt: b.prompt ?? '',
    negativePrompt: b.negative_prompt ?? '',
    steps: b.steps ?? 25,
    guidanceScale: b.cfg_scale ?? 7.5,
    seed: seed === -1 ? drawSeed() : seed,
    scheduler: sampler(b),
    width: b.width ?? DEFAULT_SIZE,
    height: b.height ?? DEFAULT_SIZE,
    numImages: b.batch_size ?? 1,
  };
  try {
    if (mode === 'img2img') {
      const images = b.init_images;
      if (!Array.isArray(images) || images.length !== 1) throw new RequestError(422, 'init_images', 'must be an array of exactly one base64 PNG or JPEG');
      const image = decodeBase64Image('initImage', images[0]);
      spec.initImage = images[0];
      spec.strength = b.denoising_strength ?? 0.8;
      spec.width = b.width ?? image.width - (image.width % 8);
      spec.height = b.height ?? image.height - (image.height % 8);
    }
    return validateJob(spec);
  } catch (e) {
    if (e instanceof JobDataError) throw toRequestError(e);
    throw e;
  }
}
