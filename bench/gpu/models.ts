/**
 * The model part of the GPU benchmark: SD 1.5 on random weights (the real shapes and memory) per dtype: one UNet CFG
 * evaluation (batch 2, 64x64 latent), the text encoder (2 x 77 tokens), a VAE decode to 512², and a 20-step 512²
 * txt2img (DDIM, CFG) end to end, each with the pool's peak live bytes. `quick`: the tiny fixture model's txt2img
 * (64², 2 steps) instead, so that the whole path runs in seconds on lavapipe.
 */
import { resolve } from 'node:path';
import type { Device } from '@sd-webgpu/tensor';
import { RandomStore, sd15 } from '@sd-webgpu/models';
import { StableDiffusion } from '@sd-webgpu/pipeline';
import { benchCases } from '../harness';

export interface ModelResult {
  name: string;
  dtype: 'f32' | 'f16';
  ms: number;
  peakPoolBytes: number;
}

async function txt2img(sd: StableDiffusion, size: number, steps: number): Promise<void> {
  await sd.txt2img({ prompt: 'a photograph of an astronaut riding a horse', steps, seed: 42, scheduler: 'ddim', width: size, height: size });
}

async function timed(device: Device, name: string, dtype: 'f32' | 'f16', fn: () => Promise<void>): Promise<ModelResult> {
  device.pool.resetPeak();
  const t = performance.now();
  await fn();
  await device.sync();
  const r = { name, dtype, ms: performance.now() - t, peakPoolBytes: device.pool.stats.peakLiveBytes };
  console.log(`${name.padEnd(58)} ${r.ms.toFixed(1).padStart(9)} ms  peak ${(r.peakPoolBytes / 2 ** 20).toFixed(0)} MiB`);
  return r;
}

export async function benchModels(device: Device, dtypes: ('f32' | 'f16')[], quick: boolean): Promise<ModelResult[]> {
  const out: ModelResult[] = [];
  if (quick) {
    const sd = await StableDiffusion.load(resolve('test/fixtures/models/tiny-sd'), { device });
    try {
      await txt2img(sd, 64, 1); // compiles the pipelines
      out.push(await timed(device, 'txt2img tiny-sd fixture 64² 2 steps', sd.dtype, () => txt2img(sd, 64, 2)));
    } finally {
      sd.dispose();
    }
    return out;
  }
  for (const dtype of dtypes) {
    const stores = { textEncoder: new RandomStore(device, 1, dtype), unet: new RandomStore(device, 2, dtype), vae: new RandomStore(device, 3, dtype) };
    const sd = await StableDiffusion.fromWeights({ device, configs: { ...sd15(), scheduler: null }, stores });
    try {
      await device.sync();
      const rand = (n: number) => Float32Array.from({ length: n }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
      const u = sd.configs.unet;
      const sample = device.tensor(rand(2 * u.inChannels * 64 * 64), [2, u.inChannels, 64, 64], dtype);
      const context = device.tensor(rand(2 * 77 * u.crossAttentionDim), [2, 77, u.crossAttentionDim], dtype);
      const ids = device.tensor(new Int32Array(2 * 77).map((_, i) => (i * 7919) % sd.configs.textEncoder.vocabSize), [2, 77], 'i32');
      const z = device.tensor(rand(4 * 64 * 64), [1, 4, 64, 64], dtype);
      const cases = [
        { name: `unet sd15 CFG 2x4x64² ${dtype}`, run: () => void sd.unet.forward(sample, 981, context) },
        { name: `text encoder sd15 2x77 ${dtype}`, run: () => void sd.textEncoder.forward(ids) },
        { name: `vae decode sd15 64² -> 512² ${dtype}`, run: () => void sd.vae.decode(z) },
      ];
      for (const c of cases) {
        const [r] = await benchCases(device, [c], { warmup: 1, iters: 3 });
        out.push({ name: c.name, dtype, ms: r!.ms, peakPoolBytes: r!.peakPoolBytes });
      }
      for (const t of [sample, context, ids, z]) t.dispose();
      await txt2img(sd, 512, 1); // warm-up: compiles every pipeline of the loop
      out.push(await timed(device, `txt2img sd15 512² 20 steps ${dtype}`, dtype, () => txt2img(sd, 512, 20)));
    } finally {
      sd.dispose();
    }
  }
  return out;
}
