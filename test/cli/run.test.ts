/**
 * The generate command end to end with a fake model (no GPU): option plumbing, PNG files and their parameters
 * chunk, numbered outputs, progress, disposal, and the error / interrupt exit codes.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CliModel, EXIT, type ModelLoader, runCli } from '../../packages/pipeline/src/cli/generate';
import { decodeImage, encodePng, formatParameters, parseParameters, readPngText } from '../helpers/image';
import type { GenerateOptions, GeneratedImage, Img2ImgOptions } from '../../packages/pipeline/src/options';

let dir: string;
let model: string;
beforeEach(() => {
  dir = fs.mkdtempSync(join(tmpdir(), 'sd-run-'));
  model = join(dir, 'model');
  fs.mkdirSync(model);
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

interface Calls {
  loads: Array<{ source: string; dtype: string; lowMemory?: boolean }>;
  txt2img: GenerateOptions[];
  img2img: Img2ImgOptions[];
  disposed: number;
}

/** A model that draws a seed-dependent gradient and reports progress like StableDiffusion does. */
function fakeLoader(calls: Calls, fail?: (o: GenerateOptions) => void): ModelLoader {
  const run = async (o: GenerateOptions, strength?: number): Promise<GeneratedImage[]> => {
    const steps = strength === undefined ? o.steps! : Math.floor(o.steps! * strength);
    for (let i = 1; i <= steps; i++) {
      if (o.signal?.aborted) throw Object.assign(new Error('generation aborted'), { name: 'AbortError' });
      fail?.(o);
      o.onProgress?.({ step: i, totalSteps: steps, timestep: 1000 - i });
    }
    const width = o.width ?? 64;
    const height = o.height ?? 64;
    const params = {
      prompt: o.prompt, negativePrompt: o.negativePrompt ?? '', steps: o.steps!, guidanceScale: o.guidanceScale!, seed: o.seed!,
      scheduler: o.scheduler!, width, height, ...(strength !== undefined ? { strength } : {}),
    };
    return Array.from({ length: o.numImages ?? 1 }, (_, k) => {
      const data = new Uint8ClampedArray(width * height * 4);
      for (let p = 0; p < width * height; p++) data.set([(p + k * 50) % 256, Number(BigInt(o.seed!) % 256n), k, 255], p * 4);
      // a prompt starting with LONG stands for one past CLIP's 77 tokens
      return { width, height, data, seed: o.seed!, params, ...(o.prompt.startsWith('LONG') ? { truncated: { prompt: 'the rest' } } : {}) };
    });
  };
  return async (source, opts) => {
    calls.loads.push({ source, dtype: opts.dtype, ...(opts.lowMemory ? { lowMemory: true } : {}) });
    const m: CliModel = {
      txt2img: async (o) => (calls.txt2img.push(o), run(o)),
      img2img: async (o) => (calls.img2img.push(o), run(o, o.strength ?? 0.8)),
      dispose: () => void calls.disposed++,
    };
    return m;
  };
}

async function cli(argv: string[], loader: ModelLoader, signal?: AbortSignal) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, { SD_WEBGPU_ROOT: join(import.meta.dirname, '../..') }, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s), isTTY: false },
    ...(signal ? { signal } : {}),
  }, loader);
  return { code, stdout, stderr };
}

const newCalls = (): Calls => ({ loads: [], txt2img: [], img2img: [], disposed: 0 });

describe('sd-webgpu generate (fake model)', () => {
  it('txt2img: passes the options, writes the PNG with its parameters chunk, reports seed and path', async () => {
    const calls = newCalls();
    const out = join(dir, 'cat.png');
    const r = await cli(['generate', '--model', model, '--prompt', 'a cat, 宇宙', '--negative-prompt', 'blurry', '--steps', '3',
      '--guidance', '5', '--seed', '42', '--scheduler', 'ddim', '--width', '96', '--height', '64', '--fp16', '--output', out], fakeLoader(calls));
    expect(r.code).toBe(EXIT.ok);
    expect(calls.loads).toEqual([{ source: model, dtype: 'f16' }]);
    expect(calls.txt2img[0]).toMatchObject({
      prompt: 'a cat, 宇宙', negativePrompt: 'blurry', steps: 3, guidanceScale: 5, seed: 42, scheduler: 'ddim', width: 96, height: 64, numImages: 1,
    });
    expect(calls.disposed).toBe(1);
    expect(r.stdout).toBe(`wrote ${out} (seed 42)\n`);
    const png = fs.readFileSync(out);
    const img = decodeImage(png);
    expect([img.width, img.height]).toEqual([96, 64]);
    expect([...img.data.subarray(0, 8)]).toEqual([0, 42, 0, 255, 1, 42, 0, 255]);
    const text = readPngText(png).parameters!;
    expect(text).toBe('a cat, 宇宙\nNegative prompt: blurry\nSteps: 3, Sampler: DDIM, CFG scale: 5, Seed: 42, Size: 96x64');
    expect(parseParameters(text).seed).toBe(42);
    // progress went to stderr as plain lines (not a TTY), ending with the last step
    expect(r.stderr).toMatch(/\[==========\] 3\/3 steps/);
    expect(fs.readdirSync(dir).sort()).toEqual(['cat.png', 'model']);
  });

  it('passes --vae-tiling and --low-memory, and warns about a truncated prompt', async () => {
    const calls = newCalls();
    const r = await cli(['generate', '--model', model, '--prompt', 'LONG prompt', '--steps', '1', '--seed', '1', '--vae-tiling', 'on',
      '--low-memory', '--output', join(dir, 'o.png')], fakeLoader(calls));
    expect(r.code).toBe(EXIT.ok);
    expect(calls.loads).toEqual([{ source: model, dtype: 'f32', lowMemory: true }]);
    expect(calls.txt2img[0]!.vaeTiling).toBe(true);
    expect(r.stderr).toContain('warning: the prompt is longer than CLIP\'s 77 tokens; this part was ignored: "the rest"');
    const plain = await cli(['generate', '--model', model, '--prompt', 'short', '--steps', '1', '--seed', '1', '--output', join(dir, 'p.png')], fakeLoader(calls));
    expect(plain.stderr).not.toContain('warning');
    expect(calls.txt2img[1]!.vaeTiling).toBeUndefined();
  });

  it('--num-images writes numbered files; a 64-bit seed is passed as a bigint', async () => {
    const calls = newCalls();
    const r = await cli(['generate', '--model', model, '--prompt', 'x', '--steps', '1', '--num-images', '3', '--seed', '18446744073709551615',
      '--output', join(dir, 'out.png')], fakeLoader(calls));
    expect(r.code).toBe(EXIT.ok);
    expect(calls.txt2img[0]!.seed).toBe(2n ** 64n - 1n);
    expect(fs.readdirSync(dir).sort()).toEqual(['model', 'out-1.png', 'out-2.png', 'out-3.png']);
    for (let k = 1; k <= 3; k++) {
      const png = fs.readFileSync(join(dir, `out-${k}.png`));
      expect(decodeImage(png).data[2]).toBe(k - 1); // image k-1 of the batch
      expect(readPngText(png).parameters).toContain('Seed: 18446744073709551615,');
    }
    expect(r.stdout.trim().split('\n')).toHaveLength(3);
  });

  it('draws and prints a random seed when --seed is omitted', async () => {
    const calls = newCalls();
    const r = await cli(['generate', '--model', model, '--prompt', 'x', '--steps', '1', '--output', join(dir, 'o.png')], fakeLoader(calls));
    const seed = /seed: (\d+) \(random\)/.exec(r.stderr)?.[1];
    expect(seed).toBeDefined();
    expect(calls.txt2img[0]!.seed).toBe(Number(seed));
    expect(r.stdout).toBe(`wrote ${join(dir, 'o.png')} (seed ${seed})\n`);
  });

  it('img2img: decodes the init image, sizes the output from it, passes strength, records Denoising strength', async () => {
    const calls = newCalls();
    const init = join(dir, 'in.png');
    fs.writeFileSync(init, encodePng({ width: 100, height: 75, data: new Uint8Array(100 * 75 * 4).fill(77) }));
    const out = join(dir, 'o.png');
    const r = await cli(['generate', '--model', model, '--prompt', 'x', '--steps', '10', '--seed', '1', '--init-image', init, '--strength', '0.5',
      '--output', out], fakeLoader(calls));
    expect(r.code).toBe(EXIT.ok);
    const o = calls.img2img[0]!;
    expect([o.image.width, o.image.height, o.image.data[0], o.width, o.height, o.strength]).toEqual([100, 75, 77, 96, 72, 0.5]);
    expect(r.stderr).toContain('note: resizing --init-image from 100x75 to 96x72');
    expect(r.stderr).toMatch(/\] 5\/5 steps/);
    expect(readPngText(fs.readFileSync(out)).parameters).toBe(
      formatParameters({ prompt: 'x', negativePrompt: '', steps: 10, guidanceScale: 7.5, seed: 1, scheduler: 'pndm', width: 96, height: 72, strength: 0.5 }),
    );
  });

  it('a corrupt init image is an argument error: exit 2, no model loaded', async () => {
    const calls = newCalls();
    const init = join(dir, 'bad.png');
    fs.writeFileSync(init, encodePng({ width: 8, height: 8, data: new Uint8Array(256) }).subarray(0, 40));
    const r = await cli(['generate', '--model', model, '--prompt', 'x', '--init-image', init, '--output', join(dir, 'o.png')], fakeLoader(calls));
    expect(r.code).toBe(EXIT.usage);
    expect(r.stderr).toMatch(/^sd-webgpu: --init-image: image '.*bad\.png': .*\n$/);
    expect(calls.loads).toHaveLength(0);
  });

  it('an error while generating: one line, exit 1, nothing written, model disposed', async () => {
    const calls = newCalls();
    const loader = fakeLoader(calls, () => {
      throw new Error("kernel 'matmul' failed to compile:\nerror: line 3\n--- WGSL ---\n...");
    });
    const r = await cli(['generate', '--model', model, '--prompt', 'x', '--output', join(dir, 'o.png')], loader);
    expect(r.code).toBe(EXIT.error);
    expect(r.stderr.trimEnd().split('\n').pop()).toBe("sd-webgpu: kernel 'matmul' failed to compile: (set SD_WEBGPU_DEBUG=1 for details)");
    expect(calls.disposed).toBe(1);
    expect(fs.readdirSync(dir)).toEqual(['model']);
  });

  it('a failing load: exit 1 with the loader message', async () => {
    const r = await cli(['generate', '--model', model, '--prompt', 'x', '--output', join(dir, 'o.png')], async () => {
      throw new Error(`missing component 'unet' in ${model}`);
    });
    expect(r.code).toBe(EXIT.error);
    expect(r.stderr.trimEnd().split('\n').pop()).toBe(`sd-webgpu: missing component 'unet' in ${model}`);
  });

  it('interrupted: exit 130, nothing written, model disposed', async () => {
    const calls = newCalls();
    const ac = new AbortController();
    const loader = fakeLoader(calls, () => ac.abort()); // Ctrl-C arrives during the first step
    const r = await cli(['generate', '--model', model, '--prompt', 'x', '--steps', '5', '--output', join(dir, 'o.png')], loader, ac.signal);
    expect(r.code).toBe(EXIT.interrupted);
    expect(r.stderr).toContain('sd-webgpu: interrupted, nothing written\n');
    expect(calls.disposed).toBe(1);
    expect(fs.readdirSync(dir)).toEqual(['model']);
  });

  it('an AbortError that is not our signal (WebGPU cancelling work on a lost device) is an error, not an interrupt', async () => {
    const calls = newCalls();
    const loader = fakeLoader(calls, () => {
      throw new DOMException('', 'AbortError');
    });
    const r = await cli(['generate', '--model', model, '--prompt', 'x', '--output', join(dir, 'o.png')], loader, new AbortController().signal);
    expect(r.code).toBe(EXIT.error);
    expect(r.stderr).not.toContain('interrupted');
    expect(r.stderr.trimEnd().split('\n').pop()).toBe('sd-webgpu: AbortError (no message)');
  });

  it.skipIf(process.platform !== 'linux')('an unwritable --output fails before the model loads (exit 2)', async () => {
    const calls = newCalls();
    const r = await cli(['generate', '--model', model, '--prompt', 'x', '--output', '/proc/sd-webgpu-test.png'], fakeLoader(calls));
    expect(r.code).toBe(EXIT.usage);
    expect(r.stderr.trimEnd().split('\n').pop()).toMatch(/^sd-webgpu: --output: cannot write "\/proc\/sd-webgpu-test\.png": E[A-Z]+/);
    expect(calls.loads).toHaveLength(0);
  });

  it('the writability probe leaves the output folder as it was', async () => {
    const calls = newCalls();
    const r = await cli(['generate', '--model', model, '--prompt', 'x', '--steps', '1', '--num-images', '2', '--output', join(dir, 'o.png')], fakeLoader(calls));
    expect(r.code).toBe(EXIT.ok);
    expect(fs.readdirSync(dir).sort()).toEqual(['model', 'o-1.png', 'o-2.png']);
  });

  it('prints a note when the bundled demo model is used', async () => {
    const calls = newCalls();
    const r = await cli(['generate', '--prompt', 'x', '--steps', '1', '--output', join(dir, 'o.png')], fakeLoader(calls));
    expect(r.code).toBe(EXIT.ok);
    expect(calls.loads[0]!.source).toMatch(/test\/fixtures\/models\/tiny-sd$/);
    expect(r.stderr).toMatch(/note: no --model given, using the bundled demo model .*tiny-sd/);
    expect(r.stderr).toContain('noise-like pictures');
  });

  it('--help prints the usage on stdout and exits 0', async () => {
    const r = await cli(['generate', '--help'], fakeLoader(newCalls()));
    expect(r.code).toBe(EXIT.ok);
    expect(r.stdout).toMatch(/^Usage: sd-webgpu generate/);
    expect(r.stderr).toBe('');
  });
});
