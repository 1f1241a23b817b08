import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdirSync } from 'node:fs';
import { StableDiffusion, type SchedulerName } from '@sd-webgpu/pipeline';
import { testDevice } from '../helpers/device';
import { expectClose, fixturePath, loadCase } from '../helpers/fixtures';

// The tiny random-weight SD 1.x model of the fixtures, loaded once from the diffusers folder.
let sd: StableDiffusion;
beforeAll(async () => {
  sd = await StableDiffusion.load(fixturePath('models/tiny-sd'), { device: await testDevice() });
});
afterAll(() => sd?.dispose());

const SCHEDULERS: Record<string, SchedulerName> = { ddim: 'ddim', pndm: 'pndm', euler_ancestral: 'euler_a' };

const cases = readdirSync(fixturePath('pipeline')).filter((f) => f.endsWith('.safetensors')).map((f) => f.replace(/\.safetensors$/, ''));

describe('end-to-end pipeline vs diffusers (tiny model)', () => {
  for (const name of cases) {
    it(name, async () => {
      const c = await loadCase(`pipeline/${name}`);
      const a = c.attrs as Record<string, unknown>;
      const common = {
        prompt: a.prompt as string,
        negativePrompt: (a.negative_prompt as string | undefined) ?? '',
        steps: a.steps as number,
        guidanceScale: a.guidance as number,
        seed: a.seed as number,
        scheduler: SCHEDULERS[a.scheduler as string]!,
        width: a.width as number,
        height: a.height as number,
        returnLatents: true,
      };
      let img;
      if (a.mode === 'txt2img') {
        [img] = await sd.txt2img(common);
      } else {
        const hwc = c.inputs.image_u8_hwc!;
        const [h, w] = hwc.shape as [number, number, number];
        const rgb = hwc.toNumbers();
        const rgba = new Uint8ClampedArray(w * h * 4);
        for (let p = 0; p < w * h; p++) {
          rgba.set([rgb[3 * p]!, rgb[3 * p + 1]!, rgb[3 * p + 2]!, 255], 4 * p);
        }
        [img] = await sd.img2img({ ...common, image: { width: w, height: h, data: rgba }, strength: a.strength as number });
      }
      // README: pipeline final latents 5e-4 (a float64 run of the same loop lands up to 1.3e-4 away)
      expectClose(img!.latents!, c.outputs.final_latents!.data as Float32Array, { atol: 5e-4, rtol: 0 }, `${name} final latents`);
      // README: the PNG within 1 level per channel on ≥ 99.9 % of pixels (the f64 run differs on ≤ 3 pixels)
      const ref = c.outputs.image_u8_hwc!.toNumbers();
      const px = img!.width * img!.height;
      let off = 0;
      let worst = 0;
      for (let p = 0; p < px; p++) {
        let d = 0;
        for (let ch = 0; ch < 3; ch++) d = Math.max(d, Math.abs(img!.data[4 * p + ch]! - ref[3 * p + ch]!));
        worst = Math.max(worst, d);
        if (d > 1) off++;
      }
      expect(off / px, `${off} pixels differ by more than 1 level (worst ${worst})`).toBeLessThanOrEqual(0.001);
    });
  }
});
