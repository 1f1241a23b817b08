import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AutoencoderTiny, disposeModule, loadTaesd } from '@sd-webgpu/models';
import { ConfigError } from '@sd-webgpu/models';
import { testDevice } from '../helpers/device';
import { expectClose, fixturePath, loadCase } from '../helpers/fixtures';

const DIR = fixturePath('features/models/tiny-taesd');
const WEIGHTS = `${DIR}/diffusion_pytorch_model.safetensors`;
const CONFIG = JSON.parse(readFileSync(`${DIR}/config.json`, 'utf8'));

let taesd: AutoencoderTiny;
beforeAll(async () => {
  taesd = await loadTaesd(WEIGHTS, await testDevice(), 'f32', CONFIG);
});
afterAll(() => taesd && disposeModule(taesd));

async function host(t: import('@sd-webgpu/tensor').Tensor): Promise<Float32Array> {
  try {
    return await t.float32();
  } finally {
    t.dispose();
  }
}

describe('TAESD (diffusers AutoencoderTiny)', () => {
  it('decodes latents 8x8 → image 64x64 (tanh clamp, no 1/0.18215, 2x − 1)', async () => {
    const c = await loadCase('features/taesd/taesd_decode_8x8');
    const dev = await testDevice();
    const z = dev.tensor(c.inputs.latents!.data as Float32Array, c.inputs.latents!.shape);
    const got = await host(taesd.decode(z));
    z.dispose();
    // README 11: taesd decode 1e-4 (f64 reference rounded to f32)
    expectClose(got, c.outputs.image!.data as Float32Array, { atol: 1e-4 }, 'taesd decode');
  });

  it('encodes image 64x64 → latents 8x8 ((x+1)/2, stride-2 convs padded on all sides, deterministic)', async () => {
    const c = await loadCase('features/taesd/taesd_encode_64x64');
    const dev = await testDevice();
    const x = dev.tensor(c.inputs.image!.data as Float32Array, c.inputs.image!.shape);
    const got = await host(taesd.encode(x));
    x.dispose();
    expectClose(got, c.outputs.latents!.data as Float32Array, { atol: 1e-4 }, 'taesd encode');
  });

  it('f16 within the README f16 tolerance', async () => {
    const dev = await testDevice();
    if (!dev.features.f16) return expect(dev.floatType('f16')).toBe('f32');
    const half = await loadTaesd(WEIGHTS, dev, 'f16', CONFIG);
    try {
      const c = await loadCase('features/taesd/taesd_decode_8x8');
      const z = dev.tensor(c.inputs.latents!.data as Float32Array, c.inputs.latents!.shape, 'f16');
      const got = await host(half.decode(z));
      z.dispose();
      expectClose(got, c.outputs.image!.data as Float32Array, { atol: 2e-2 }, 'taesd decode f16');
    } finally {
      disposeModule(half);
    }
  });

  it('rejects a config knob it does not implement', async () => {
    await expect(loadTaesd(WEIGHTS, await testDevice(), 'f32', { ...CONFIG, act_fn: 'silu' })).rejects.toBeInstanceOf(ConfigError);
  });
});

describe('TAESD in the pipeline: previews through onProgress and the final decoder', () => {
  it('previews every N steps (and the last), decoder taesd decodes the final latents, both need loadTaesd', async () => {
    const { StableDiffusion, tensorToRgba } = await import('@sd-webgpu/pipeline');
    const { TINY_PATHS } = await import('../helpers/tiny');
    const sd = await StableDiffusion.load(TINY_PATHS.folder, { device: await testDevice() });
    try {
      const base = { prompt: 'a cat', width: 64, height: 64, seed: 5, scheduler: 'ddim' as const, steps: 5, returnLatents: true };
      await expect(sd.txt2img({ ...base, previewEvery: 2 })).rejects.toThrow(/previewEvery.*loadTaesd/);
      await expect(sd.txt2img({ ...base, decoder: 'taesd' })).rejects.toThrow(/decoder.*loadTaesd/);
      await sd.loadTaesd(WEIGHTS, CONFIG);
      const seen: [number, number][] = [];
      const [img] = await sd.txt2img({
        ...base, previewEvery: 2, decoder: 'taesd',
        onProgress: (p) => p.preview && seen.push([p.step, p.preview.width * 1000 + p.preview.data.length / (4 * p.preview.width)]),
      });
      expect(seen).toEqual([[2, 64064], [4, 64064], [5, 64064]]);
      // the final image is TAESD's decode of the final latents
      const dev = sd.device;
      const z = dev.tensor(img!.latents!, [1, 4, 8, 8]);
      const want = tensorToRgba(await host(sd.taesd!.decode(z)), [1, 3, 64, 64], 0);
      z.dispose();
      expect(Buffer.from(img!.data).equals(Buffer.from(want))).toBe(true);
    } finally {
      sd.dispose();
    }
  });
});
