import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mapOriginalCheckpoint, openSafetensors, serializeSafetensors, type TensorToWrite } from '@sd-webgpu/models';
import { ParameterError } from '@sd-webgpu/tensor';
import { StableDiffusion, binarizeMask, latentMask, type GeneratedImage, type RgbaImage } from '@sd-webgpu/pipeline';
import { decodeImage } from '@sd-webgpu/pipeline/node';
import { testDevice } from '../helpers/device';
import { type FixtureCase, expectClose, fixturePath, loadCase } from '../helpers/fixtures';
import { TINY_OVERRIDES, TINY_PATHS } from '../helpers/tiny';

const INPAINT_FOLDER = fixturePath('features/models/tiny-sd-inpaint');
const png = (rel: string): RgbaImage => decodeImage(readFileSync(fixturePath(rel)));

let plain: StableDiffusion;
let nine: StableDiffusion;
beforeAll(async () => {
  const device = await testDevice();
  plain = await StableDiffusion.load(TINY_PATHS.folder, { device });
  nine = await StableDiffusion.load(INPAINT_FOLDER, { device });
});
afterAll(() => {
  plain?.dispose();
  nine?.dispose();
});

async function run(sd: StableDiffusion, c: FixtureCase): Promise<GeneratedImage> {
  const a = c.attrs;
  const [img] = await sd.inpaint({
    prompt: a.prompt, negativePrompt: a.negative_prompt, steps: a.steps, guidanceScale: a.guidance, seed: a.seed,
    scheduler: 'ddim', strength: a.strength, image: png('features/inpaint/inpaint_input_64x64.png'),
    mask: png('features/inpaint/inpaint_mask_64x64.png'), returnLatents: true,
  });
  return img!;
}

function expectPipelineMatch(img: GeneratedImage, c: FixtureCase): void {
  // README 11: inpaint pipeline final latents 5e-4; PNG ≤ 1 level on ≤ 0.5 % of pixels
  expectClose(img.latents!, c.outputs.final_latents!.data as Float32Array, { atol: 5e-4, rtol: 0 }, `${c.name} final latents`);
  const ref = c.outputs.image_u8_hwc!.toNumbers();
  let off = 0;
  let worst = 0;
  for (let p = 0; p < img.width * img.height; p++) {
    let d = 0;
    for (let ch = 0; ch < 3; ch++) d = Math.max(d, Math.abs(img.data[4 * p + ch]! - ref[3 * p + ch]!));
    worst = Math.max(worst, d);
    if (d > 1) off++;
  }
  expect(worst, 'no pixel more than a few levels off').toBeLessThanOrEqual(2);
  expect(off / (img.width * img.height)).toBeLessThanOrEqual(0.005);
}

describe('inpainting (diffusers StableDiffusionInpaintPipeline)', () => {
  it('mask rules: binarise at 0.5 (127 keeps, 128 repaints), nearest top-left sampling at latent size', async () => {
    const c = await loadCase('features/inpaint/inpaint9_ddim_10steps_g7.5_seed42');
    const bits = binarizeMask(png('features/inpaint/inpaint_mask_64x64.png'));
    expect(Array.from(bits)).toEqual(c.outputs.mask_condition!.toNumbers());
    expect(Array.from(latentMask(bits, 64, 64))).toEqual(c.outputs.mask_latent!.toNumbers());
  });

  it('9-channel inpainting UNet (mask and masked-image latents concatenated each step), strength 1', async () => {
    const c = await loadCase('features/inpaint/inpaint9_ddim_10steps_g7.5_seed42');
    expect(nine.configs.unet.inChannels).toBe(9);
    expectPipelineMatch(await run(nine, c), c);
  });

  it('4-channel UNet (the noised original blended back outside the mask each step), strength 0.75', async () => {
    const c = await loadCase('features/inpaint/inpaint4_ddim_10steps_g7.5_seed42_s0.75');
    expectPipelineMatch(await run(plain, c), c);
  });

  it('an inpainting single file is recognised by its 9-channel conv_in and gives the folder\'s result', async () => {
    // the tiny single file with its UNet replaced by the inpainting UNet, keys mapped back to the original layout
    const single = await openSafetensors(TINY_PATHS.single);
    const inpaintUnet = await openSafetensors(join(INPAINT_FOLDER, 'unet/diffusion_pytorch_model.safetensors'));
    const dir = mkdtempSync(join(tmpdir(), 'sd-inpaint-'));
    try {
      const map = mapOriginalCheckpoint(single.keys().map((k) => [k, single.info(k).shape] as const), TINY_PATHS.single);
      const out: Record<string, TensorToWrite> = {};
      for (const k of single.keys()) out[k] = { dtype: single.info(k).dtype, shape: single.info(k).shape, data: await single.readRaw(k) };
      for (const [key, m] of map.components.unet) {
        out[m.fileKey] = { dtype: inpaintUnet.info(key).dtype, shape: inpaintUnet.info(key).shape, data: await inpaintUnet.readRaw(key) };
      }
      const file = join(dir, 'tiny-inpaint.safetensors');
      writeFileSync(file, serializeSafetensors(out));
      const scheduler = JSON.parse(readFileSync(join(TINY_PATHS.folder, 'scheduler/scheduler_config.json'), 'utf8'));
      const sd = await StableDiffusion.load(file, { device: nine.device, configs: { ...TINY_OVERRIDES, scheduler } });
      try {
        expect(sd.configs.unet.inChannels).toBe(9);
        const c = await loadCase('features/inpaint/inpaint9_ddim_10steps_g7.5_seed42');
        expectPipelineMatch(await run(sd, c), c);
      } finally {
        sd.dispose();
      }
    } finally {
      await single.close();
      await inpaintUnet.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('checks the mask before any GPU work', async () => {
    const image = { width: 64, height: 64, data: new Uint8ClampedArray(64 * 64 * 4) };
    await expect(nine.inpaint({ prompt: 'x', image, mask: { width: 64, height: 64, data: new Uint8Array(3) } })).rejects.toBeInstanceOf(ParameterError);
  });
});
