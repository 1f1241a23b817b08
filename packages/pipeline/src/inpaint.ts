import { ParameterError, type Tensor } from '@sd-webgpu/tensor';
import { concat, linearCombination, mul, scale } from '@sd-webgpu/kernels';
import type { DenoiseOptions } from './denoise.js';
import { rgbaToTensorData } from './image/tensor.js';
import { binarizeMask, latentMask, maskPixels, repeatMask } from './inpaint_mask.js';
import type { ResolvedOptions, RgbaImage } from './options.js';
import type { TorchGenerator } from './rng/index.js';
import type { Scheduler } from './schedulers/index.js';
import type { StableDiffusion } from './stable_diffusion.js';

export interface InpaintPlan {
  /** Start latents `[n, C, h, w]` (owned by whoever runs the loop). */
  latents: Tensor;
  hooks: Pick<DenoiseOptions, 'modelInput' | 'afterStep'>;
  /** Tensors the hooks read; dispose after the loop. */
  owned: Tensor[];
}

/** `x` repeated `n` times along the batch (a new tensor; x untouched). */
function rows(x: Tensor, n: number): Tensor {
  return concat(Array(n).fill(x), 0);
}

/**
 * diffusers 0.27.2 `StableDiffusionInpaintPipeline` up to the loop: start latents, and the per-step hooks for the
 * UNet's kind. A 9-channel inpainting UNet gets `[scaled latents, mask, masked-image latents]` each step; an ordinary
 * 4-channel UNet gets, after each step, the original re-noised to the next timestep outside the mask
 * (`(1 − m)·add_noise(x0, noise, t_next) + m·latents`, the original itself after the last step).
 *
 * Generator draws, in diffusers' order: the init image's VAE sample (4-channel, or strength < 1), the start noise,
 * then the masked image's VAE sample (always: diffusers computes it even when a 4-channel UNet ignores it).
 */
export async function planInpaint(
  sd: StableDiffusion, o: ResolvedOptions, a: { image: RgbaImage; mask: RgbaImage; strength: number; tiling: boolean },
  sched: Scheduler<Tensor>, gen: TorchGenerator, timesteps: readonly number[],
): Promise<InpaintPlan> {
  const dev = sd.device;
  const C = sd.configs.vae.latentChannels;
  const unetIn = sd.configs.unet.inChannels;
  const nine = unetIn === 2 * C + 1;
  if (!nine && unetIn !== C) {
    throw new ParameterError('StableDiffusion.inpaint', 'model', `UNet has ${unetIn} input channels: neither ${C} (blend) nor ${2 * C + 1} (inpainting UNet)`);
  }
  const { width: W, height: H } = o;
  const [h, w] = [H / 8, W / 8];
  const n = o.numImages;
  const strengthMax = a.strength === 1;
  const tiling = a.tiling;
  const pixels = rgbaToTensorData(a.image);
  const bits = binarizeMask(a.mask);
  const owned: Tensor[] = [];
  const own = <T extends Tensor>(t: T): T => (owned.push(t), t);
  try {
    // 1. image latents (the blend needs them; a 9-channel run only to start from a partly noised image)
    let imageLatents: Tensor | null = null;
    if (!nine || !strengthMax) {
      const one = await sd.encodePixels(pixels, W, H, gen, tiling);
      imageLatents = own(n > 1 ? rows(one, n) : one);
      if (n > 1) one.dispose();
    }
    // 2. start noise; full noise at strength 1, else the image noised to the first timestep
    const noise = own(dev.tensor(gen.randn([n, C, h, w]), [n, C, h, w], sd.dtype));
    const latents = strengthMax ? scale(noise, sched.initNoiseSigma) : sched.addNoise(imageLatents!, noise, timesteps[0]!);
    // 3. masked-image latents (drawn in every case, as diffusers does)
    const masked = own(await sd.encodePixels(maskPixels(pixels, bits, W, H), W, H, gen, tiling));
    const m = latentMask(bits, W, H);
    if (nine) {
      const r = o.guidanceScale > 1 ? 2 * n : n;
      const maskRows = own(dev.tensor(repeatMask(m, r, 1), [r, 1, h, w], sd.dtype));
      const maskedRows = own(rows(masked, r));
      return { latents, owned, hooks: { modelInput: (scaled) => concat([scaled, maskRows, maskedRows], 1) } };
    }
    const keep = own(dev.tensor(repeatMask(m.map((v) => 1 - v), n, C), [n, C, h, w], sd.dtype));
    const repaint = own(dev.tensor(repeatMask(m, n, C), [n, C, h, w], sd.dtype));
    const x0 = imageLatents!;
    const afterStep: DenoiseOptions['afterStep'] = (x, step) => {
      const last = step.index === timesteps.length - 1;
      const proper = last ? x0 : sched.addNoise(x0, noise, timesteps[step.index + 1]!);
      try {
        // the mask is 0/1, so each product is exact and the sum picks one side exactly
        return linearCombination([[mul(keep, proper), 1], [mul(repaint, x), 1]]);
      } finally {
        if (proper !== x0) proper.dispose();
      }
    };
    return { latents, owned, hooks: { afterStep } };
  } catch (e) {
    for (const t of owned) t.dispose();
    throw e;
  }
}
