import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GenerationAbortedError, StableDiffusion } from '@sd-webgpu/pipeline';
import { testDevice } from '../helpers/device';
import { TINY_PATHS } from '../helpers/tiny';

let sd: StableDiffusion;
beforeAll(async () => {
  sd = await StableDiffusion.load(TINY_PATHS.folder, { device: await testDevice() });
});
afterAll(() => sd?.dispose());

const base = { prompt: 'van gogh', width: 64, height: 64, seed: 3, scheduler: 'ddim' as const };
const image = { width: 64, height: 64, data: new Uint8ClampedArray(64 * 64 * 4).fill(128) };

/** Counts event-loop turns (setImmediate) until stopped, recording the device's dispatch count at each. */
function watchEventLoop(): { stop(): number[] } {
  const seen: number[] = [];
  let on = true;
  const tick = () => {
    if (!on) return;
    seen.push(sd.device.dispatchCount);
    setImmediate(tick);
  };
  setImmediate(tick);
  return { stop: () => ((on = false), seen) };
}

describe('abort and event-loop fairness', () => {
  it('an already-aborted signal does no GPU work at all', async () => {
    await sd.device.sync();
    const dispatches = sd.device.dispatchCount;
    const live = sd.device.pool.stats.liveBytes;
    const signal = AbortSignal.abort();
    await expect(sd.txt2img({ ...base, steps: 3, signal })).rejects.toBeInstanceOf(GenerationAbortedError);
    await expect(sd.img2img({ ...base, image, steps: 3, signal })).rejects.toBeInstanceOf(GenerationAbortedError);
    expect(sd.device.dispatchCount).toBe(dispatches);
    expect(sd.device.pool.stats.liveBytes).toBe(live);
  });

  it('the event loop runs between steps even without onProgress', async () => {
    const steps = 6;
    const w = watchEventLoop();
    await sd.txt2img({ ...base, steps });
    const counts = new Set(w.stop());
    // Before each step's wait the step's dispatches are recorded: an event-loop turn sees every step's count.
    // A loop that never yields shows only the counts after the whole loop (decode, readback).
    expect(counts.size).toBeGreaterThanOrEqual(steps);
  });

  it('a signal aborted by a timer mid-run stops the run without onProgress', async () => {
    await sd.device.sync();
    const live = sd.device.pool.stats.liveBytes;
    const d0 = sd.device.dispatchCount;
    await sd.txt2img({ ...base, steps: 1 });
    const perRun1 = sd.device.dispatchCount - d0;
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(), 0);
    const d1 = sd.device.dispatchCount;
    await expect(sd.txt2img({ ...base, steps: 30, signal: ctl.signal })).rejects.toBeInstanceOf(GenerationAbortedError);
    // far fewer dispatches than 30 steps' worth (one step plus the VAE is perRun1)
    expect(sd.device.dispatchCount - d1).toBeLessThan(perRun1 * 10);
    await sd.device.sync();
    expect(sd.device.pool.stats.liveBytes).toBe(live);
  });
});
