import { describe, expect, it } from 'vitest';
import {
  LoraError, LoraMerge, type LoraSpec, type TensorToWrite, moduleShapes, openCheckpoint, openSafetensors, serializeSafetensors,
} from '@sd-webgpu/models';
import { StableDiffusion } from '@sd-webgpu/pipeline';
import { testDevice } from '../helpers/device';
import { type FixtureCase, expectClose, fixturePath, loadCase } from '../helpers/fixtures';
import { TINY_PATHS } from '../helpers/tiny';

const FILES = ['tiny_kohya', 'tiny_diffusers', 'tiny_diffusers_v027'] as const;
const lora = (f: string) => fixturePath(`features/lora/${f}.safetensors`);

/** The tiny model's UNet and text encoder with `specs` merged, as host arrays of the fixture's weight keys. */
async function mergedWeights(specs: LoraSpec[], c: FixtureCase): Promise<Record<string, Float32Array>> {
  const dev = await testDevice();
  const ckpt = await openCheckpoint(TINY_PATHS.folder);
  try {
    const modules = {
      unet: moduleShapes(await ckpt.componentShapes('unet')),
      text_encoder: moduleShapes(await ckpt.componentShapes('text_encoder')),
    };
    const merge = await LoraMerge.load(specs, modules);
    const out: Record<string, Float32Array> = {};
    for (const comp of ['unet', 'text_encoder'] as const) {
      const store = await ckpt.loadComponent(comp, dev, 'f32', { patch: merge.patch(comp) });
      for (const name of Object.keys(c.outputs).filter((k) => k.startsWith(`${comp}.`))) {
        const key = name.slice(comp.length + 1);
        out[name] = await store.take(key, c.outputs[name]!.shape).float32();
      }
      store.disposeAll();
    }
    return out;
  } finally {
    await ckpt.close();
  }
}

describe('LoRA merged at load', () => {
  for (const f of FILES) {
    it(`${f}: merged weights at scale 0.8 equal lora_merge_scale0.8`, async () => {
      const c = await loadCase('features/lora/lora_merge_scale0.8');
      const got = await mergedWeights([{ source: lora(f), scale: 0.8 }], c);
      expect(Object.keys(got)).toHaveLength(22);
      // README 11: merged weights 1e-6 abs (an f32 merge lands within 6e-8 of the f64 reference)
      for (const [k, v] of Object.entries(got)) expectClose(v, c.outputs[k]!.data as Float32Array, { atol: 1e-6 }, `${f} ${k}`);
    });
  }

  it('several LoRAs at once add up (kohya 0.5 + diffusers 0.3 = 0.8)', async () => {
    const c = await loadCase('features/lora/lora_merge_scale0.8');
    const got = await mergedWeights([{ source: lora('tiny_kohya'), scale: 0.5 }, { source: lora('tiny_diffusers'), scale: 0.3 }], c);
    for (const [k, v] of Object.entries(got)) expectClose(v, c.outputs[k]!.data as Float32Array, { atol: 2e-6 }, `sum ${k}`);
  });

  it('accounts strictly for the LoRA\'s own keys: unknown, unpaired and misfit keys are errors naming the key', async () => {
    const src = await openSafetensors(lora('tiny_kohya'));
    const base: Record<string, TensorToWrite> = {};
    for (const k of src.keys()) base[k] = { dtype: src.info(k).dtype, shape: src.info(k).shape, data: await src.readRaw(k) };
    await src.close();
    const ckpt = await openCheckpoint(TINY_PATHS.folder);
    const modules = {
      unet: moduleShapes(await ckpt.componentShapes('unet')),
      text_encoder: moduleShapes(await ckpt.componentShapes('text_encoder')),
    };
    await ckpt.close();
    const tryLoad = (tensors: Record<string, TensorToWrite>) => LoraMerge.load([{ source: serializeSafetensors(tensors), name: 'bad.safetensors' }], modules);
    const down = base['lora_unet_down_blocks_1_resnets_0_conv1.lora_down.weight']!;
    await expect(tryLoad({ ...base, 'lora_unet_down_blocks_9_resnets_0_conv1.lora_down.weight': down })).rejects.toThrow(/lora_unet_down_blocks_9_resnets_0_conv1\.lora_down\.weight.*names no module/);
    await expect(tryLoad({ ...base, 'lora_unet_conv_in.lora_down.weight': down })).rejects.toThrow(/lora_unet_conv_in\.lora_down\.weight.*no matching up/);
    await expect(tryLoad({ ...base, 'lora_unet_conv_in.hada_w1_a': down })).rejects.toBeInstanceOf(LoraError);
    const { ['lora_unet_down_blocks_1_resnets_0_conv1.lora_up.weight']: _, ...noUp } = base;
    await expect(tryLoad(noUp)).rejects.toThrow(/no matching up factor/);
    const wrong = { ...base, 'lora_unet_down_blocks_1_resnets_0_conv1.lora_up.weight': { dtype: 'F32' as const, shape: [32, 4, 1, 1], data: new Float32Array(128) } };
    await expect(tryLoad(wrong)).rejects.toThrow(/does not fit the weight \[64, 32, 3, 3\]/);
  });

  for (const lowMemory of [false, true]) it(`txt2img with a LoRA (kohya, scale 0.8) matches diffusers${lowMemory ? ' (lowMemory: merged again on reload, twice)' : ''}`, async () => {
    const c = await loadCase('features/lora/lora_txt2img_ddim_10steps_g7.5_seed42_scale0.8');
    const a = c.attrs;
    const sd = await StableDiffusion.load(TINY_PATHS.folder, { device: await testDevice(), lowMemory, loras: [{ source: lora('tiny_kohya'), scale: a.lora_scale }] });
    try {
      for (let run = 0; run < (lowMemory ? 2 : 1); run++) {
      const [img] = await sd.txt2img({
        prompt: a.prompt, negativePrompt: a.negative_prompt, steps: a.steps, guidanceScale: a.guidance, seed: a.seed,
        scheduler: 'ddim', width: a.width, height: a.height, returnLatents: true,
      });
      // README 11: pipeline final latents 5e-4 (without the LoRA they differ by up to 48)
      expectClose(img!.latents!, c.outputs.final_latents!.data as Float32Array, { atol: 5e-4 }, 'final latents');
      const ref = c.outputs.image_u8_hwc!.toNumbers();
      let off = 0;
      for (let p = 0; p < 64 * 64; p++) for (let ch = 0; ch < 3; ch++) if (Math.abs(img!.data[4 * p + ch]! - ref[3 * p + ch]!) > 1) off++;
      expect(off).toBeLessThanOrEqual(20);
      }
    } finally {
      sd.dispose();
    }
  });
});

