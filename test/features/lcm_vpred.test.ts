import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TorchGenerator } from '../../packages/pipeline/src/rng/torch_generator';
import { type CpuLatent, CpuLatentBackend } from '../../packages/pipeline/src/schedulers/cpu_backend';
import { SchedulerConfigError } from '../../packages/pipeline/src/schedulers/config';
import { createScheduler } from '../../packages/pipeline/src/schedulers/factory';
import { LcmScheduler } from '../../packages/pipeline/src/schedulers/lcm';
import { fixturePath, loadCase } from '../helpers/fixtures';
import { expectRelToMax, latentOf, schedulerNameOf, standin } from '../schedulers/common';

// README 11: lcm / vpred steps given the stored inputs are good to 1e-5 relative (we use f64 coefficients and one f32
// rounding per output; torch rounds every intermediate to f32). Errors are relative to max|ref| (|x| grows to ~33).
const REL = 1e-5;
const key = (i: number, what: string) => `step${String(i).padStart(2, '0')}.${what}`;

describe('LCM scheduler (diffusers 0.27.2 LCMScheduler)', () => {
  it('timesteps for 2, 4 and 8 steps from the 50-step distillation grid', async () => {
    const c = await loadCase('features/lcm/timesteps_lcm');
    const s = createScheduler('lcm', new CpuLatentBackend(), c.attrs.config) as LcmScheduler<CpuLatent>;
    expect(s.originTimesteps()).toEqual(c.outputs.lcm_origin_timesteps!.toNumbers());
    for (const n of c.attrs.num_inference_steps as number[]) {
      s.setTimesteps(n);
      expect(s.timesteps, `${n} steps`).toEqual(c.outputs[`timesteps_${n}`]!.toNumbers());
    }
    expect(() => s.setTimesteps(51)).toThrow(/original_inference_steps 50/);
  });

  it('each step from the stored inputs, and the free-running 4-step trajectory with one generator', async () => {
    const c = await loadCase('features/lcm/trajectory_lcm_4steps');
    const b = new CpuLatentBackend();
    const s = createScheduler('lcm', b, c.attrs.config) as LcmScheduler<CpuLatent>;
    s.setTimesteps(4);
    expect(s.timesteps).toEqual(c.outputs.timesteps!.toNumbers());
    // one generator: x_T first, then one draw per step except the last (LatentConsistencyModelPipeline order)
    const gen = new TorchGenerator(c.attrs.latent_seed);
    const shape = c.outputs.x_T!.shape;
    let x = b.combine([[{ shape, data: gen.randn(shape) }, s.initNoiseSigma]]);
    expectRelToMax(x.data, c.outputs.x_T!.data as Float32Array, 1e-6, 'x_T');
    s.timesteps.forEach((t, i) => {
      const { cSkip, cOut } = s.scalings(t);
      expect(cSkip).toBeCloseTo(c.outputs[key(i, 'c_skip')]!.toNumbers()[0]!, 9);
      expect(cOut / c.outputs[key(i, 'c_out')]!.toNumbers()[0]! - 1).toBeLessThan(1e-6);
      const eps = standin(x, t);
      expectRelToMax(eps.data, c.outputs[key(i, 'eps')]!.data as Float32Array, REL, key(i, 'eps'));
      const { prevSample, predOriginalSample } = s.step(eps, t, x, gen);
      expectRelToMax(predOriginalSample!.data, c.outputs[key(i, 'denoised')]!.data as Float32Array, REL, key(i, 'denoised'));
      expectRelToMax(prevSample.data, c.outputs[key(i, 'prev_sample')]!.data as Float32Array, REL, key(i, 'prev_sample'));
      b.dispose(predOriginalSample!);
      b.dispose(x);
      x = prevSample;
    });
    expectRelToMax(x.data, c.outputs.final!.data as Float32Array, REL, 'final');
    // the last step drew nothing: the generator is exactly 1 + 3 draws in
    const probe = new TorchGenerator(c.attrs.latent_seed);
    for (let k = 0; k < 4; k++) probe.randn(shape);
    expect(Array.from(gen.randn([4]))).toEqual(Array.from(probe.randn([4])));
    b.dispose(x);
    s.reset();
    expect(b.liveCount).toBe(0);
  });

  it('needs a generator for the noisy steps', () => {
    const s = createScheduler('lcm', new CpuLatentBackend(), { prediction_type: 'epsilon' });
    s.setTimesteps(2);
    const x = { shape: [1, 1, 1, 1], data: new Float32Array([1]) };
    expect(() => s.step(x, s.timesteps[0]!, x)).toThrow(/gen.*required/);
  });
});

const vpred = readdirSync(fixturePath('features/vpred')).filter((f) => f.endsWith('.safetensors'));

describe('v-prediction (SD 2.x 768-v) in DDIM, Euler and DPM++ 2M, read from the scheduler config', () => {
  it('finds the three trajectories', () => expect(vpred).toHaveLength(3));

  for (const file of vpred) {
    it(`${file}: per step from the stored inputs, then free-running`, async () => {
      const c = await loadCase(`features/vpred/${file}`);
      const name = schedulerNameOf(c.attrs.scheduler, c.attrs.config);
      const b = new CpuLatentBackend();
      const s = createScheduler(name, b, c.attrs.config);
      s.setTimesteps(c.attrs.num_inference_steps);
      expect(s.timesteps).toEqual(c.outputs.timesteps?.toNumbers() ?? s.timesteps);
      expect(s.initNoiseSigma).toBeCloseTo(c.outputs.init_noise_sigma!.toNumbers()[0]!, 4);
      const x0Key = c.outputs[key(0, 'x0_pred')] ? 'x0_pred' : 'pred_original_sample';
      // 1. each step alone (multistep history comes from our own earlier steps, fed the reference inputs)
      let x: CpuLatent = latentOf(c.outputs.x_T ?? c.outputs[key(0, 'model_input')]!);
      const steps = s.timesteps.length;
      for (let i = 0; i < steps; i++) {
        const t = s.timesteps[i]!;
        const input = s.scaleModelInput(x, t);
        expectRelToMax(input.data, c.outputs[key(i, 'model_input')]!.data as Float32Array, REL, `${name} ${key(i, 'model_input')}`);
        const v = latentOf(c.outputs[key(i, 'model_output')] ?? c.outputs[key(i, 'eps')]!);
        const { prevSample, predOriginalSample } = s.step(v, t, x);
        const prevRef = c.outputs[key(i, 'prev_sample')] ?? c.outputs.final!;
        expectRelToMax(prevSample.data, prevRef.data as Float32Array, REL, `${name} ${key(i, 'prev_sample')}`);
        const x0Ref = c.outputs[key(i, x0Key)];
        if (predOriginalSample && x0Ref) expectRelToMax(predOriginalSample.data, x0Ref.data as Float32Array, REL, `${name} ${key(i, x0Key)}`);
        if (predOriginalSample) b.dispose(predOriginalSample);
        b.dispose(input);
        b.dispose(prevSample);
        x = latentOf(prevRef);
      }
      // 2. free-running with the stand-in model (its output read as v)
      s.setTimesteps(c.attrs.num_inference_steps);
      x = b.combine([[latentOf(c.outputs.x_T!), 1]]);
      for (const t of s.timesteps) {
        const input = s.scaleModelInput(x, t);
        const { prevSample, predOriginalSample } = s.step(standin(input, t), t, x);
        if (predOriginalSample) b.dispose(predOriginalSample);
        b.dispose(input);
        b.dispose(x);
        x = prevSample;
      }
      expectRelToMax(x.data, c.outputs.final!.data as Float32Array, REL, `${name} final`);
      b.dispose(x);
      s.reset();
      expect(b.liveCount).toBe(0);
    });
  }

  it('rejects v-prediction where it is not implemented (PNDM) instead of ignoring it', () => {
    expect(() => createScheduler('pndm', new CpuLatentBackend(), { prediction_type: 'v_prediction' })).toThrow(SchedulerConfigError);
    expect(() => createScheduler('ddim', new CpuLatentBackend(), { prediction_type: 'sample' })).toThrow(/prediction_type/);
  });
});
