/**
 * The demo page's plain parts, without a browser: step timing (it/s, ETA), the form's checks, the memory estimate
 * from safetensors headers, and what a typed model URL becomes.
 */
import { openAsBlob } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ParameterError } from '@sd-webgpu/tensor';
import { readGuidance, readInt, readSeed, readSide, readStrength } from '../../examples/browser/form';
import { countWeights, estimateMemory } from '../../examples/browser/memory';
import { urlSource } from '../../examples/browser/model_source';
import { StepClock, formatDuration, stepStatus } from '../../examples/browser/progress';

const TINY = join(resolve(import.meta.dirname, '../..'), 'test/fixtures/models/tiny-sd');

describe('step timing', () => {
  it('counts the first step (shader compilation) alone, then the rate of the later steps', () => {
    const clock = new StepClock(0);
    // first step: 10 s (compiling), then 0.5 s per step
    expect(clock.step(1, 5, 10_000)).toEqual({ itPerSec: 0.1, etaSeconds: 40 });
    const t = clock.step(3, 5, 11_000);
    expect(t.itPerSec).toBeCloseTo(2, 10);
    expect(t.etaSeconds).toBeCloseTo(1, 10);
    expect(stepStatus(3, 5, t)).toBe('step 3/5, 2.00 it/s, ETA 1s');
    expect(stepStatus(1, 5, { itPerSec: 0.25, etaSeconds: 16 })).toBe('step 1/5, 4.00 s/it, ETA 16s');
  });

  it('formats durations', () => {
    expect([formatDuration(0.4), formatDuration(59.6), formatDuration(65), formatDuration(3725)]).toEqual(['0s', '1m 00s', '1m 05s', '1h 02m']);
  });
});

describe('form checks', () => {
  it('accepts what the library accepts and names the field otherwise', () => {
    expect([readInt('20', 'steps', 1, 1000), readSeed(''), readSeed('7'), readGuidance('0'), readStrength('1')]).toEqual([20, undefined, 7, 0, 1]);
    expect([readSide('', 'width'), readSide('512', 'height')]).toEqual([undefined, 512]);
    expect(() => readSide('100', 'width')).toThrow("page: parameter 'width' must be a multiple of 8 (got '100')");
    expect(() => readSide('4096', 'height')).toThrow(/'height' must be an integer in 64\.\.2048/);
    expect(() => readStrength('0')).toThrow(ParameterError);
    expect(() => readGuidance('-1')).toThrow(/CFG scale/);
    expect(() => readInt('2.5', 'steps', 1, 1000)).toThrow(/'steps'/);
  });
});

describe('memory estimate', () => {
  it('counts the float parameters of the picked files from their headers', async () => {
    const files = await Promise.all(['text_encoder/model.safetensors', 'unet/diffusion_pytorch_model.safetensors', 'vae/diffusion_pytorch_model.safetensors']
      .map((f) => openAsBlob(join(TINY, f))));
    const { elements, bytes } = await countWeights(files);
    expect(elements).toBeGreaterThan(100_000);
    // tiny-sd mixes f32 and f16 tensors; the data is the files less their headers
    expect(bytes).toBeGreaterThanOrEqual(elements * 2);
    expect(bytes).toBeLessThanOrEqual(elements * 4);
    const fileBytes = files.reduce((n, f) => n + f.size, 0);
    expect(bytes).toBeLessThan(fileBytes);
    expect(bytes).toBeGreaterThan(fileBytes - 3 * 100_000);
  });

  it('is weights at the chosen dtype plus the measured decode peak scaled to the size', () => {
    // SD 1.5: ~1.07 G parameters, i.e. ~4.0 GiB of f32 weights; the 512² f32 decode peak was measured at 707 MiB.
    const f32 = estimateMemory(1_066_000_000, 'f32', 512, 512);
    expect(f32.weightBytes).toBe(4_264_000_000);
    expect(f32.activationBytes).toBe(707 * 2 ** 20);
    const f16 = estimateMemory(1_066_000_000, 'f16', 256, 256);
    expect([f16.weightBytes, f16.activationBytes]).toEqual([2_132_000_000, Math.round((707 * 2 ** 20) / 8)]);
    expect(f16.totalBytes).toBe(f16.weightBytes + f16.activationBytes);
  });
});

describe('model URL', () => {
  const head = (present: string[]) => (async (u: URL | RequestInfo) =>
    new Response(null, { status: present.some((p) => String(u).endsWith(p)) ? 200 : 404 })) as typeof fetch;

  it('a .safetensors file is one URL source; a folder URL maps the standard diffusers files', async () => {
    const file = await urlSource(' models/sd15.safetensors ', 'http://127.0.0.1:8000/index.html', head([]));
    expect(String(file.source)).toBe('http://127.0.0.1:8000/models/sd15.safetensors');
    expect([file.label, file.weightBytes, file.hasTokenizer]).toEqual(['sd15.safetensors', null, false]);

    const folder = await urlSource('https://example.org/tiny-sd/', 'http://127.0.0.1/', head(['tokenizer/vocab.json', 'tokenizer/merges.txt']));
    expect(Object.keys(folder.source as Record<string, URL>).sort()).toEqual([
      'text_encoder/config.json', 'text_encoder/model.safetensors', 'tokenizer/merges.txt', 'tokenizer/vocab.json',
      'unet/config.json', 'unet/diffusion_pytorch_model.safetensors', 'vae/config.json', 'vae/diffusion_pytorch_model.safetensors',
    ]);
    expect(folder.hasTokenizer).toBe(true);
    expect(folder.weightFiles.map(String)).toContain('https://example.org/tiny-sd/unet/diffusion_pytorch_model.safetensors');
  });

  it('rejects what is not an http(s) .safetensors file or folder', async () => {
    await expect(urlSource('ftp://x/a.safetensors', 'http://127.0.0.1/')).rejects.toThrow("must be http(s) (got 'ftp:')");
    await expect(urlSource('http://x/model.ckpt', 'http://127.0.0.1/')).rejects.toThrow(/must name a \.safetensors file or a diffusers folder ending in \//);
  });
});
