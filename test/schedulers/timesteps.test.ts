import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CpuLatentBackend } from '../../packages/pipeline/src/schedulers/cpu_backend';
import { createScheduler } from '../../packages/pipeline/src/schedulers/factory';
import { fixturePath, loadCase } from '../helpers/fixtures';
import { schedulerNameOf } from './common';

const files = readdirSync(fixturePath('schedulers')).filter((f) => /^timesteps_.+\.safetensors$/.test(f));

describe('set_timesteps against diffusers 0.27.2', () => {
  it('finds the timesteps fixtures', () => expect(files.length).toBeGreaterThanOrEqual(6));

  for (const file of files) {
    it(`${file}: timesteps, sigmas and init_noise_sigma for every stored step count`, async () => {
      const c = await loadCase(`schedulers/${file}`);
      const name = schedulerNameOf(c.attrs.scheduler, c.attrs.config);
      const counts = Object.keys(c.outputs)
        .filter((k) => k.startsWith('timesteps_'))
        .map((k) => Number(k.slice('timesteps_'.length)));
      expect(counts.length).toBeGreaterThanOrEqual(3);
      // the fixture records the full resolved diffusers config: it must be accepted as is
      const s = createScheduler(name, new CpuLatentBackend(), c.attrs.config);
      for (const n of counts) {
        s.setTimesteps(n);
        // timesteps: int64 (DDIM/PNDM/DPM) or float32 (Euler/LMS) values, exact
        expect(s.timesteps, `${name} timesteps_${n}`).toEqual(c.outputs[`timesteps_${n}`].toNumbers());
        const sig = c.outputs[`sigmas_${n}`];
        if (sig) {
          // float32 noise levels: our f64 interpolation rounded to f32 equals numpy's, bit for bit
          expect(s.sigmas, `${name} sigmas_${n}`).toEqual(sig.toNumbers());
        } else {
          expect(s.sigmas).toBeNull();
        }
        // stored as f32 (torch computes sqrt(σ²+1) in f32 when it applies; here it is σ_max or 1): exact in f32
        expect(Math.fround(s.initNoiseSigma), `${name} init_noise_sigma_${n}`).toBe(c.outputs[`init_noise_sigma_${n}`].toNumbers()[0]);
      }
    });
  }

  it('PNDM repeats the second timestep; DDIM 10 steps is 901..1', () => {
    const b = new CpuLatentBackend();
    const p = createScheduler('pndm', b);
    p.setTimesteps(10);
    expect(p.timesteps).toEqual([901, 801, 801, 701, 601, 501, 401, 301, 201, 101, 1]);
    const d = createScheduler('ddim', b);
    d.setTimesteps(10);
    expect(d.timesteps).toEqual([901, 801, 701, 601, 501, 401, 301, 201, 101, 1]);
  });

  it('other spacings follow the diffusers formulas', () => {
    const b = new CpuLatentBackend();
    const cfg = { beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012, clip_sample: false };
    const d = createScheduler('ddim', b, { ...cfg, timestep_spacing: 'trailing' });
    d.setTimesteps(4);
    expect(d.timesteps).toEqual([999, 749, 499, 249]);
    const dl = createScheduler('ddim', b, { ...cfg, timestep_spacing: 'linspace' });
    dl.setTimesteps(4);
    expect(dl.timesteps).toEqual([999, 666, 333, 0]);
    const e = createScheduler('euler', b, { ...cfg, timestep_spacing: 'leading', steps_offset: 1 });
    e.setTimesteps(4);
    expect(e.timesteps).toEqual([751, 501, 251, 1]);
    // "leading" spacing: init_noise_sigma = sqrt(σ_max² + 1)
    const smax = e.sigmas![0];
    expect(e.initNoiseSigma).toBeCloseTo(Math.sqrt(smax * smax + 1), 12);
    const dpm = createScheduler('dpmpp_2m', b, { ...cfg, timestep_spacing: 'leading', steps_offset: 1 });
    dpm.setTimesteps(4);
    expect(dpm.timesteps).toEqual([801, 601, 401, 201]); // 1000 // 5 = 200, arange(5)*200 reversed, last dropped
  });
});
