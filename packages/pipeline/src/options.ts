import { ParameterError } from '@sd-webgpu/tensor';
import { SCHEDULER_NAMES, type SchedulerName } from './schedulers/index.js';

/** Called after each denoising step (the step's GPU work has finished). */
export type ProgressCallback = (p: { step: number; totalSteps: number; timestep: number }) => void;

export interface GenerateOptions {
  prompt: string;
  negativePrompt?: string;
  /** Denoising steps, 1..1000 (default 25). */
  steps?: number;
  /** Classifier-free guidance scale ≥ 0 (default 7.5); ≤ 1 runs the prompt alone (no unconditional batch). */
  guidanceScale?: number;
  /** Seed of the torch-compatible generator; random when omitted (reported in the result). */
  seed?: number | bigint;
  scheduler?: SchedulerName;
  /** Multiples of 8 in 8..2048 (default: the UNet's sample size × 8, i.e. 512 for SD 1.x). */
  width?: number;
  height?: number;
  /** Images per prompt, 1..16 (default 1). */
  numImages?: number;
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
  /** Also return the final latents (before VAE decoding) with each image, for inspection and tests. */
  returnLatents?: boolean;
  /**
   * Decode (and, for img2img, encode) in overlapping tiles, diffusers' `enable_tiling` (512 px tiles for SD 1.x,
   * overlap 0.25): bounded GPU memory at any size, small differences near tile borders. Default: on when the image is
   * larger than one tile on either side (above 512 px for SD 1.x), off otherwise.
   */
  vaeTiling?: boolean;
}

/** An RGBA image, 4 bytes per pixel, row-major. */
export interface RgbaImage {
  width: number;
  height: number;
  data: Uint8Array | Uint8ClampedArray;
}

export interface Img2ImgOptions extends GenerateOptions {
  /** The input image; its size is the output size unless width/height are given (then it is resized). */
  image: RgbaImage;
  /** How much of the schedule to run, 0 < strength ≤ 1 (default 0.8). */
  strength?: number;
}

export interface GenerationParams {
  prompt: string;
  negativePrompt: string;
  steps: number;
  guidanceScale: number;
  seed: number | bigint;
  scheduler: SchedulerName;
  width: number;
  height: number;
  strength?: number;
}

export interface GeneratedImage {
  width: number;
  height: number;
  /** RGBA pixels. */
  data: Uint8ClampedArray;
  seed: number | bigint;
  params: GenerationParams;
  /** The final latents `[4, h/8, w/8]` (only with `returnLatents`). */
  latents?: Float32Array;
  /**
   * Present when a prompt was longer than CLIP's 77 tokens (75 after BOS/EOS): the text that was dropped, per prompt
   * (as diffusers, A1111 without prompt chunking and others do, the rest is ignored).
   */
  truncated?: { prompt?: string; negativePrompt?: string };
}

export interface ResolvedOptions extends GenerationParams {
  numImages: number;
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
  returnLatents: boolean;
  /** undefined: automatic (tiles when the image is larger than one tile). */
  vaeTiling?: boolean;
}

/** Image sides the pipeline accepts: multiples of 8 (one latent pixel) in MIN_SIDE..MAX_SIDE. */
export const MIN_SIDE = 8;
export const MAX_SIDE = 2048;

/** Why `n` is not a valid image side (naming the nearest valid sizes), or null when it is. */
export function sideProblem(n: number): string | null {
  if (Number.isInteger(n) && n >= MIN_SIDE && n <= MAX_SIDE && n % 8 === 0) return null;
  const rule = `must be a multiple of 8 in ${MIN_SIDE}..${MAX_SIDE}`;
  if (!Number.isFinite(n)) return `${rule} (got ${n})`;
  const lo = Math.min(MAX_SIDE, Math.max(MIN_SIDE, Math.floor(n / 8) * 8));
  const hi = Math.min(MAX_SIDE, Math.max(MIN_SIDE, Math.ceil(n / 8) * 8));
  return `${rule} (got ${n}; nearest valid: ${lo === hi ? lo : `${lo} or ${hi}`})`;
}

const where = 'StableDiffusion';

function int(name: string, v: unknown, lo: number, hi: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
    throw new ParameterError(where, name, `must be an integer in ${lo}..${hi} (got ${String(v)})`);
  }
  return v;
}

function side(name: string, v: unknown): number {
  const problem = typeof v === 'number' ? sideProblem(v) : `must be a multiple of 8 in ${MIN_SIDE}..${MAX_SIDE} (got ${String(v)})`;
  if (problem) throw new ParameterError(where, name, problem);
  return v as number;
}

function bool(name: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw new ParameterError(where, name, `must be a boolean (got ${String(v)})`);
  return v;
}

function randomSeed(): number {
  const a = new Uint32Array(1);
  globalThis.crypto.getRandomValues(a);
  return a[0]!;
}

/** Checks every option and fills the defaults; throws ParameterError naming the option and its valid range. */
export function resolveOptions(o: GenerateOptions, defaults: { width: number; height: number }): ResolvedOptions {
  if (typeof o.prompt !== 'string') throw new ParameterError(where, 'prompt', `must be a string (got ${typeof o.prompt})`);
  const negativePrompt = o.negativePrompt ?? '';
  if (typeof negativePrompt !== 'string') throw new ParameterError(where, 'negativePrompt', 'must be a string');
  const guidanceScale = o.guidanceScale ?? 7.5;
  if (typeof guidanceScale !== 'number' || !Number.isFinite(guidanceScale) || guidanceScale < 0) {
    throw new ParameterError(where, 'guidanceScale', `must be a finite number ≥ 0 (got ${String(guidanceScale)})`);
  }
  const scheduler = o.scheduler ?? 'pndm';
  if (!SCHEDULER_NAMES.includes(scheduler)) {
    throw new ParameterError(where, 'scheduler', `must be one of ${SCHEDULER_NAMES.join(', ')} (got '${String(scheduler)}')`);
  }
  let seed = o.seed ?? randomSeed();
  if (typeof seed === 'bigint') {
    if (seed < 0n || seed >= 2n ** 64n) throw new ParameterError(where, 'seed', `must be in 0..2^64-1 (got ${seed})`);
  } else if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new ParameterError(where, 'seed', `must be a non-negative safe integer or a bigint (got ${String(seed)})`);
  }
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) {
    throw new ParameterError(where, 'signal', 'must be an AbortSignal');
  }
  return {
    prompt: o.prompt,
    negativePrompt,
    steps: int('steps', o.steps ?? 25, 1, 1000),
    guidanceScale,
    seed,
    scheduler,
    width: side('width', o.width ?? defaults.width),
    height: side('height', o.height ?? defaults.height),
    numImages: int('numImages', o.numImages ?? 1, 1, 16),
    onProgress: o.onProgress,
    signal: o.signal,
    returnLatents: o.returnLatents === true,
    ...(o.vaeTiling !== undefined ? { vaeTiling: bool('vaeTiling', o.vaeTiling) } : {}),
  };
}

export function resolveStrength(strength: unknown, steps: number): number {
  const s = strength ?? 0.8;
  if (typeof s !== 'number' || !(s > 0 && s <= 1)) {
    throw new ParameterError(where, 'strength', `must be a number in (0, 1] (got ${String(s)})`);
  }
  if (Math.floor(steps * s) < 1) {
    throw new ParameterError(where, 'strength', `${s} × ${steps} steps leaves no denoising step (need strength ≥ ${1 / steps})`);
  }
  return s;
}
