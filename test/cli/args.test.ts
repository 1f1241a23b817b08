import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode as encodeJpeg } from 'jpeg-js';
import { DEMO_MODEL, UsageError, img2imgSize, parseArgs } from '../../packages/pipeline/src/cli/args';
import { EXIT, runCli } from '../../packages/pipeline/src/cli/generate';
import { encodePng } from '../helpers/image';

let dir: string;
let model: string;
let png: string;
let jpg: string;
const ROOT = join(import.meta.dirname, '../..');
const env = { SD_WEBGPU_ROOT: ROOT };

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sd-args-'));
  model = join(dir, 'model');
  mkdirSync(model);
  writeFileSync(join(dir, 'single.safetensors'), new Uint8Array(8));
  writeFileSync(join(dir, 'old.ckpt'), new Uint8Array(8));
  png = join(dir, 'in.png');
  writeFileSync(png, encodePng({ width: 100, height: 75, data: new Uint8Array(100 * 75 * 4).fill(255) }));
  jpg = join(dir, 'in.jpg');
  writeFileSync(jpg, encodeJpeg({ width: 8, height: 8, data: new Uint8Array(256).fill(200) }, 90).data);
  writeFileSync(join(dir, 'anim.gif'), 'GIF89a\x01\x00\x01\x00');
  writeFileSync(join(dir, 'notes.txt'), 'hello');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const gen = (...rest: string[]) => ['generate', '--model', model, '--prompt', 'a cat', '--output', join(dir, 'out.png'), ...rest];
const genTo = (output: string) => ['generate', '--model', model, '--prompt', 'a cat', '--output', output];

function usage(argv: string[], e: Record<string, string | undefined> = env): string {
  try {
    parseArgs(argv, e);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).exitCode).toBe(2);
    return `sd-webgpu: ${(err as Error).message}`;
  }
  throw new Error(`expected a UsageError for ${JSON.stringify(argv)}`);
}

describe('parseArgs: valid command lines', () => {
  it('fills the defaults', () => {
    const cmd = parseArgs(gen(), env);
    expect(cmd).toEqual({
      kind: 'generate',
      args: {
        model, modelIsDemo: false, prompt: 'a cat', negativePrompt: '', steps: 25, guidanceScale: 7.5, scheduler: 'pndm',
        dtype: 'f32', output: join(dir, 'out.png'), numImages: 1,
      },
    });
  });

  it('reads every option, in both --name value and --name=value forms', () => {
    const cmd = parseArgs(
      gen('--negative-prompt', 'blurry', '--steps=30', '--guidance', '0', '--seed', '18446744073709551615', '--scheduler=euler_a',
        '--width', '80', '--height=2048', '--init-image', png, '--strength', '1', '--fp16', '--num-images', '16',
        '--vae-tiling', 'off', '--low-memory'),
      env,
    );
    if (cmd.kind !== 'generate') throw new Error('expected generate');
    expect(cmd.args).toMatchObject({
      negativePrompt: 'blurry', steps: 30, guidanceScale: 0, seed: 2n ** 64n - 1n, scheduler: 'euler_a', width: 80,
      height: 2048, initImage: png, strength: 1, dtype: 'f16', numImages: 16, vaeTiling: false, lowMemory: true,
    });
  });

  it('accepts a .safetensors file, a JPEG init image, an empty prompt and a value starting with -- via =', () => {
    const cmd = parseArgs(['generate', '--model', join(dir, 'single.safetensors'), '--prompt=--weird', '--init-image', jpg, '--output', join(dir, 'x.png')], env);
    expect(cmd.kind === 'generate' && cmd.args.prompt).toBe('--weird');
    const empty = parseArgs(['generate', '--model', model, '--prompt', '', '--output', join(dir, 'x.png')], env);
    expect(empty.kind === 'generate' && empty.args.prompt).toBe('');
  });

  it('uses the bundled demo model when --model is omitted', () => {
    const cmd = parseArgs(['generate', '--prompt', 'x', '--output', join(dir, 'o.png')], env);
    if (cmd.kind !== 'generate') throw new Error('expected generate');
    expect(cmd.args.model).toBe(join(ROOT, DEMO_MODEL));
    expect(cmd.args.modelIsDemo).toBe(true);
  });

  it('returns the help text for --help anywhere', () => {
    for (const argv of [['--help'], ['generate', '--help'], ['generate', '--steps', 'abc', '-h']]) {
      const cmd = parseArgs(argv, env);
      expect(cmd.kind).toBe('help');
      expect(cmd.kind === 'help' && cmd.text).toMatch(/^Usage: sd-webgpu generate --prompt TEXT/);
    }
  });
});

describe('parseArgs: each invalid argument is one line and exit code 2', () => {
  const cases: Array<[string, () => string[], string | RegExp]> = [
    ['no command', () => [], 'sd-webgpu: missing command (expected "generate"; see --help)'],
    ['wrong command', () => ['paint', '--prompt', 'x'], 'sd-webgpu: unknown command "paint" (expected "generate"; see --help)'],
    ['unknown option', () => gen('--cfg', '7'), 'sd-webgpu: unknown option --cfg (see --help)'],
    ['stray positional', () => gen('extra'), 'sd-webgpu: unexpected argument "extra" (options start with --; see --help)'],
    ['repeated option', () => gen('--steps', '2', '--steps', '3'), 'sd-webgpu: --steps given more than once'],
    ['missing value at the end', () => gen('--steps'), 'sd-webgpu: --steps needs a value'],
    ['option where a value belongs', () => gen('--seed', '--fp16'), 'sd-webgpu: --seed needs a value'],
    ['value for a flag', () => gen('--fp16=yes'), 'sd-webgpu: --fp16 takes no value (got "yes")'],
    ['missing prompt', () => ['generate', '--model', model], 'sd-webgpu: --prompt is required'],
    ['steps not a number', () => gen('--steps', 'abc'), 'sd-webgpu: --steps must be an integer in 1..1000 (got "abc")'],
    ['steps 0', () => gen('--steps', '0'), 'sd-webgpu: --steps must be an integer in 1..1000 (got "0")'],
    ['steps 1001', () => gen('--steps', '1001'), 'sd-webgpu: --steps must be an integer in 1..1000 (got "1001")'],
    ['steps fractional', () => gen('--steps', '2.5'), 'sd-webgpu: --steps must be an integer in 1..1000 (got "2.5")'],
    ['steps exponent', () => gen('--steps=1e2'), 'sd-webgpu: --steps must be an integer in 1..1000 (got "1e2")'],
    ['guidance negative', () => gen('--guidance=-1'), 'sd-webgpu: --guidance must be a number in 0..100 (got "-1")'],
    ['guidance text', () => gen('--guidance', 'high'), 'sd-webgpu: --guidance must be a number in 0..100 (got "high")'],
    ['guidance infinite', () => gen('--guidance', 'Infinity'), 'sd-webgpu: --guidance must be a number in 0..100 (got "Infinity")'],
    ['guidance 1e300', () => gen('--guidance', '1e300'), 'sd-webgpu: --guidance must be a number in 0..100 (got "1e300")'],
    ['guidance 100.5', () => gen('--guidance', '100.5'), 'sd-webgpu: --guidance must be a number in 0..100 (got "100.5")'],
    ['negative line in prompt', () => ['generate', '--model', model, '--prompt', 'cat\nNegative prompt: dog'],
      "sd-webgpu: --prompt must not contain a line starting with 'Negative prompt:' (give that text as the negative prompt)"],
    ['seed negative', () => gen('--seed=-1'), 'sd-webgpu: --seed must be an integer in 0..18446744073709551615 (got "-1")'],
    ['seed 2^64', () => gen('--seed', '18446744073709551616'), 'sd-webgpu: --seed must be an integer in 0..18446744073709551615 (got "18446744073709551616")'],
    ['seed hex', () => gen('--seed', '0x10'), 'sd-webgpu: --seed must be an integer in 0..18446744073709551615 (got "0x10")'],
    ['scheduler', () => gen('--scheduler', 'heun'), 'sd-webgpu: --scheduler must be one of ddim, pndm, euler, euler_a, dpmpp_2m, dpmpp_2m_karras, lms (got "heun")'],
    ['width not multiple of 8', () => gen('--width', '100'), 'sd-webgpu: --width must be a multiple of 8 in 8..2048 (got 100; nearest valid: 96 or 104)'],
    ['width too small', () => gen('--width', '4'), 'sd-webgpu: --width must be a multiple of 8 in 8..2048 (got 4; nearest valid: 8)'],
    ['width not a number', () => gen('--width', 'wide'), 'sd-webgpu: --width must be a multiple of 8 in 8..2048 (got "wide")'],
    ['height too large', () => gen('--height', '2056'), 'sd-webgpu: --height must be a multiple of 8 in 8..2048 (got 2056; nearest valid: 2048)'],
    ['vae tiling not on/off', () => gen('--vae-tiling', 'yes'), 'sd-webgpu: --vae-tiling must be on or off (got "yes")'],
    ['strength without init image', () => gen('--strength', '0.5'), 'sd-webgpu: --strength requires --init-image'],
    ['strength 0', () => gen('--init-image', png, '--strength', '0'), 'sd-webgpu: --strength must be a number in (0, 1] (got "0")'],
    ['strength above 1', () => gen('--init-image', png, '--strength', '1.5'), 'sd-webgpu: --strength must be a number in (0, 1] (got "1.5")'],
    ['strength too small for the steps', () => gen('--init-image', png, '--strength', '0.01', '--steps', '25'),
      'sd-webgpu: --strength 0.01 with --steps 25 leaves no denoising step (need --strength >= 0.04)'],
    ['num-images 0', () => gen('--num-images', '0'), 'sd-webgpu: --num-images must be an integer in 1..16 (got "0")'],
    ['num-images 17', () => gen('--num-images', '17'), 'sd-webgpu: --num-images must be an integer in 1..16 (got "17")'],
    ['model missing', () => ['generate', '--model', join(dir, 'nope'), '--prompt', 'x'], /^sd-webgpu: --model ".*nope" does not exist$/],
    ['model of another format', () => ['generate', '--model', join(dir, 'old.ckpt'), '--prompt', 'x'],
      /^sd-webgpu: --model must be a diffusers folder or a \.safetensors file \(got ".*old\.ckpt"\)$/],
    ['init image missing', () => gen('--init-image', join(dir, 'nope.png')), /^sd-webgpu: --init-image ".*nope\.png" does not exist$/],
    ['init image a folder', () => gen('--init-image', model), /^sd-webgpu: --init-image ".*model" is not a file$/],
    ['init image GIF', () => gen('--init-image', join(dir, 'anim.gif')), /^sd-webgpu: --init-image must be a PNG or JPEG file \(got ".*anim\.gif": GIF data\)$/],
    ['init image text', () => gen('--init-image', join(dir, 'notes.txt')),
      /^sd-webgpu: --init-image must be a PNG or JPEG file \(got ".*notes\.txt": unrecognised data starting with 68 65 6c 6c 6f\)$/],
    ['output not .png', () => genTo(join(dir, 'out.jpg')), /^sd-webgpu: --output must be a file name ending in \.png \(got ".*out\.jpg"\)$/],
    ['output just an extension', () => genTo('.png'), 'sd-webgpu: --output must be a file name ending in .png (got ".png")'],
    ['output folder missing', () => genTo(join(dir, 'no/such/out.png')), /^sd-webgpu: --output folder ".*no\/such" does not exist$/],
    ['output is a folder', () => { mkdirSync(join(dir, 'd.png'), { recursive: true }); return genTo(join(dir, 'd.png')); },
      /^sd-webgpu: --output ".*d\.png" is a folder$/],
  ];

  it.each(cases)('%s', (_label, argv, expected) => {
    const line = usage(argv());
    expect(line).not.toContain('\n');
    if (typeof expected === 'string') expect(line).toBe(expected);
    else expect(line).toMatch(expected);
  });

  it('reports a missing demo model setup', () => {
    expect(usage(['generate', '--prompt', 'x'], {})).toBe(
      'sd-webgpu: --model is required (the bundled demo model is located through SD_WEBGPU_ROOT, which is not set)',
    );
    expect(usage(['generate', '--prompt', 'x'], { SD_WEBGPU_ROOT: dir })).toMatch(/--model not given and the bundled demo model ".*tiny-sd" is missing/);
  });

  it('runCli prints the line to stderr, exits 2 and never loads a model', async () => {
    let out = '';
    let errText = '';
    let loads = 0;
    const code = await runCli(gen('--steps', 'abc'), env, { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (errText += s) } }, async () => {
      loads++;
      throw new Error('must not load');
    });
    expect(code).toBe(EXIT.usage);
    expect(errText).toBe('sd-webgpu: --steps must be an integer in 1..1000 (got "abc")\n');
    expect(out).toBe('');
    expect(loads).toBe(0);
  });
});

describe('img2imgSize', () => {
  const base = () => {
    const cmd = parseArgs(gen('--init-image', png), env);
    if (cmd.kind !== 'generate') throw new Error('expected generate');
    return cmd.args;
  };
  const image = (width: number, height: number) => ({ width, height, data: new Uint8Array(width * height * 4) });

  it('rounds the image size down to multiples of 8 unless --width/--height are given', () => {
    expect(img2imgSize(base(), image(100, 75))).toEqual({ width: 96, height: 72 });
    expect(img2imgSize({ ...base(), width: 512 }, image(100, 75))).toEqual({ width: 512, height: 72 });
  });

  it('rejects an image whose size falls outside 8..2048 when no size is given', () => {
    expect(() => img2imgSize(base(), image(6, 300))).toThrow(
      '--init-image is 6x300, so the output width would be 0, outside 8..2048 (pass --width)',
    );
    expect(img2imgSize(base(), image(40, 300))).toEqual({ width: 40, height: 296 });
    expect(() => img2imgSize(base(), image(100, 3000))).toThrow(/output height would be 3000/);
    expect(img2imgSize({ ...base(), width: 64, height: 64 }, image(40, 3000))).toEqual({ width: 64, height: 64 });
  });
});
