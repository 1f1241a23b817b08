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
