/**
 * The `sd-webgpu generate` command: arguments → (optional) init image → model → images → PNG files.
 * Model code is imported only after every argument has been checked, and the model is always disposed.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { ImageFormatError, formatParameters } from '../image/index.js';
import { decodeImage, encodePng } from '../image/node_io.js';
import type { GenerateOptions, GeneratedImage, Img2ImgOptions, RgbaImage } from '../options.js';
import { type GenerateArgs, UsageError, img2imgSize, parseArgs } from './args.js';
import { ProgressBar, type ProgressStream } from './progress.js';
import { OutputWriteError, checkWritable, outputPaths, writeFilesAtomic } from './write.js';

/** What the command needs of a loaded model (StableDiffusion; tests pass a fake). */
export interface CliModel {
  txt2img(o: GenerateOptions): Promise<GeneratedImage[]>;
  img2img(o: Img2ImgOptions): Promise<GeneratedImage[]>;
  dispose(): void;
}

export type ModelLoader = (source: string, opts: { dtype: 'f32' | 'f16'; lowMemory?: boolean }) => Promise<CliModel>;

export interface CliIo {
  stdout: { write(text: string): unknown };
  stderr: ProgressStream;
  /** Aborts the generation between steps (Ctrl-C). */
  signal?: AbortSignal;
  /** Milliseconds clock for the progress bar and timings (default performance.now). */
  now?: () => number;
}

/** Exit codes: success, a failure while running, invalid arguments, interrupted (128 + SIGINT). */
export const EXIT = { ok: 0, error: 1, usage: 2, interrupted: 130 } as const;

/** Loads StableDiffusion on first use, so argument errors never pay for importing the model code. */
export const loadStableDiffusion: ModelLoader = async (source, opts) => {
  const { StableDiffusion } = await import('../stable_diffusion.js');
  return StableDiffusion.load(source, opts);
};

function randomSeed(): bigint {
  const a = new Uint32Array(1);
  globalThis.crypto.getRandomValues(a);
  return BigInt(a[0]!);
}

/** A seed as the pipeline takes it: a number when exact, else a bigint. */
const seedValue = (s: bigint): number | bigint => (s <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(s) : s);

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

function readInitImage(path: string): RgbaImage {
  try {
    return decodeImage(readFileSync(path), { source: path });
  } catch (e) {
    if (e instanceof ImageFormatError) throw new UsageError(`--init-image: ${e.message}`);
    throw new UsageError(`--init-image ${JSON.stringify(path)} cannot be read (${(e as Error).message})`);
  }
}

/** Runs one validated `generate`; returns the paths written. */
export async function runGenerate(args: GenerateArgs, io: CliIo, load: ModelLoader = loadStableDiffusion): Promise<string[]> {
  const now = io.now ?? (() => performance.now());
  const err = (line: string) => io.stderr.write(`${line}\n`);

  // 1. everything that can still be wrong with the inputs, before loading
  let image: RgbaImage | undefined;
  let size: { width?: number; height?: number } = { width: args.width, height: args.height };
  if (args.initImage !== undefined) {
    image = readInitImage(args.initImage);
    size = img2imgSize(args, image);
    if (size.width !== image.width || size.height !== image.height) {
      err(`note: resizing --init-image from ${image.width}x${image.height} to ${size.width}x${size.height}`);
    }
  }
  const paths = outputPaths(args.output, args.numImages);
  try {
    checkWritable(paths);
  } catch (e) {
    if (e instanceof OutputWriteError) throw new UsageError(`--output: ${e.message}`);
    throw e;
  }
  const seed = args.seed ?? randomSeed();
  if (args.seed === undefined) err(`seed: ${seed} (random)`);
  if (args.modelIsDemo) {
    const rel = relative(process.cwd(), args.model);
    err(`note: no --model given, using the bundled demo model ${rel && !rel.startsWith('..') ? rel : args.model}:`);
    err('      tiny random weights, so it makes noise-like pictures, not real images');
  }

  // 2. load
  const t0 = now();
  err(`loading ${args.model}${args.dtype === 'f16' ? ' (fp16)' : ''}...`);
  const model = await load(args.model, { dtype: args.dtype, ...(args.lowMemory ? { lowMemory: true } : {}) });
  try {
    err(`loaded in ${seconds(now() - t0)}`);

    // 3. generate
    const bar = new ProgressBar(io.stderr, { now });
    const options: GenerateOptions = {
      prompt: args.prompt,
      negativePrompt: args.negativePrompt,
      steps: args.steps,
      guidanceScale: args.guidanceScale,
      seed: seedValue(seed),
      scheduler: args.scheduler,
      numImages: args.numImages,
      onProgress: (p) => bar.update(p.step, p.totalSteps),
      ...(size.width !== undefined ? { width: size.width } : {}),
      ...(size.height !== undefined ? { height: size.height } : {}),
      ...(io.signal ? { signal: io.signal } : {}),
      ...(args.vaeTiling !== undefined ? { vaeTiling: args.vaeTiling } : {}),
    };
    const t1 = now();
    bar.start();
    let images: GeneratedImage[];
    try {
      images = image
        ? await model.img2img({ ...options, image, ...(args.strength !== undefined ? { strength: args.strength } : {}) })
        : await model.txt2img(options);
    } finally {
      bar.finish();
    }
    err(`generated ${images.length} image${images.length === 1 ? '' : 's'} in ${seconds(now() - t1)}`);
    for (const [which, dropped] of Object.entries(images[0]?.truncated ?? {})) {
      const name = which === 'prompt' ? 'the prompt' : 'the negative prompt';
      err(`warning: ${name} is longer than CLIP's 77 tokens; this part was ignored: ${JSON.stringify(dropped)}`);
    }

    // 4. write, all or nothing
    writeFilesAtomic(images.map((img, i) => ({ path: paths[i]!, data: encodePng(img, { parameters: formatParameters(img.params) }) })));
    images.forEach((img, i) => io.stdout.write(`wrote ${paths[i]} (seed ${img.seed})\n`));
    return paths;
  } finally {
    model.dispose();
  }
}

/**
 * The whole command line: parse, run, report. Never throws; returns the exit code. Errors are printed as one line
 * `sd-webgpu: <message>` (the full message and stack too when SD_WEBGPU_DEBUG is set).
 */
export async function runCli(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  io: CliIo,
  load: ModelLoader = loadStableDiffusion,
): Promise<number> {
  try {
    const cmd = parseArgs(argv, env);
    if (cmd.kind === 'help') {
      io.stdout.write(cmd.text);
      return EXIT.ok;
    }
    await runGenerate(cmd.args, io, load);
    return EXIT.ok;
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr.write(`sd-webgpu: ${e.message}\n`);
      return EXIT.usage;
    }
    // Only our own signal means interrupted: WebGPU rejects with DOMException 'AbortError' when the device goes away.
    if (io.signal?.aborted) {
      io.stderr.write('sd-webgpu: interrupted, nothing written\n');
      return EXIT.interrupted;
    }
    const message = e instanceof Error ? e.message || `${e.name} (no message)` : String(e);
    const [first, ...more] = message.split('\n');
    const hint = more.some((l) => l.trim()) && !env.SD_WEBGPU_DEBUG ? ' (set SD_WEBGPU_DEBUG=1 for details)' : '';
    io.stderr.write(`sd-webgpu: ${first}${hint}\n`);
    if (env.SD_WEBGPU_DEBUG && e instanceof Error) io.stderr.write(`${e.stack ?? message}\n`);
    return EXIT.error;
  }
}
