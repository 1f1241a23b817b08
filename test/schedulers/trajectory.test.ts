import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TorchGenerator } from '../../packages/pipeline/src/rng/torch_generator';
import { type CpuLatent, CpuLatentBackend } from '../../packages/pipeline/src/schedulers/cpu_backend';
import { createScheduler } from '../../packages/pipeline/src/schedulers/factory';
import { type FixtureCase, fixturePath, loadCase } from '../helpers/fixtures';
import { ulpStats } from '../rng/ulp';
import { expectRelToMax, latentOf, schedulerNameOf, standin } from './common';

// README section 2: a scheduler step given eps is good to 1e-5 relative (torch evaluates the step in f32 with
// f32 coefficients; we use f64 coefficients and one f32 rounding per output). Errors are measured against
// max|ref| because the sigma-scheduler latents reach |x| ~ 35 while individual elements cross zero.
// Measured worst case with the CPU backend: 2.4e-7 (DPM++ 2M); the bound leaves room for GPU backends.
const STEP_REL = 1e-5;
// Free-running trajectories feed our own outputs (and our stand-in eps) back in, so per-step rounding
// differences accumulate over the 10 steps; measured worst is 3.4e-7 of max|x| (DPM++ 2M), still far inside
// the per-step budget, so the same 1e-5 applies.
const FREE_REL = 1e-5;

function stepKey(i: number, what: string): string {
  return `step${String(i).padStart(2, '0')}.${what}`;
}

const files = readdirSync(fixturePath('schedulers')).filter((f) => /^trajectory_.+_\d+steps\.safetensors$/.test(f));

async function trajectory(file: string): Promise<{ c: FixtureCase; name: ReturnType<typeof schedulerNameOf> }> {
  const c = await loadCase(`schedulers/${file}`);
  return { c, name: schedulerNameOf(c.attrs.scheduler, c.attrs.config) };
}

describe('scheduler steps against diffusers 0.27.2 trajectories', () => {
  it('finds the trajectory fixtures', () => expect(files.length).toBeGreaterThanOrEqual(6));

  for (const file of files) {
    it(`${file}: each step alone, from the stored model_input / eps / sample`, async () => {
      const { c, name } = await trajectory(file);
      const b = new CpuLatentBackend();
      const s = createScheduler(name, b, c.attrs.config);
      s.setTimesteps(c.attrs.num_inference_steps);
      expect(s.timesteps).toEqual(c.outputs['timesteps'].toNumbers());
      const gen = new TorchGenerator(c.attrs.latent_seed + 1); // Euler-a's per-step noise generator
      let x: CpuLatent = latentOf(c.outputs['x_T']);
      s.timesteps.forEach((t, i) => {
        const input = s.scaleModelInput(x, t);
        expectRelToMax(input.data, c.outputs[stepKey(i, 'model_input')].data as Float32Array, STEP_REL, `${name} ${stepKey(i, 'model_input')}`);
        const eps = latentOf(c.outputs[stepKey(i, 'eps')]);
        const { prevSample, predOriginalSample } = s.step(eps, t, x, gen);
        expectRelToMax(prevSample.data, c.outputs[stepKey(i, 'prev_sample')].data as Float32Array, STEP_REL, `${name} ${stepKey(i, 'prev_sample')}`);
        const pred = c.outputs[stepKey(i, 'pred_original_sample')];
        expect(predOriginalSample !== undefined, `${name} returns pred_original_sample iff diffusers does`).toBe(pred !== undefined);
        if (pred && predOriginalSample) {
          expectRelToMax(predOriginalSample.data, pred.data as Float32Array, STEP_REL, `${name} ${stepKey(i, 'pred_original_sample')}`);
          b.dispose(predOriginalSample);
        }
        b.dispose(input);
        b.dispose(prevSample);
        // continue from the reference sample so every step is tested in isolation
        x = latentOf(c.outputs[stepKey(i, 'prev_sample')]);
      });
    });

    it(`${file}: free-running trajectory with the stand-in model from x_T`, async () => {
      const { c, name } = await trajectory(file);
      const b = new CpuLatentBackend();
      const s = createScheduler(name, b, c.attrs.config);
      s.setTimesteps(c.attrs.num_inference_steps);
      // x_T itself: the torch generator's draw times init_noise_sigma (RNG bound: README section 4)
      const shape = c.outputs['x_T_unscaled'].shape;
      const noise = new TorchGenerator(c.attrs.latent_seed).randn(shape);
      expect(ulpStats(noise, c.outputs['x_T_unscaled'].data as Float32Array, 3, 4e-7).outside).toBe(0);
      let x = b.combine([[{ shape, data: noise }, s.initNoiseSigma]]);
      expectRelToMax(x.data, c.outputs['x_T'].data as Float32Array, 1e-7, `${name} x_T`); // one f32 product
      const gen = new TorchGenerator(c.attrs.latent_seed + 1);
      s.timesteps.forEach((t, i) => {
        const input = s.scaleModelInput(x, t);
        const eps = standin(input, t);
        const { prevSample, predOriginalSample } = s.step(eps, t, x, gen);
        expectRelToMax(prevSample.data, c.outputs[stepKey(i, 'prev_sample')].data as Float32Array, FREE_REL, `${name} free ${stepKey(i, 'prev_sample')}`);
        if (predOriginalSample) b.dispose(predOriginalSample);
        b.dispose(input);
        b.dispose(x);
        x = prevSample;
      });
      expectRelToMax(x.data, c.outputs['final'].data as Float32Array, FREE_REL, `${name} final`);
      b.dispose(x);
      s.reset();
      expect(b.liveCount, `${name}: everything disposed after reset()`).toBe(0);
    });
  }

  it('running the same scheduler twice (reset between) gives identical results', async () => {
    const { c } = await trajectory(files.find((f) => f.includes('_pndm_'))!);
    const b = new CpuLatentBackend();
    const s = createScheduler('pndm', b, c.attrs.config);
    s.setTimesteps(c.attrs.num_inference_steps);
    const run = () => {
      let x = b.combine([[latentOf(c.outputs['x_T']), 1]]);
      for (const t of s.timesteps) {
        const eps = standin(x, t);
        const { prevSample } = s.step(eps, t, x);
        b.dispose(x);
        x = prevSample;
      }
      return x;
    };
    const a = run();
    s.reset();
    const a2 = run();
    expect(Array.from(a2.data)).toEqual(Array.from(a.data));
  });
});
