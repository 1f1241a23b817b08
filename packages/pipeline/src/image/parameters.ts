/**
 * Generation parameters as text, in the format of AUTOMATIC1111's web UI (the PNG `parameters` chunk that
 * A1111, ComfyUI importers, civitai and others read):
 *
 *   a photograph of an astronaut riding a horse
 *   Negative prompt: blurry, low quality
 *   Steps: 25, Sampler: DDIM, CFG scale: 7.5, Seed: 42, Size: 512x512, Denoising strength: 0.75
 *
 * The negative-prompt line is omitted when empty; `Denoising strength` appears for img2img only.
 */
import { ParameterError } from '@sd-webgpu/tensor';
import type { GenerationParams } from '../options.js';
import { SCHEDULER_NAMES, type SchedulerName } from '../schedulers/index.js';
import { ParametersFormatError } from './errors.js';

/** A1111's sampler names for our schedulers. */
export const SAMPLER_DISPLAY_NAMES: Readonly<Record<SchedulerName, string>> = {
  ddim: 'DDIM',
  pndm: 'PLMS',
  euler: 'Euler',
  euler_a: 'Euler a',
  dpmpp_2m: 'DPM++ 2M',
  dpmpp_2m_karras: 'DPM++ 2M Karras',
  lms: 'LMS',
};

const NEGATIVE_PREFIX = 'Negative prompt:';

/**
 * Why a prompt (or negative prompt) cannot round-trip through formatParameters/parseParameters, or null: PNG text
 * chunks cannot hold NUL, and a prompt line starting with `Negative prompt:` would read back as the negative prompt.
 */
export function promptTextProblem(field: 'prompt' | 'negativePrompt', text: string): string | null {
  if (text.includes('\0')) return 'must not contain a NUL character';
  if (field === 'prompt' && (text.startsWith(NEGATIVE_PREFIX) || text.includes(`\n${NEGATIVE_PREFIX}`))) {
    return `must not contain a line starting with '${NEGATIVE_PREFIX}' (give that text as the negative prompt)`;
  }
  return null;
}

/** The fields formatParameters needs (GenerationParams; the negative prompt may be omitted). */
export type ParameterFields = Omit<GenerationParams, 'negativePrompt'> & { negativePrompt?: string };

/** A1111 quotes a value that contains a comma, colon or newline as a JSON string. */
function quote(v: string): string {
  return /[,:\n]/.test(v) ? JSON.stringify(v) : v;
}

/** The A1111 text of a generation's parameters. */
export function formatParameters(p: ParameterFields): string {
  const sampler = SAMPLER_DISPLAY_NAMES[p.scheduler];
  if (!sampler) {
    throw new ParameterError('formatParameters', 'scheduler', `must be one of ${SCHEDULER_NAMES.join(', ')} (got '${String(p.scheduler)}')`);
  }
  for (const field of ['prompt', 'negativePrompt'] as const) {
    const problem = promptTextProblem(field, p[field] ?? '');
    if (problem) throw new ParameterError('formatParameters', field, problem);
  }
  const fields: Array<[string, string]> = [
    ['Steps', String(p.steps)],
    ['Sampler', sampler],
    ['CFG scale', String(p.guidanceScale)],
    ['Seed', String(p.seed)],
    ['Size', `${p.width}x${p.height}`],
  ];
  if (p.strength !== undefined) fields.push(['Denoising strength', String(p.strength)]);
  const negative = p.negativePrompt ? `\n${NEGATIVE_PREFIX} ${p.negativePrompt}` : '';
  return `${p.prompt}${negative}\n${fields.map(([k, v]) => `${k}: ${quote(v)}`).join(', ')}`;
}

/** What parseParameters recovers; numeric fields are absent when the text lacks them. */
export interface ParsedParameters {
  prompt: string;
  negativePrompt: string;
  steps?: number;
  guidanceScale?: number;
  seed?: number | bigint;
  /** Our scheduler for the text's sampler, when there is one (`sampler` keeps the text's own name). */
  scheduler?: SchedulerName;
  sampler?: string;
  width?: number;
  height?: number;
  strength?: number;
  /** Every `key: value` pair of the settings line, values unquoted (known and unknown keys alike). */
  fields: Record<string, string>;
}

/** A1111's `re_param`: `Key: value` where a value is a JSON string or runs to the next comma. */
const PARAM_RE = /\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)/g;

function settingsPairs(line: string): Array<[string, string]> {
  return [...line.matchAll(PARAM_RE)].map((m) => [m[1]!, m[2]!.trim()]);
}

function unquote(key: string, v: string): string {
  if (v.length < 2 || !v.startsWith('"') || !v.endsWith('"')) return v;
  try {
    return String(JSON.parse(v));
  } catch {
    throw new ParametersFormatError(key, `has an invalid quoted value ${v}`);
  }
}

const INT_RE = /^\d+$/;
const NUM_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

function int(key: string, v: string): number {
  if (!INT_RE.test(v) || !Number.isSafeInteger(Number(v))) throw new ParametersFormatError(key, `must be a non-negative integer (got "${v}")`);
  return Number(v);
}

function num(key: string, v: string): number {
  if (!NUM_RE.test(v)) throw new ParametersFormatError(key, `must be a number (got "${v}")`);
  return Number(v);
}

const SCHEDULER_BY_SAMPLER = new Map<string, SchedulerName>(
  Object.entries(SAMPLER_DISPLAY_NAMES).map(([name, display]) => [display, name as SchedulerName]),
);

/**
 * Parses A1111 parameters text. Like A1111, the last line is the settings line only when it holds at least three
 * `key: value` pairs; otherwise every line belongs to the prompts. Lines before a line starting with
 * `Negative prompt:` form the prompt, the rest the negative prompt. Known fields with unreadable values throw
 * ParametersFormatError; unknown samplers leave `scheduler` unset. A1111's newer split form
 * `Sampler: DPM++ 2M, Schedule type: Karras` maps to dpmpp_2m_karras.
 */
export function parseParameters(text: string): ParsedParameters {
  const lines = text.split(/\r?\n/);
  while (lines.length > 1 && lines[lines.length - 1]!.trim() === '') lines.pop();
  let pairs = settingsPairs(lines[lines.length - 1]!);
  if (pairs.length >= 3) lines.pop();
  else pairs = [];

  const promptLines: string[] = [];
  const negativeLines: string[] = [];
  for (const line of lines) {
    if (negativeLines.length === 0 && line.startsWith(NEGATIVE_PREFIX)) {
      negativeLines.push(line.slice(NEGATIVE_PREFIX.length).replace(/^ /, ''));
    } else if (negativeLines.length > 0) negativeLines.push(line);
    else promptLines.push(line);
  }
  const out: ParsedParameters = { prompt: promptLines.join('\n'), negativePrompt: negativeLines.join('\n'), fields: {} };

  const fields = new Map(pairs.map(([k, v]) => [k, unquote(k, v)] as const));
  out.fields = Object.fromEntries(fields);
  const get = (k: string) => fields.get(k);
  if (get('Steps') !== undefined) out.steps = int('Steps', get('Steps')!);
  if (get('CFG scale') !== undefined) out.guidanceScale = num('CFG scale', get('CFG scale')!);
  const seed = get('Seed');
  if (seed !== undefined) {
    if (!INT_RE.test(seed)) throw new ParametersFormatError('Seed', `must be a non-negative integer (got "${seed}")`);
    const big = BigInt(seed);
    out.seed = big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
  }
  const size = get('Size');
  if (size !== undefined) {
    const m = /^(\d+)x(\d+)$/.exec(size);
    if (!m) throw new ParametersFormatError('Size', `must be WIDTHxHEIGHT (got "${size}")`);
    out.width = int('Size', m[1]!);
    out.height = int('Size', m[2]!);
  }
  if (get('Denoising strength') !== undefined) out.strength = num('Denoising strength', get('Denoising strength')!);
  const sampler = get('Sampler');
  if (sampler !== undefined) {
    out.sampler = sampler;
    const karras = get('Schedule type') === 'Karras' && sampler === SAMPLER_DISPLAY_NAMES.dpmpp_2m;
    const scheduler = karras ? 'dpmpp_2m_karras' : SCHEDULER_BY_SAMPLER.get(sampler);
    if (scheduler) out.scheduler = scheduler;
  }
  return out;
}
