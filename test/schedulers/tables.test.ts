import { describe, expect, it } from 'vitest';
import { resolveSchedulerConfig, sd15SchedulerConfig } from '../../packages/pipeline/src/schedulers/config';
import { NoiseSchedule, torchLinspaceF32 } from '../../packages/pipeline/src/schedulers/tables';
import { loadCase } from '../helpers/fixtures';

describe('SD 1.x training tables', () => {
  it('betas and alphas_cumprod are bit-identical to torch (tables_sd1)', async () => {
    const c = await loadCase('schedulers/tables_sd1');
    const s = new NoiseSchedule(resolveSchedulerConfig('ddim', c.attrs.config));
    expect(Array.from(s.betas)).toEqual(Array.from(c.outputs['betas'].data as Float32Array));
    expect(Array.from(s.alphasCumprod)).toEqual(Array.from(c.outputs['alphas_cumprod'].data as Float32Array));
    // the f32 table sits within the recorded distance of the float64 formula
    const ac64 = c.outputs['alphas_cumprod_f64'].data as Float64Array;
    let worst = 0;
    s.alphasCumprod.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - ac64[i]))));
    expect(worst).toBeCloseTo(c.attrs.alphas_cumprod_f32_vs_f64_maxabs, 12);
  });

  it('the SD 1.5 preset gives the same tables, ᾱ[0] as the final ᾱ', async () => {
    const c = await loadCase('schedulers/tables_sd1');
    const s = new NoiseSchedule(resolveSchedulerConfig('pndm', sd15SchedulerConfig));
    expect(Array.from(s.alphasCumprod)).toEqual(Array.from(c.outputs['alphas_cumprod'].data as Float32Array));
    expect(s.finalAlphaCumprod).toBe(s.alphasCumprod[0]);
    expect(s.alphaBar(-99)).toBe(s.alphasCumprod[0]);
    const one = new NoiseSchedule(resolveSchedulerConfig('ddim', { ...sd15SchedulerConfig, set_alpha_to_one: true }));
    expect(one.finalAlphaCumprod).toBe(1);
  });

  it('sigma table is sqrt((1-ᾱ)/ᾱ), ascending, log table matches', () => {
    const s = new NoiseSchedule(resolveSchedulerConfig('euler', sd15SchedulerConfig));
    for (let i = 0; i < 1000; i++) {
      const a = s.alphasCumprod[i];
      // one f32 rounding per torch op: relative error of a few f32 ulps at most
      expect(Math.abs(s.sigmas[i] - Math.sqrt((1 - a) / a)) / s.sigmas[i]).toBeLessThan(3e-7);
      if (i > 0) expect(s.sigmas[i]).toBeGreaterThan(s.sigmas[i - 1]);
      expect(Math.abs(s.logSigmas[i] - Math.log(s.sigmas[i]))).toBeLessThan(1e-6);
    }
  });

  it('linear and cosine schedules and trained_betas', () => {
    const lin = new NoiseSchedule(resolveSchedulerConfig('ddim', { clip_sample: false }));
    expect(lin.betas[0]).toBe(Math.fround(0.0001));
    expect(lin.betas[999]).toBe(Math.fround(0.02));
    const cos = new NoiseSchedule(resolveSchedulerConfig('ddim', { clip_sample: false, beta_schedule: 'squaredcos_cap_v2' }));
    expect(cos.betas[999]).toBe(Math.fround(0.999)); // capped at max_beta
    expect(cos.alphasCumprod[0]).toBeGreaterThan(0.9999);
    const trained = Array.from({ length: 10 }, (_, i) => 0.01 * (i + 1));
    const tb = new NoiseSchedule(resolveSchedulerConfig('euler', { trained_betas: trained, num_train_timesteps: 10 }));
    expect(Array.from(tb.betas)).toEqual(trained.map(Math.fround));
  });
});

describe('torchLinspaceF32', () => {
  it('hits both end points and is monotone, for short (scalar) and long (vectorised) lengths', () => {
    for (const n of [2, 3, 7, 15, 16, 17, 33, 1000, 1001]) {
      const v = torchLinspaceF32(0.1, 0.9, n);
      expect(v[0]).toBe(Math.fround(0.1));
      expect(v[n - 1]).toBe(Math.fround(0.9));
      for (let i = 1; i < n; i++) expect(v[i]).toBeGreaterThan(v[i - 1]);
      // within 2 f32 ulps of the exact line (f32 step plus one rounding)
      for (let i = 0; i < n; i++) expect(Math.abs(v[i] - (0.1 + (0.8 * i) / (n - 1)))).toBeLessThan(2.5e-7);
    }
    expect(Array.from(torchLinspaceF32(3, 5, 1))).toEqual([3]);
    expect(torchLinspaceF32(3, 5, 0).length).toBe(0);
  });
});
