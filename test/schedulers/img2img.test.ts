import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ParameterError } from '@sd-webgpu/tensor';
import { CpuLatentBackend } from '../../packages/pipeline/src/schedulers/cpu_backend';
import { createScheduler } from '../../packages/pipeline/src/schedulers/factory';
import { fixturePath, loadCase } from '../helpers/fixtures';
import { TorchGenerator } from '../../packages/pipeline/src/rng/torch_generator';
import { SCHEDULER_NAMES } from '../../packages/pipeline/src/schedulers/types';
import { expectRelToMax, latentOf, schedulerNameOf, standin } from './common';

const files = readdirSync(fixturePath('schedulers')).filter((f) => f.startsWith('img2img_'));

// add_noise is sqrt(ᾱ)·x0 + sqrt(1-ᾱ)·noise: torch rounds each product and the sum in f32, we round once;
// the difference is at most ~2 f32 ulp of the largest value (2.4e-7 relative), so 5e-7 relative to max.
const ADD_NOISE_REL = 5e-7;

describe('img2img start (diffusers get_timesteps + add_noise)', () => {
  it('finds the img2img fixtures', () => expect(files.length).toBeGreaterThanOrEqual(4));

  for (const file of files) {
    it(file, async () => {
      const c = await loadCase(`schedulers/${file}`);
      const name = schedulerNameOf(c.attrs.scheduler);
      const b = new CpuLatentBackend();
      const s = createScheduler(name, b);
      const { timesteps, tStart } = s.img2imgTimesteps(c.attrs.num_inference_steps, c.attrs.strength);
      expect(tStart).toBe(c.attrs.t_start);
      expect(timesteps).toEqual(c.outputs['timesteps'].toNumbers());
      // PNDM slices the PLMS list with its repeated entry, so it runs one UNet call more than DDIM
      expect(timesteps.length).toBe(c.attrs.num_denoising_steps + (name === 'pndm' ? 1 : 0));
      expect([timesteps[0]]).toEqual(c.outputs['latent_timestep'].toNumbers());
      const noised = s.addNoise(latentOf(c.inputs['init_latents']), latentOf(c.inputs['noise']), timesteps[0]);
      expectRelToMax(noised.data, c.outputs['noised_latents'].data as Float32Array, ADD_NOISE_REL, `${file} noised_latents`);
      b.dispose(noised);
    });
  }

  it('25 steps at strength 0.15 is 3 DDIM steps 81, 41, 1', () => {
    const s = createScheduler('ddim', new CpuLatentBackend());
    expect(s.img2imgTimesteps(25, 0.15)).toEqual({ timesteps: [81, 41, 1], tStart: 22 });
  });

  it('sigma schedulers start at the begin index: add_noise uses σ[tStart], steps continue from there', () => {
    const b = new CpuLatentBackend();
    const s = createScheduler('euler', b);
    const { timesteps, tStart } = s.img2imgTimesteps(10, 0.5);
    expect(tStart).toBe(5);
    expect(timesteps).toEqual(s.timesteps.slice(5));
    const x0 = { shape: [1, 2], data: new Float32Array([1, -2]) };
    const noise = { shape: [1, 2], data: new Float32Array([0.5, 0.25]) };
    const sigma = s.sigmas![5];
    const noised = s.addNoise(x0, noise, timesteps[0]);
    expect(Array.from(noised.data)).toEqual([Math.fround(1 + 0.5 * sigma), Math.fround(-2 + 0.25 * sigma)]);
    expect(s.inputScale(timesteps[0])).toBeCloseTo(1 / Math.sqrt(sigma * sigma + 1), 15);
    // DPM-Solver++: VP form α·x0 + σ_t·noise at the begin index
    const d = createScheduler('dpmpp_2m', b);
    const r = d.img2imgTimesteps(10, 0.5);
    const sd = d.sigmas![r.tStart];
    const alpha = 1 / Math.sqrt(sd * sd + 1);
    const nd = d.addNoise(x0, noise, r.timesteps[0]);
    expect(nd.data[0]).toBe(Math.fround(alpha + 0.5 * sd * alpha));
    b.dispose(noised);
    b.dispose(nd);
  });

  it('every scheduler runs an img2img schedule from its begin index (multistep history starts empty)', () => {
    for (const name of SCHEDULER_NAMES) {
      const b = new CpuLatentBackend();
      const s = createScheduler(name, b);
      const { timesteps } = s.img2imgTimesteps(12, 0.6);
      const gen = new TorchGenerator(5);
      const init = b.adopt([1, 4, 4, 4], new TorchGenerator(1).randn([1, 4, 4, 4]));
      const noise = b.adopt([1, 4, 4, 4], new TorchGenerator(2).randn([1, 4, 4, 4]));
      let x = s.addNoise(init, noise, timesteps[0]);
      for (const t of timesteps) {
        const input = s.scaleModelInput(x, t);
        const { prevSample, predOriginalSample } = s.step(standin(input, t), t, x, gen);
        [input, x, predOriginalSample].forEach((v) => v && b.dispose(v));
        x = prevSample;
      }
      expect(x.data.every(Number.isFinite), name).toBe(true);
      // sigma schedulers count steps (DDIM/PNDM are driven by t alone and have no end)
      if (s.sigmas) expect(() => s.step(x, timesteps[0], x, gen), `${name}: schedule exhausted`).toThrow(/steps are done/);
      [x, init, noise].forEach((v) => b.dispose(v));
      s.reset();
      expect(b.liveCount, name).toBe(0);
    }
  });

  it('rejects strengths outside [0, 1] and strengths that leave no step', () => {
    const s = createScheduler('ddim', new CpuLatentBackend());
    expect(() => s.img2imgTimesteps(10, 1.5)).toThrow(ParameterError);
    expect(() => s.img2imgTimesteps(10, -0.1)).toThrow(/strength/);
    expect(() => s.img2imgTimesteps(10, 0.05)).toThrow(/no denoising step/);
    // PNDM keeps the final entry of its n+1 list even then, as diffusers' slicing does
    expect(createScheduler('pndm', new CpuLatentBackend()).img2imgTimesteps(10, 0.05).timesteps).toEqual([1]);
  });
});
