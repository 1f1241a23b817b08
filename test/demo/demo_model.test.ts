/**
 * The bundled demo model (packages/demo-model): the engine reproduces the PyTorch modules that trained it
 * (tools/demo-model/nets.py, float64 reference of the exported weights), the original single-file export loads to the
 * same model as the diffusers folder. (Prompt adherence: ./adherence.test.ts, and `npm run eval:demo` in full.)
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { StableDiffusion } from '@sd-webgpu/pipeline';
import { testDevice } from '../helpers/device';
import { asFloat32, compare, loadCase } from '../helpers/fixtures';

const ROOT = resolve(import.meta.dirname, '../..');
const FOLDER = join(ROOT, 'packages/demo-model/model');
const SINGLE = join(ROOT, 'packages/demo-model/sd-webgpu-demo.safetensors');
const json = (rel: string) => JSON.parse(readFileSync(join(FOLDER, rel), 'utf8'));

/** What the single file cannot say (SD 1.x rules would give 32 UNet norm groups, CLIP heads hidden/64, 0.18215). */
const SINGLE_OVERRIDES = {
  unet: { normNumGroups: json('unet/config.json').norm_num_groups, sampleSize: json('unet/config.json').sample_size },
  textEncoder: { numAttentionHeads: json('text_encoder/config.json').num_attention_heads },
  vae: { scalingFactor: json('vae/config.json').scaling_factor },
  scheduler: json('scheduler/scheduler_config.json'),
};

describe('demo model', () => {
  it('text encoder, UNet and VAE decoder match the PyTorch modules that trained it', async () => {
    const device = await testDevice();
    const ref = await loadCase('demo-model/reference');
    const sd = await StableDiffusion.load(FOLDER, { device, dtype: 'f32' });
    try {
      const ids = device.tensor(Int32Array.from(asFloat32(ref.inputs.input_ids!)), ref.inputs.input_ids!.shape, 'i32');
      const ctx = sd.textEncoder.forward(ids);
      const hidden = compare(await ctx.data() as Float32Array, asFloat32(ref.outputs.last_hidden_state!), { atol: 1e-4, rtol: 1e-4 });
      expect(hidden.ok, `text encoder max |err| ${hidden.maxAbs}`).toBe(true);

      const latents = device.tensor(asFloat32(ref.inputs.latents!), ref.inputs.latents!.shape);
      const eps = sd.unet.forward(latents, 500, ctx);
      const e = compare(await eps.data() as Float32Array, asFloat32(ref.outputs.eps!), { atol: 1e-3, rtol: 1e-3 });
      expect(e.ok, `UNet max |err| ${e.maxAbs}`).toBe(true);

      const z = device.tensor(asFloat32(ref.inputs.latents!).map((v) => v / sd.configs.vae.scalingFactor), ref.inputs.latents!.shape);
      const image = sd.vae.decode(z);
      const im = compare(await image.data() as Float32Array, asFloat32(ref.outputs.image!), { atol: 1e-3, rtol: 1e-3 });
      expect(im.ok, `VAE decode max |err| ${im.maxAbs}`).toBe(true);
      for (const t of [ids, ctx, latents, eps, z, image]) t.dispose();
    } finally {
      sd.dispose();
    }
  });

  it('the original single file (with the overrides it cannot carry) gives the same image as the diffusers folder', { timeout: 300_000 }, async () => {
    const device = await testDevice();
    const opts = { prompt: 'a red circle on a blue background', steps: 4, seed: 3, scheduler: 'ddim' as const };
    const folder = await StableDiffusion.load(FOLDER, { device });
    const single = await StableDiffusion.load(SINGLE, { device, configs: SINGLE_OVERRIDES });
    try {
      const [a] = await folder.txt2img(opts);
      const [b] = await single.txt2img(opts);
      expect([b!.width, b!.height]).toEqual([64, 64]);
      const diff = compare(b!.data, a!.data, { atol: 1 });
      expect(diff.ok, `max |diff| ${diff.maxAbs}`).toBe(true);
    } finally {
      folder.dispose();
      single.dispose();
    }
  });
});
