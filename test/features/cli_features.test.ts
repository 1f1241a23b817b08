import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageError, parseArgs } from '../../packages/pipeline/src/cli/args';
import { runCli } from '../../packages/pipeline/src/cli/generate';
import { decodeImage } from '../../packages/pipeline/src/image/node_io';
import { fixturePath } from '../helpers/fixtures';

const dir = fs.mkdtempSync(join(tmpdir(), 'sd-cli-feat-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const MODEL = fixturePath('models/tiny-sd');
const F = (rel: string) => fixturePath(`features/${rel}`);
const gen = (...a: string[]) => ['generate', '--model', MODEL, '--prompt', 'x', '--output', join(dir, 'o.png'), ...a];
const parse = (...a: string[]) => {
  const c = parseArgs(gen(...a));
  if (c.kind !== 'generate') throw new Error('help');
  return c.args;
};

describe('CLI feature flags', () => {
  it('parses repeatable --lora FILE[:SCALE] and --embedding FILE[:TOKEN], and the other feature flags', () => {
    const a = parse(
      '--lora', F('lora/tiny_kohya.safetensors:0.8'), '--lora', F('lora/tiny_diffusers.safetensors'),
      '--embedding', F('textual_inversion/style_a1111.safetensors:<style>'), '--embedding', F('textual_inversion/cat-toy/learned_embeds.safetensors'),
      '--clip-skip', '2', '--prediction-type', 'v_prediction', '--taesd', F('models/tiny-taesd'), '--vae', 'taesd',
      '--preview', join(dir, 'p.png'), '--preview-every', '2', '--scheduler', 'lcm',
    );
    expect(a.loras).toEqual([{ path: F('lora/tiny_kohya.safetensors'), scale: 0.8 }, { path: F('lora/tiny_diffusers.safetensors'), scale: 1 }]);
    expect(a.embeddings).toEqual([
      { path: F('textual_inversion/style_a1111.safetensors'), token: '<style>' }, { path: F('textual_inversion/cat-toy/learned_embeds.safetensors') },
    ]);
    expect(a).toMatchObject({ clipSkip: 2, predictionType: 'v_prediction', vae: 'taesd', previewEvery: 2, scheduler: 'lcm' });
  });

  it('rejects bad feature flags before loading anything', () => {
    const bad: [string[], RegExp][] = [
      [['--mask', F('inpaint/inpaint_mask_64x64.png')], /--mask requires --init-image/],
      [['--lora', F('lora/tiny_kohya.safetensors:lots')], /--lora scale must be a number/],
      [['--lora', join(dir, 'nope.safetensors')], /does not exist/],
      [['--vae', 'taesd'], /--vae taesd needs --taesd/],
      [['--preview', join(dir, 'p.png')], /--preview needs --taesd/],
      [['--preview-every', '3'], /--preview-every needs --preview/],
      [['--prediction-type', 'sample'], /epsilon or v_prediction/],
      [['--clip-skip', '0'], /--clip-skip/],
      [['--prompt', 'y'], /given more than once/],
    ];
    for (const [args, msg] of bad) expect(() => parse(...args), args.join(' ')).toThrow(UsageError), expect(() => parse(...args)).toThrow(msg);
  });

  it('inpaints with a LoRA and writes a TAESD preview during the run (tiny models, real pipeline)', async () => {
    const out = join(dir, 'inpaint.png');
    const preview = join(dir, 'preview.png');
    let stderr = '';
    const code = await runCli([
      'generate', '--model', MODEL, '--prompt', 'a red sports car', '--steps', '3', '--scheduler', 'ddim', '--seed', '1',
      '--init-image', F('inpaint/inpaint_input_64x64.png'), '--mask', F('inpaint/inpaint_mask_64x64.png'),
      '--lora', F('lora/tiny_kohya.safetensors:0.8'), '--taesd', F('models/tiny-taesd'), '--preview', preview, '--preview-every', '2',
      '--output', out,
    ], {}, { stdout: { write: () => true }, stderr: { write: (s: string) => (stderr += s), isTTY: false } });
    expect(code, stderr).toBe(0);
    const img = decodeImage(fs.readFileSync(out));
    const pre = decodeImage(fs.readFileSync(preview));
    expect([img.width, img.height, pre.width, pre.height]).toEqual([64, 64, 64, 64]);
    expect(fs.readFileSync(out).toString('latin1')).toContain('a red sports car'); // the parameters chunk
  });
});
