/**
 * The model part of the GPU benchmark: SD 1.5 on random weights (the real shapes and memory) per dtype: one UNet CFG
 * evaluation (batch 2, 64x64 latent), the text encoder (2 x 77 tokens), a VAE decode to 512², and a 20-step 512²
 * txt2img (DDIM, CFG) end to end, each with the pool's peak live bytes. The UNet evaluation is also timed replayed from
 * its dispatch graph (what the denoising loop does from its second step), and the host time per dispatch of recording
 * it both ways (no submit inside: what a fast GPU waits for). `quick`: the tiny fixture model's txt2img (64², 2 steps)
 * and its UNet's host figures instead, so that the whole path runs in seconds on lavapipe.
 */
import { resolve } from 'node:path';
import type { Device, Tensor } from '@sd-webgpu/tensor';
import { RandomStore, sd15 } from '@sd-webgpu/models';
import { StableDiffusion } from '@sd-webgpu/pipeline';
import { benchCases, median } from '../harness';

export interface ModelResult {
  name: string;
  dtype: 'f32' | 'f16';
  ms: number;
  /** Wall time (host recording + GPU + wait), where it differs from `ms` (GPU timestamps). */
  msWall?: number;
  peakPoolBytes: number;
  /** Host rows: µs of host time per dispatch of recording (no submit inside). */
  hostUsPerDispatch?: number;
}

/**
 * Host time per dispatch of recording `fn` (median of 5, each recorded without a submit inside, then run): the UNet
 * through the op layer and replayed from its graph.
 */
async function hostCost(device: Device, name: string, dtype: 'f32' | 'f16', fn: () => Tensor): Promise<ModelResult> {
  const per: number[] = [];
  for (let i = 0; i < 6; i++) {
    const d0 = device.dispatchCount;
    const t = performance.now();
    device.scope(() => void fn());
    const us = ((performance.now() - t) * 1000) / (device.dispatchCount - d0);
    await device.sync();
    if (i) per.push(us); // the first settles the pool and caches
  }
  const hostUsPerDispatch = median(per);
  console.log(`${name.padEnd(58)} ${hostUsPerDispatch.toFixed(2).padStart(9)} µs per dispatch (host, recording only)`);
  return { name, dtype, ms: 0, peakPoolBytes: 0, hostUsPerDispatch };
}

/** The UNet's host cost per dispatch, through the op layer and replayed from its dispatch graph. */
async function unetHostCost(sd: StableDiffusion, size: number, label: string): Promise<ModelResult[]> {
  const device = sd.device;
  const u = sd.configs.unet;
  const rand = (n: number) => Float32Array.from({ length: n }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
  const sample = device.tensor(rand(2 * u.inChannels * size * size), [2, u.inChannels, size, size], sd.dtype);
  const context = device.tensor(rand(2 * 77 * u.crossAttentionDim), [2, 77, u.crossAttentionDim], sd.dtype);
  const graph = sd.unet.replayable();
  try {
    return [
      await hostCost(device, `host: unet ${label} forward`, sd.dtype, () => sd.unet.forward(sample, 981, context)),
      await hostCost(device, `host: unet ${label} replayed`, sd.dtype, () => graph.forward(sample, 981, context)),
    ];
  } finally {
    graph.dispose();
    sample.dispose();
    context.dispose();
  }
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
      out.push(...await unetHostCost(sd, 8, 'tiny-sd CFG 2x4x8²'));
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
      const graph = sd.unet.replayable();
      const cases = [
        { name: `unet sd15 CFG 2x4x64² ${dtype}`, run: () => void sd.unet.forward(sample, 981, context) },
        { name: `unet sd15 CFG 2x4x64² replayed ${dtype}`, run: () => void graph.forward(sample, 981, context) },
        { name: `text encoder sd15 2x77 ${dtype}`, run: () => void sd.textEncoder.forward(ids) },
        { name: `vae decode sd15 64² -> 512² ${dtype}`, run: () => void sd.vae.decode(z) },
      ];
      for (const c of cases) {
        const [r] = await benchCases(device, [c], { warmup: 1, iters: 3 });
        out.push({ name: c.name, dtype, ms: r!.ms, msWall: r!.msWall, peakPoolBytes: r!.peakPoolBytes });
      }
      graph.dispose();
      for (const t of [sample, context, ids, z]) t.dispose();
      out.push(...await unetHostCost(sd, 64, `sd15 CFG 2x4x64² ${dtype}`));
      await txt2img(sd, 512, 1); // warm-up: compiles every pipeline of the loop
      out.push(await timed(device, `txt2img sd15 512² 20 steps ${dtype}`, dtype, () => txt2img(sd, 512, 20)));
    } finally {
      sd.dispose();
    }
  }
  return out;
}
