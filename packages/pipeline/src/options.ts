import { ParameterError } from '@sd-webgpu/tensor';
import { promptTextProblem } from './image/parameters.js';
import { SCHEDULER_NAMES, type SchedulerName } from './schedulers/index.js';

/** Called after each denoising step (the step's GPU work has finished). */
export type ProgressCallback = (p: { step: number; totalSteps: number; timestep: number }) => void;

export interface GenerateOptions {
  prompt: string;
  negativePrompt?: string;
  /** Denoising steps, 1..1000 (default 25). */
  steps?: number;
  /** Classifier-free guidance scale in [0, 100] (default 7.5); ≤ 1 runs the prompt alone (no unconditional batch). */
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
   * overlap 0.25): bounded GPU memory at any size, small differences near tile borders. Default: on when a side is
   * larger than both 512 px and one tile (`autoVaeTiling`), so smaller images decode exactly as diffusers does.
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

/** Sides up to this many pixels are never tiled by default (untiled decodes match diffusers' default output). */
export const AUTO_TILING_ABOVE_PX = 512;

/** The default of `vaeTiling`: tile when a side exceeds both AUTO_TILING_ABOVE_PX and one tile (`tilePx`). */
export function autoVaeTiling(width: number, height: number, tilePx: number): boolean {
  return Math.max(width, height) > Math.max(AUTO_TILING_ABOVE_PX, tilePx);
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

const bad = (name: string, detail: string) => new ParameterError(where, name, detail);
const shown = (v: unknown) => (typeof v === 'string' ? `'${v.length > 40 ? `${v.slice(0, 40)}...` : v}'` : typeof v === 'object' && v ? typeof v : String(v));

/** A prompt: a string that round-trips through the PNG parameters text. */
function text(name: 'prompt' | 'negativePrompt', v: unknown): string {
  if (typeof v !== 'string') throw bad(name, `must be a string (got ${v === null ? 'null' : typeof v})`);
  const problem = promptTextProblem(name, v);
  if (problem) throw bad(name, problem);
  return v;
}

function int(name: string, v: unknown, lo: number, hi: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) throw bad(name, `must be an integer in ${lo}..${hi} (got ${shown(v)})`);
  return v;
}

/** A float in [lo, hi]: bounded so that every value of the range keeps the latents finite. */
function float(name: string, v: unknown, lo: number, hi: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi) throw bad(name, `must be a number in [${lo}, ${hi}] (got ${shown(v)})`);
  return v;
}

function side(name: string, v: unknown): number {
  const problem = typeof v === 'number' ? sideProblem(v) : `must be a multiple of 8 in ${MIN_SIDE}..${MAX_SIDE} (got ${shown(v)})`;
  if (problem) throw bad(name, problem);
  return v as number;
}

function seedOf(v: unknown): number | bigint {
  if (typeof v === 'bigint') {
    if (v < 0n || v >= 2n ** 64n) throw bad('seed', `must be in 0..2^64-1 (got ${v})`);
    return v;
  }
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw bad('seed', `must be a non-negative safe integer or a bigint (got ${shown(v)})`);
  return v;
}

function randomSeed(): number {
  const a = new Uint32Array(1);
  globalThis.crypto.getRandomValues(a);
  return a[0]!;
}

/** Highest guidance scale: far beyond any useful value (A1111 stops at 30), low enough that the latents stay finite. */
export const MAX_GUIDANCE_SCALE = 100;

/**
 * One row per option: its check and default (`undefined` input means the default). Every option is checked here,
 * before any GPU work; a new option is a new row.
 */
const OPTIONS = {
  prompt: (v: unknown) => text('prompt', v),
  negativePrompt: (v: unknown = '') => text('negativePrompt', v),
  steps: (v: unknown = 25) => int('steps', v, 1, 1000),
  guidanceScale: (v: unknown = 7.5) => float('guidanceScale', v, 0, MAX_GUIDANCE_SCALE),
  seed: (v: unknown = randomSeed()) => seedOf(v),
  scheduler: (v: unknown = 'pndm') => {
    if (!SCHEDULER_NAMES.includes(v as SchedulerName)) throw bad('scheduler', `must be one of ${SCHEDULER_NAMES.join(', ')} (got ${shown(v)})`);
    return v as SchedulerName;
  },
  numImages: (v: unknown = 1) => int('numImages', v, 1, 16),
  onProgress: (v: unknown) => {
    if (v !== undefined && typeof v !== 'function') throw bad('onProgress', `must be a function (got ${shown(v)})`);
    return v as ProgressCallback | undefined;
  },
  signal: (v: unknown) => {
    if (v !== undefined && !(v instanceof AbortSignal)) throw bad('signal', `must be an AbortSignal (got ${shown(v)})`);
    return v as AbortSignal | undefined;
  },
  returnLatents: (v: unknown = false) => {
    if (typeof v !== 'boolean') throw bad('returnLatents', `must be a boolean (got ${shown(v)})`);
    return v;
  },
  vaeTiling: (v: unknown) => {
    if (v !== undefined && typeof v !== 'boolean') throw bad('vaeTiling', `must be a boolean (got ${shown(v)})`);
    return v as boolean | undefined;
  },
} satisfies { [K in keyof GenerateOptions]?: (v?: unknown) => unknown };

/** Throws unless the options argument is an object (`txt2img(null)`). */
export function checkOptionsObject(o: unknown): void {
  if (typeof o !== 'object' || o === null) throw bad('options', `must be an object (got ${o === null ? 'null' : typeof o})`);
}

/** Checks every option and fills the defaults; throws ParameterError naming the option and its valid range. */
export function resolveOptions(o: GenerateOptions, defaults: { width: number; height: number }): ResolvedOptions {
  checkOptionsObject(o);
  const r = Object.fromEntries(Object.entries(OPTIONS).map(([k, check]) => [k, check((o as unknown as Record<string, unknown>)[k])])) as {
    [K in keyof typeof OPTIONS]: ReturnType<(typeof OPTIONS)[K]>;
  };
  return { ...r, width: side('width', o.width ?? defaults.width), height: side('height', o.height ?? defaults.height) };
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
