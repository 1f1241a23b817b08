import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ParameterError } from '@sd-webgpu/tensor';
import { GenerationAbortedError, StableDiffusion } from '@sd-webgpu/pipeline';
import { testDevice } from '../helpers/device';
import { TINY_OVERRIDES, TINY_PATHS } from '../helpers/tiny';

let sd: StableDiffusion;
beforeAll(async () => {
  sd = await StableDiffusion.load(TINY_PATHS.folder, { device: await testDevice() });
});
afterAll(() => sd?.dispose());

const base = { prompt: 'van gogh', width: 64, height: 64, seed: 3, scheduler: 'ddim' as const };

describe('pipeline API', () => {
  it('reports progress after each step and stops between steps when aborted', async () => {
    const steps: number[] = [];
    await sd.txt2img({ ...base, steps: 3, onProgress: (p) => steps.push(p.step * 10 + p.totalSteps) });
    expect(steps).toEqual([13, 23, 33]);

    const ctl = new AbortController();
    const seen: number[] = [];
    const live = sd.device.pool.stats.liveBytes;
    await expect(sd.txt2img({
      ...base, steps: 5, signal: ctl.signal,
      onProgress: (p) => {
        seen.push(p.step);
        if (p.step === 2) ctl.abort();
      },
    })).rejects.toBeInstanceOf(GenerationAbortedError);
    expect(seen).toEqual([1, 2]);
    await sd.device.sync();
    expect(sd.device.pool.stats.liveBytes).toBe(live); // nothing leaked by the aborted run
  });

  it('rejects invalid options with a ParameterError naming the option', async () => {
    const bad: [object, RegExp][] = [
      [{ width: 100 }, /width.*multiple of 8.*nearest valid: 96 or 104/],
      [{ height: 4 }, /height.*8\.\.2048.*nearest valid: 8/],
      [{ steps: 0 }, /steps.*1\.\.1000/],
      [{ guidanceScale: -1 }, /guidanceScale/],
      [{ scheduler: 'heun' }, /scheduler.*one of/],
      [{ seed: -5 }, /seed/],
      [{ numImages: 0 }, /numImages/],
    ];
    for (const [opts, msg] of bad) {
      const p = sd.txt2img({ ...base, ...opts } as never);
      await expect(p, JSON.stringify(opts)).rejects.toBeInstanceOf(ParameterError);
      await expect(sd.txt2img({ ...base, ...opts } as never)).rejects.toThrow(msg);
    }
    const image = { width: 64, height: 64, data: new Uint8ClampedArray(64 * 64 * 4) };
    await expect(sd.img2img({ ...base, image, strength: 1.5 })).rejects.toThrow(/strength.*\(0, 1\]/);
    await expect(sd.img2img({ ...base, image, steps: 4, strength: 0.1 })).rejects.toThrow(/no denoising step/);
    await expect(sd.img2img({ ...base, image: { width: 64, height: 64, data: new Uint8Array(10) } })).rejects.toBeInstanceOf(ParameterError);
  });

  it('makes several images per prompt in one batch, reproducibly per seed', async () => {
    const a = await sd.txt2img({ ...base, steps: 2, numImages: 2, guidanceScale: 5 });
    const b = await sd.txt2img({ ...base, steps: 2, numImages: 2, guidanceScale: 5 });
    expect(a).toHaveLength(2);
    expect(Buffer.from(a[0]!.data).equals(Buffer.from(a[1]!.data))).toBe(false);
    expect(Buffer.from(a[1]!.data).equals(Buffer.from(b[1]!.data))).toBe(true);
    expect(a[0]!.params).toMatchObject({ prompt: 'van gogh', steps: 2, guidanceScale: 5, seed: 3, scheduler: 'ddim', width: 64, height: 64 });
  });

  it('gives the same image from the single-file checkpoint as from the folder', async () => {
    // A single file carries no scheduler config (the SD 1.5 preset applies, where sigma schedulers space timesteps
    // 'linspace'); the folder's says 'leading'. Give the single file the folder's so every scheduler compares.
    const scheduler = JSON.parse(readFileSync(`${TINY_PATHS.folder}/scheduler/scheduler_config.json`, 'utf8'));
    const single = await StableDiffusion.load(TINY_PATHS.single, { device: sd.device, configs: { ...TINY_OVERRIDES, scheduler } });
    try {
      for (const name of ['pndm', 'dpmpp_2m_karras', 'euler', 'lms'] as const) {
        const [x] = await sd.txt2img({ ...base, steps: 4, scheduler: name });
        const [y] = await single.txt2img({ ...base, steps: 4, scheduler: name });
        expect(Buffer.from(x!.data).equals(Buffer.from(y!.data)), name).toBe(true);
      }
    } finally {
      single.dispose();
    }
  });

  it('frees everything it uploaded when a checkpoint does not fit its config', async () => {
    await sd.device.sync();
    const live = sd.device.pool.stats.liveBytes;
    // a wrong head count is invisible to shapes; a wrong width is not: the UNet's cross-attention weights disagree
    const configs = { ...TINY_OVERRIDES, unet: { crossAttentionDim: 32 } };
    await expect(StableDiffusion.load(TINY_PATHS.single, { device: sd.device, configs })).rejects.toThrow(/attn2\.to_k\.weight/);
    await sd.device.sync();
    expect(sd.device.pool.stats.liveBytes).toBe(live);
  });
});
