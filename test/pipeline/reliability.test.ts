// What a hostile caller can do to a loaded model: abort, bad options, a bad prompt. Each is stopped before GPU work
// or between steps, with a typed error, and nothing leaks.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ParameterError } from '@sd-webgpu/tensor';
import { GenerationAbortedError, NonFiniteError, StableDiffusion, formatParameters, parseParameters } from '@sd-webgpu/pipeline';
import type { Tensor } from '@sd-webgpu/tensor';
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

describe('options are type-checked before any GPU work', () => {
  const bad: [string, unknown, RegExp][] = [
    ['txt2img(null)', null, /'options' must be an object \(got null\)/],
    ['txt2img("x")', 'x', /'options' must be an object \(got string\)/],
    ['onProgress string', { ...base, onProgress: 'str' }, /'onProgress' must be a function \(got 'str'\)/],
    ['scheduler null', { ...base, scheduler: null }, /'scheduler' must be one of .* \(got null\)/],
    ['seed null', { ...base, seed: null }, /'seed'/],
    ['steps string', { ...base, steps: '3' }, /'steps' must be an integer in 1\.\.1000 \(got '3'\)/],
    ['guidance 1e300', { ...base, guidanceScale: 1e300 }, /'guidanceScale' must be a number in \[0, 100\]/],
    ['guidance NaN', { ...base, guidanceScale: NaN }, /'guidanceScale'/],
    ['returnLatents 1', { ...base, returnLatents: 1 }, /'returnLatents' must be a boolean/],
    ['signal object', { ...base, signal: {} }, /'signal' must be an AbortSignal/],
    ['prompt number', { ...base, prompt: 5 }, /'prompt' must be a string \(got number\)/],
    ['NUL in prompt', { ...base, prompt: 'a\0b' }, /'prompt' must not contain a NUL/],
    ['NUL in negative', { ...base, negativePrompt: '\0' }, /'negativePrompt' must not contain a NUL/],
    ['negative line in prompt', { ...base, prompt: 'cat\nNegative prompt: dog' }, /'prompt' must not contain a line starting with 'Negative prompt:'/],
  ];
  it.each(bad)('%s', async (_, opts, msg) => {
    await sd.device.sync();
    const dispatches = sd.device.dispatchCount;
    const e1 = await sd.txt2img(opts as never).then(() => null, (e: unknown) => e);
    expect(e1).toBeInstanceOf(ParameterError);
    expect((e1 as Error).message).toMatch(msg);
    const withImage = opts !== null && typeof opts === 'object' ? { ...opts, image } : opts;
    const e2 = await sd.img2img(withImage as never).then(() => null, (e: unknown) => e);
    expect(e2).toBeInstanceOf(ParameterError);
    expect(sd.device.dispatchCount).toBe(dispatches);
  });

  it('every prompt the options accept round-trips through the PNG parameters text', () => {
    const params = { steps: 3, guidanceScale: 7.5, seed: 1, scheduler: 'ddim' as const, width: 64, height: 64 };
    const prompts: [string, string][] = [
      ['cat, 宇宙\nline two: x, y', 'Negative prompt: inside the negative\nNegative prompt: again'],
      ['Negative prompts are fine mid-line: Negative prompt: x', ''],
      ['a "quoted", \\back\\slash', 'tab\there'],
    ];
    for (const [prompt, negativePrompt] of prompts) {
      const back = parseParameters(formatParameters({ ...params, prompt, negativePrompt }));
      expect([back.prompt, back.negativePrompt]).toEqual([prompt, negativePrompt]);
    }
    expect(() => formatParameters({ ...params, prompt: 'x\nNegative prompt: y' })).toThrow(ParameterError);
    expect(() => formatParameters({ ...params, prompt: 'x\0' })).toThrow(/'prompt' must not contain a NUL/);
  });
});

describe('non-finite values are errors, never a silent black image', () => {
  /** Runs `fn` with `bias[0]` of a conv (f32) set to `value`, restoring the weight afterwards. */
  async function withPoisonedBias(bias: Tensor, value: number, fn: () => Promise<void>): Promise<void> {
    expect(bias.dtype).toBe('f32');
    const original = await bias.float32();
    const poisoned = Float32Array.from(original);
    poisoned[0] = value;
    sd.device.writeBuffer(bias.buffer, 0, new Uint8Array(poisoned.buffer));
    try {
      await fn();
    } finally {
      sd.device.writeBuffer(bias.buffer, 0, new Uint8Array(original.buffer));
    }
  }

  it('latents that turn NaN name the first step', async () => {
    await withPoisonedBias(sd.unet.conv_out.bias!, NaN, async () => {
      const e = await sd.txt2img({ ...base, steps: 3 }).then(() => null, (x: unknown) => x);
      expect(e).toBeInstanceOf(NonFiniteError);
      expect((e as NonFiniteError).step).toBe(1);
      expect((e as Error).message).toMatch(/NaN or infinite at denoising step 1 of 3/);
    });
    await sd.device.sync();
    const [ok] = await sd.txt2img({ ...base, steps: 1 }); // restored: the model works again
    expect(ok!.data.length).toBe(64 * 64 * 4);
  });

  it('a decoder that overflows is reported, not written as black', async () => {
    await withPoisonedBias(sd.vae.decoder.conv_out.bias!, Infinity, async () => {
      const e = await sd.txt2img({ ...base, steps: 1 }).then(() => null, (x: unknown) => x);
      expect(e).toBeInstanceOf(NonFiniteError);
      expect((e as NonFiniteError).step).toBeNull();
      expect((e as Error).message).toMatch(/VAE decoder produced NaN or infinite pixels/);
    });
  });
});
