import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tensor } from '@sd-webgpu/tensor';
import { GenerationAbortedError, StableDiffusion, TorchGenerator, createScheduler, denoise, GpuLatentBackend } from '@sd-webgpu/pipeline';
import { testDevice } from '../helpers/device';
import { TINY_PATHS } from '../helpers/tiny';

let sd: StableDiffusion;
beforeAll(async () => {
  sd = await StableDiffusion.load(TINY_PATHS.folder, { device: await testDevice() });
});
afterAll(() => sd?.dispose());

/** The tiny UNet, counting calls and recording input shapes. */
function counting() {
  const calls: number[][] = [];
  return { calls, forward: (x: Tensor, t: number, ctx: Tensor) => (calls.push([...x.shape]), sd.unet.forward(x, t, ctx)) };
}

async function setup(guidanceScale: number) {
  const dev = sd.device;
  const sched = createScheduler('ddim', new GpuLatentBackend(dev), sd.configs.scheduler ?? undefined);
  sched.setTimesteps(3);
  const gen = new TorchGenerator(1);
  const latents = dev.tensor(gen.randn([1, 4, 8, 8]), [1, 4, 8, 8], sd.dtype);
  const context = await sd.encodePrompt('a cat', '', 1, guidanceScale > 1);
  return { device: dev, scheduler: sched, generator: gen, latents, context, timesteps: sched.timesteps, guidanceScale };
}

describe('the public denoising loop', () => {
  it('batches CFG rows, passes the scaled input through the model-input hook, and runs the post-step hook', async () => {
    const unet = counting();
    const o = await setup(7.5);
    const seen: number[] = [];
    const after: number[] = [];
    const out = await denoise({
      ...o, unet,
      modelInput: (x, s) => (seen.push(s.index), x),
      afterStep: (x, s) => (after.push(s.timestep), x),
    });
    expect(unet.calls).toEqual([[2, 4, 8, 8], [2, 4, 8, 8], [2, 4, 8, 8]]);
    expect(seen).toEqual([0, 1, 2]);
    expect(after).toEqual([...o.timesteps]);
    expect(out.shape).toEqual([1, 4, 8, 8]);
    out.dispose();
    o.context.dispose();
  });

  it('sleeps through most of the shortest previous wait before polling (Node\'s WebGPU busy-polls while it waits)', async () => {
    const unet = counting();
    const o = await setup(7.5);
    const dev = o.device;
    const sync = dev.sync;
    const idle: number[] = [];
    const waits: number[] = [];
    dev.sync = async (opts) => {
      idle.push(opts?.idleMs ?? -1);
      const t = performance.now();
      await sync.call(dev, opts);
      waits.push(performance.now() - t);
    };
    o.scheduler.setTimesteps(4);
    try {
      (await denoise({ ...o, timesteps: o.scheduler.timesteps, unet })).dispose();
    } finally {
      dev.sync = sync;
    }
    // the loop's own syncs, one per step (the first step's wait, which compiles, never counts)
    expect(idle.length).toBe(4);
    expect(idle.slice(0, 2)).toEqual([0, 0]);
    expect(idle[2]).toBeCloseTo(0.8 * waits[1]!, 0);
    expect(idle[3]).toBeCloseTo(0.8 * Math.min(waits[1]!, waits[2]!), 0);
    o.context.dispose();
  });

  it('does no GPU work for an already-aborted signal and frees what it was given', async () => {
    await sd.device.sync();
    const live = sd.device.pool.stats.liveBytes;
    const unet = counting();
    const o = await setup(1);
    const ctl = new AbortController();
    ctl.abort();
    await expect(denoise({ ...o, unet, signal: ctl.signal })).rejects.toBeInstanceOf(GenerationAbortedError);
    expect(unet.calls).toEqual([]);
    o.context.dispose();
    await sd.device.sync();
    expect(sd.device.pool.stats.liveBytes).toBe(live);
    await expect(sd.txt2img({ prompt: 'x', width: 64, height: 64, steps: 2, signal: ctl.signal })).rejects.toBeInstanceOf(GenerationAbortedError);
  });

  it('stops between steps on an abort without a progress callback (it yields to the event loop each step)', async () => {
    const unet = counting();
    const o = await setup(1);
    const ctl = new AbortController();
    // the abort lands from a macrotask: only a loop that yields between steps can see it before finishing
    const run = denoise({ ...o, unet, signal: ctl.signal });
    setTimeout(() => ctl.abort(), 0);
    await expect(run).rejects.toBeInstanceOf(GenerationAbortedError);
    expect(unet.calls.length).toBeLessThan(3);
    o.context.dispose();
  });
});
