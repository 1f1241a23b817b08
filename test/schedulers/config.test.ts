import { describe, expect, it } from 'vitest';
import { DisposedTensorError, ParameterError, ShapeError } from '@sd-webgpu/tensor';
import { TorchGenerator } from '../../packages/pipeline/src/rng/torch_generator';
import {
  SchedulerConfigError, checkSchedulerConfig, resolveSchedulerConfig, sd15SchedulerConfig,
} from '../../packages/pipeline/src/schedulers/config';
import { CpuLatentBackend } from '../../packages/pipeline/src/schedulers/cpu_backend';
import { createScheduler } from '../../packages/pipeline/src/schedulers/factory';
import { SCHEDULER_NAMES, type SchedulerName } from '../../packages/pipeline/src/schedulers/types';

function configError(name: SchedulerName, cfg: Record<string, unknown>): SchedulerConfigError {
  try {
    resolveSchedulerConfig(name, cfg);
  } catch (e) {
    expect(e).toBeInstanceOf(SchedulerConfigError);
    return e as SchedulerConfigError;
  }
  throw new Error(`expected ${name} to reject ${JSON.stringify(cfg)}`);
}

describe('scheduler config', () => {
  it('accepts the SD 1.5 preset for every scheduler, with diffusers class defaults filled in', () => {
    for (const name of SCHEDULER_NAMES) {
      const c = resolveSchedulerConfig(name, sd15SchedulerConfig);
      expect(c.beta_schedule).toBe('scaled_linear');
      expect(c.steps_offset).toBe(1);
    }
    expect(resolveSchedulerConfig('ddim', sd15SchedulerConfig).timestep_spacing).toBe('leading');
    expect(resolveSchedulerConfig('euler', sd15SchedulerConfig).timestep_spacing).toBe('linspace');
    expect(resolveSchedulerConfig('dpmpp_2m_karras', sd15SchedulerConfig).use_karras_sigmas).toBe(true);
    expect(resolveSchedulerConfig('dpmpp_2m', sd15SchedulerConfig).use_karras_sigmas).toBe(false);
  });

  it('ignores unknown and underscore keys, as from_config does', () => {
    const c = resolveSchedulerConfig('pndm', { ...sd15SchedulerConfig, _class_name: 'PNDMScheduler', _diffusers_version: '0.6.0', foo: 3 });
    expect(c.skip_prk_steps).toBe(true);
  });

  it('rejects unsupported values with an error naming the field', () => {
    const cases: [SchedulerName, Record<string, unknown>, string][] = [
      ['euler', { prediction_type: 'v_prediction' }, 'prediction_type'],
      ['ddim', { ...sd15SchedulerConfig, beta_schedule: 'cosine' }, 'beta_schedule'],
      ['ddim', { beta_schedule: 'scaled_linear' }, 'clip_sample'], // DDIM's class default is clip_sample=True
      ['pndm', { ...sd15SchedulerConfig, skip_prk_steps: false }, 'skip_prk_steps'],
      ['ddim', { ...sd15SchedulerConfig, thresholding: true }, 'thresholding'],
      ['dpmpp_2m', { solver_order: 3 }, 'solver_order'],
      ['dpmpp_2m', { algorithm_type: 'sde-dpmsolver++' }, 'algorithm_type'],
      ['euler', { timestep_spacing: 'foo' }, 'timestep_spacing'],
      ['euler', { num_train_timesteps: 0 }, 'num_train_timesteps'],
      ['euler', { trained_betas: [0.1, 0.2] }, 'trained_betas'],
      ['euler', { rescale_betas_zero_snr: true }, 'rescale_betas_zero_snr'],
      ['euler_a', { use_karras_sigmas: true }, 'use_karras_sigmas'],
      ['lms', { steps_offset: -1 }, 'steps_offset'],
    ];
    for (const [name, cfg, field] of cases) {
      const e = configError(name, cfg);
      expect(e.field, `${name} ${JSON.stringify(cfg)}`).toBe(field);
      expect(e.message).toContain(`'${field}'`);
      expect(e.message).toContain(`'${name}'`);
    }
  });

  it('bounds every numeric field so the tables stay small and the noise levels finite', () => {
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ num_train_timesteps: 1e9 }, 'num_train_timesteps', /must be an integer in 1\.\.10000, got 1000000000/],
      [{ ...sd15SchedulerConfig, beta_end: 2 }, 'beta_end', /must be a number in \(0, 1\), got 2/],
      [{ ...sd15SchedulerConfig, beta_start: 1 }, 'beta_start', /in \(0, 1\)/],
      [{ ...sd15SchedulerConfig, beta_start: 0.5, beta_end: 0.9 }, 'beta_end', /final ᾱ of 0, below 1e-12/],
      [{ ...sd15SchedulerConfig, steps_offset: 1000 }, 'steps_offset', /below num_train_timesteps \(1000\)/],
      [{ trained_betas: Array(20_000).fill(0.01) }, 'trained_betas', /array of betas/],
      [{ ...sd15SchedulerConfig, beta_end: JSON.parse('['.repeat(1e5) + ']'.repeat(1e5)) }, 'beta_end', /got \[\[\.\.\.\]\]/],
    ];
    for (const [cfg, field, msg] of cases) {
      const e = configError('euler', cfg);
      expect(e.field).toBe(field);
      expect(e.message).toMatch(msg);
    }
  });

  it('checkSchedulerConfig checks types and ranges whatever the scheduler', () => {
    expect(() => checkSchedulerConfig({ ...sd15SchedulerConfig, clip_sample: true })).not.toThrow(); // DDIM-only restriction
    expect(() => checkSchedulerConfig({ beta_end: 2 })).toThrow(SchedulerConfigError);
  });

  it('createScheduler rejects unknown names', () => {
    expect(() => createScheduler('heun' as SchedulerName, new CpuLatentBackend())).toThrow(ParameterError);
  });
});

describe('scheduler usage errors and ownership', () => {
  const x = () => ({ shape: [1, 4], data: new Float32Array([0.5, -1, 2, 0.25]) });

  it('scaleModelInput always returns a new value, inputs are never modified', () => {
    const b = new CpuLatentBackend();
    for (const name of SCHEDULER_NAMES) {
      const s = createScheduler(name, b);
      s.setTimesteps(5);
      const x0 = x();
      const before = Array.from(x0.data);
      const t = s.timesteps[0];
      const scaled = s.scaleModelInput(x0, t);
      expect(scaled).not.toBe(x0);
      const eps = x();
      const r = s.step(eps, t, x0, new TorchGenerator(0));
      expect(Array.from(x0.data)).toEqual(before);
      expect(Array.from(eps.data)).toEqual(before);
      b.dispose(scaled);
      b.dispose(r.prevSample);
      if (r.predOriginalSample) b.dispose(r.predOriginalSample);
      s.reset();
      expect(b.liveCount, name).toBe(0);
    }
  });

  it('reports misuse with typed errors', () => {
    const b = new CpuLatentBackend();
    const e = createScheduler('euler', b);
    expect(() => e.step(x(), 999, x())).toThrow(/setTimesteps/);
    expect(() => e.setTimesteps(0)).toThrow(ParameterError);
    expect(() => e.setTimesteps(1001)).toThrow(/num_train_timesteps/);
    e.setTimesteps(2);
    expect(() => e.step(x(), 500, x())).toThrow(/not one of the scheduler's timesteps/);
    for (const t of e.timesteps) {
      const r = e.step(x(), t, x());
      b.dispose(r.prevSample);
      b.dispose(r.predOriginalSample!);
    }
    expect(() => e.step(x(), 0, x())).toThrow(/steps are done/);
    const a = createScheduler('euler_a', b);
    a.setTimesteps(2);
    expect(() => a.step(x(), a.timesteps[0], x())).toThrow(/gen/);
    const d = createScheduler('ddim', b);
    d.setTimesteps(2);
    expect(() => d.step(x(), 500.5, x())).toThrow(/integer training timestep/);
    expect(() => d.addNoise(x(), x(), 1000)).toThrow(ParameterError);
    // PNDM's second step redoes the first from t + T/n, which must stay a training timestep
    const p = createScheduler('pndm', b);
    p.setTimesteps(10);
    b.dispose(p.step(x(), 950, x()).prevSample);
    expect(() => p.step(x(), 950, x())).toThrow(/outside the training range/);
    p.reset();
    expect(b.liveCount).toBe(0);
  });

  it('CpuLatentBackend checks shapes and ownership', () => {
    const b = new CpuLatentBackend();
    expect(() => b.combine([[x(), 1], [{ shape: [4], data: new Float32Array(4) }, 1]])).toThrow(ShapeError);
    expect(() => b.combine([])).toThrow(ParameterError);
    const y = b.combine([[x(), 2], [x(), -1]]);
    expect(Array.from(y.data)).toEqual([0.5, -1, 2, 0.25]);
    expect(() => b.dispose(x())).toThrow(/not created by this backend/);
    b.dispose(y);
    expect(() => b.dispose(y)).toThrow(DisposedTensorError);
    expect(() => b.combine([[y, 1]])).toThrow(DisposedTensorError);
    expect(b.liveCount).toBe(0);
    const n = b.randnLike(x(), new TorchGenerator(42));
    expect(Array.from(n.data)).toEqual(Array.from(new TorchGenerator(42).randn([1, 4])));
  });

  it('combine rounds once: the f64 sum of the terms, then f32', () => {
    const b = new CpuLatentBackend();
    const big = { shape: [1], data: new Float32Array([16777216]) }; // 2^24
    const one = { shape: [1], data: new Float32Array([1]) };
    // 2^24 + 1 - 1 = 2^24 exactly in f64; sequential f32 adds would give 2^24 + 0 - 1 = 2^24 - 1
    expect(b.combine([[big, 1], [one, 1], [one, -1]]).data[0]).toBe(16777216);
  });
});
