/**
 * Command-line parsing for `sd-webgpu generate`. Every option is checked here, before any model code is even
 * imported: a bad argument costs nothing and produces one line (`sd-webgpu: <message>`) and exit code 2.
 *
 * Syntax: `--name value` or `--name=value`; `--fp16` and `--help` take no value. A value that starts with `--` must
 * use the `=` form (`--prompt=--odd`). Options may not repeat; positional arguments other than the command are errors.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { SdError } from '@sd-webgpu/tensor';
import { describeBytes, sniffImageFormat } from '../image/node_io.js';
import { promptTextProblem } from '../image/parameters.js';
import { MAX_GUIDANCE_SCALE, MAX_SIDE, MIN_SIDE, type RgbaImage, sideProblem } from '../options.js';
import { SCHEDULER_NAMES, type SchedulerName } from '../schedulers/index.js';

/** A bad command line. The CLI prints `sd-webgpu: <message>` and exits with `exitCode`. */
export class UsageError extends SdError {
  readonly exitCode = 2;
  constructor(detail: string) {
    super('usage', detail);
  }
}

/** Validated `generate` arguments. `width`/`height` absent: the model's native size (or the init image's). */
export interface GenerateArgs {
  model: string;
  /** True when --model was omitted and the bundled demo model is used. */
  modelIsDemo: boolean;
  prompt: string;
  negativePrompt: string;
  steps: number;
  guidanceScale: number;
  /** Absent: a random seed is drawn (and printed). */
  seed?: bigint;
  scheduler: SchedulerName;
  width?: number;
  height?: number;
  initImage?: string;
  /** Only with initImage; default 0.8. */
  strength?: number;
  dtype: 'f32' | 'f16';
  output: string;
  numImages: number;
  /** --vae-tiling on|off; absent: automatic. */
  vaeTiling?: boolean;
  lowMemory?: boolean;
}

export type Command = { kind: 'help'; text: string } | { kind: 'generate'; args: GenerateArgs };

/** The bundled demo model, relative to the repository root. */
export const DEMO_MODEL = 'test/fixtures/models/tiny-sd';
export const MAX_NUM_IMAGES = 16;
const MAX_SEED = 2n ** 64n - 1n;

export const USAGE = `Usage: sd-webgpu generate --prompt TEXT [options]

Generates images with Stable Diffusion 1.x on WebGPU and writes PNGs that carry their
generation parameters (A1111 "parameters" text chunk).

Options:
  --model PATH            diffusers folder or single .safetensors file
                          (default: the bundled tiny random-weight demo model)
  --prompt TEXT           what to draw (required)
  --negative-prompt TEXT  what to avoid (default: empty)
  --steps N               denoising steps, 1..1000 (default 25)
  --guidance X            classifier-free guidance scale, 0..100 (default 7.5)
  --seed N                0..2^64-1 (default: random, printed)
  --scheduler NAME        ${SCHEDULER_NAMES.join(', ')} (default pndm)
  --width N, --height N   multiples of 8 in 8..2048 (default: the model's size,
                          or the init image's size rounded down to a multiple of 8)
  --init-image PATH       PNG or JPEG to start from (img2img; resized to --width/--height)
  --strength X            img2img: 0 < X <= 1, how much to change the image (default 0.8)
  --fp16                  run in half precision where the GPU supports it
  --vae-tiling on|off     decode/encode in 512 px tiles (default: on when a side exceeds 512 px and one tile)
  --low-memory            free the text encoder after encoding, load no VAE encoder for txt2img
  --num-images N          images to generate, 1..${MAX_NUM_IMAGES} (default 1); N > 1 writes OUT-1.png, OUT-2.png, ...
  --output PATH           PNG to write (default out.png); its folder must exist
  --verbose               also show the WebGPU runtime's own log lines (Dawn warnings)
  --help                  show this help

Exit codes: 0 success, 1 error while generating, 2 invalid arguments, 130 interrupted.
`;

interface OptionSpec {
  flag?: boolean;
}

const OPTIONS: Record<string, OptionSpec> = {
  model: {}, prompt: {}, 'negative-prompt': {}, steps: {}, guidance: {}, seed: {}, scheduler: {}, width: {}, height: {},
  'init-image': {}, strength: {}, fp16: { flag: true }, 'vae-tiling': {}, 'low-memory': { flag: true }, 'num-images': {}, output: {}, verbose: { flag: true }, help: { flag: true },
};

const INT_RE = /^\d+$/;
const NUM_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

const got = (v: string) => `(got ${JSON.stringify(v)})`;

function intIn(name: string, v: string, lo: number, hi: number): number {
  const n = Number(v);
  if (!INT_RE.test(v) || n < lo || n > hi) throw new UsageError(`--${name} must be an integer in ${lo}..${hi} ${got(v)}`);
  return n;
}

function side(name: string, v: string): number {
  const problem = INT_RE.test(v) ? sideProblem(Number(v)) : `must be a multiple of 8 in ${MIN_SIDE}..${MAX_SIDE} ${got(v)}`;
  if (problem) throw new UsageError(`--${name} ${problem}`);
  return Number(v);
}

/** Splits argv into option values; rejects unknown, repeated and value-less options and stray positionals. */
function tokenize(argv: readonly string[]): Map<string, string> {
  const values = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument ${JSON.stringify(arg)} (options start with --; see --help)`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const spec = OPTIONS[name];
    if (!Object.hasOwn(OPTIONS, name) || !spec) throw new UsageError(`unknown option --${name} (see --help)`);
    if (values.has(name)) throw new UsageError(`--${name} given more than once`);
    if (spec.flag) {
      if (eq >= 0) throw new UsageError(`--${name} takes no value ${got(arg.slice(eq + 1))}`);
      values.set(name, '');
    } else if (eq >= 0) {
      values.set(name, arg.slice(eq + 1));
    } else {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) throw new UsageError(`--${name} needs a value`);
      values.set(name, next);
      i++;
    }
  }
  return values;
}

function statOrNull(path: string): ReturnType<typeof statSync> | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

/** The first bytes of a file (enough to recognise its format). */
function readHead(path: string, n = 16): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const buf = new Uint8Array(n);
    return buf.subarray(0, readSync(fd, buf, 0, n, 0));
  } finally {
    closeSync(fd);
  }
}

function checkModel(model: string): void {
  const st = statOrNull(model);
  if (!st) throw new UsageError(`--model ${JSON.stringify(model)} does not exist`);
  if (!st.isDirectory() && !(st.isFile() && model.toLowerCase().endsWith('.safetensors'))) {
    throw new UsageError(`--model must be a diffusers folder or a .safetensors file ${got(model)}`);
  }
}

function checkInitImage(path: string): void {
  const st = statOrNull(path);
  if (!st) throw new UsageError(`--init-image ${JSON.stringify(path)} does not exist`);
  if (!st.isFile()) throw new UsageError(`--init-image ${JSON.stringify(path)} is not a file`);
  let head: Uint8Array;
  try {
    head = readHead(path);
  } catch (e) {
    throw new UsageError(`--init-image ${JSON.stringify(path)} cannot be read (${(e as Error).message})`);
  }
  if (!sniffImageFormat(head)) {
    throw new UsageError(`--init-image must be a PNG or JPEG file (got ${JSON.stringify(path)}: ${describeBytes(head)})`);
  }
}

function checkOutput(output: string): void {
  if (!output.toLowerCase().endsWith('.png') || basename(output).length <= 4) {
    throw new UsageError(`--output must be a file name ending in .png ${got(output)}`);
  }
  const dir = dirname(resolve(output));
  const dst = statOrNull(dir);
  if (!dst || !dst.isDirectory()) throw new UsageError(`--output folder ${JSON.stringify(dirname(output))} does not exist`);
  if (statOrNull(output)?.isDirectory()) throw new UsageError(`--output ${JSON.stringify(output)} is a folder`);
}

/**
 * Parses and validates `argv` (without the node and script paths). `env.SD_WEBGPU_ROOT` locates the demo model
 * used when --model is omitted. Throws UsageError; checks the file system (model, init image, output folder).
 */
export function parseArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): Command {
  if (argv.includes('--help') || argv.includes('-h')) return { kind: 'help', text: USAGE };
  if (argv.length === 0) throw new UsageError('missing command (expected "generate"; see --help)');
  const [command, ...rest] = argv;
  if (command !== 'generate') throw new UsageError(`unknown command ${JSON.stringify(command)} (expected "generate"; see --help)`);
  const v = tokenize(rest);
  const get = (k: string) => v.get(k);

  // model
  let model = get('model');
  const modelIsDemo = model === undefined;
  if (model === undefined) {
    const root = env.SD_WEBGPU_ROOT;
    if (!root) throw new UsageError('--model is required (the bundled demo model is located through SD_WEBGPU_ROOT, which is not set)');
    model = join(root, DEMO_MODEL);
    if (!statOrNull(model)?.isDirectory()) throw new UsageError(`--model not given and the bundled demo model ${JSON.stringify(model)} is missing`);
  } else checkModel(model);

  // text and sampling
  const prompt = get('prompt');
  if (prompt === undefined) throw new UsageError('--prompt is required');
  const negativePrompt = get('negative-prompt') ?? '';
  for (const [flag, field, text] of [['prompt', 'prompt', prompt], ['negative-prompt', 'negativePrompt', negativePrompt]] as const) {
    const problem = promptTextProblem(field, text);
    if (problem) throw new UsageError(`--${flag} ${problem}`);
  }
  const steps = get('steps') === undefined ? 25 : intIn('steps', get('steps')!, 1, 1000);
  let guidanceScale = 7.5;
  if (get('guidance') !== undefined) {
    const g = get('guidance')!;
    guidanceScale = Number(g);
    if (!NUM_RE.test(g) || !(guidanceScale >= 0 && guidanceScale <= MAX_GUIDANCE_SCALE)) {
      throw new UsageError(`--guidance must be a number in 0..${MAX_GUIDANCE_SCALE} ${got(g)}`);
    }
  }
  let seed: bigint | undefined;
  if (get('seed') !== undefined) {
    const s = get('seed')!;
    if (!INT_RE.test(s) || BigInt(s) > MAX_SEED) throw new UsageError(`--seed must be an integer in 0..${MAX_SEED} ${got(s)}`);
    seed = BigInt(s);
  }
  const scheduler = (get('scheduler') ?? 'pndm') as SchedulerName;
  if (!SCHEDULER_NAMES.includes(scheduler)) throw new UsageError(`--scheduler must be one of ${SCHEDULER_NAMES.join(', ')} ${got(scheduler)}`);

  // size and img2img
  const width = get('width') === undefined ? undefined : side('width', get('width')!);
  const height = get('height') === undefined ? undefined : side('height', get('height')!);
  const initImage = get('init-image');
  if (initImage !== undefined) checkInitImage(initImage);
  let strength: number | undefined;
  if (get('strength') !== undefined) {
    const s = get('strength')!;
    if (initImage === undefined) throw new UsageError('--strength requires --init-image');
    strength = Number(s);
    if (!NUM_RE.test(s) || !(strength > 0 && strength <= 1)) throw new UsageError(`--strength must be a number in (0, 1] ${got(s)}`);
    if (Math.floor(steps * strength) < 1) {
      throw new UsageError(`--strength ${s} with --steps ${steps} leaves no denoising step (need --strength >= ${1 / steps})`);
    }
  }

  // output
  const numImages = get('num-images') === undefined ? 1 : intIn('num-images', get('num-images')!, 1, MAX_NUM_IMAGES);
  const output = get('output') ?? 'out.png';
  checkOutput(output);

  const args: GenerateArgs = {
    model, modelIsDemo, prompt, negativePrompt, steps, guidanceScale, scheduler, dtype: v.has('fp16') ? 'f16' : 'f32', output, numImages,
  };
  if (seed !== undefined) args.seed = seed;
  if (width !== undefined) args.width = width;
  if (height !== undefined) args.height = height;
  if (initImage !== undefined) args.initImage = initImage;
  if (strength !== undefined) args.strength = strength;
  const tiling = get('vae-tiling');
  if (tiling !== undefined) {
    if (tiling !== 'on' && tiling !== 'off') throw new UsageError(`--vae-tiling must be on or off ${got(tiling)}`);
    args.vaeTiling = tiling === 'on';
  }
  if (v.has('low-memory')) args.lowMemory = true;
  return { kind: 'generate', args };
}

/**
 * The output size of an img2img run, checked before the model loads: --width/--height when given, otherwise the
 * init image's size rounded down to a multiple of 8 (the image is then resized to it).
 */
export function img2imgSize(args: GenerateArgs, image: RgbaImage): { width: number; height: number } {
  const width = args.width ?? image.width - (image.width % 8);
  const height = args.height ?? image.height - (image.height % 8);
  for (const [name, n, given] of [['width', width, args.width], ['height', height, args.height]] as const) {
    if (given === undefined && (n < MIN_SIDE || n > MAX_SIDE)) {
      throw new UsageError(
        `--init-image is ${image.width}x${image.height}, so the output ${name} would be ${n}, outside ${MIN_SIDE}..${MAX_SIDE} (pass --${name})`,
      );
    }
  }
  return { width, height };
}
