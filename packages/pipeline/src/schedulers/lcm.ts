import { ParameterError } from '@sd-webgpu/tensor';
import type { TorchGenerator } from '../rng/torch_generator.js';
import { DiscreteTimeScheduler } from './discrete_base.js';
import { linspace } from './numpy_compat.js';
import { x0FromAlphaBar } from './prediction.js';
import type { Img2ImgTimesteps, StepResult } from './types.js';

/**
 * Latent Consistency Model multistep sampling, as diffusers 0.27.2 `LCMScheduler` (few steps with an LCM-distilled
 * model or an LCM-LoRA). Timesteps are drawn from the distillation grid `[1..N]·(T/N) − 1` (N =
 * original_inference_steps), reversed, at indices floor(linspace(0, N, n, endpoint=False)). One step at t, with
 * t' the next timestep (t itself at the last step) and s = timestep_scaling·t:
 *
 *   x0 = (x − √(1−ᾱ_t)·eps)/√ᾱ_t                   (v prediction: √ᾱ_t·x − √(1−ᾱ_t)·v)
 *   denoised = c_out·x0 + c_skip·x,   c_skip = σ_d²/(s²+σ_d²),   c_out = s/√(s²+σ_d²),   σ_d = 0.5
 *   x' = √ᾱ_t'·denoised + √(1−ᾱ_t')·noise          (the last step returns `denoised` and draws no noise)
 *
 * For img2img the grid is cut to its first int(N·strength) points (diffusers' LCM img2img pipeline).
 * The noise comes from the pipeline's own generator (LatentConsistencyModelPipeline hands it to `step`), one
 * latent-sized draw per step except the last. `predOriginalSample` is `denoised` (diffusers' LCM output field).
 */
export class LcmScheduler<T> extends DiscreteTimeScheduler<T> {
  readonly name = 'lcm' as const;
  static readonly SIGMA_DATA = 0.5;

  /** The ascending distillation grid `[1..N]·(T/N) − 1` (diffusers `lcm_origin_timesteps` before reversal). */
  originTimesteps(): number[] {
    const N = this.config.original_inference_steps;
    const k = Math.floor(this.config.num_train_timesteps / N);
    return Array.from({ length: N }, (_, i) => (i + 1) * k - 1);
  }

  /** img2img strength while img2imgTimesteps builds its grid (diffusers `set_timesteps(..., strength)`). */
  private strength = 1;

  protected buildTimesteps(n: number): void {
    const N = Math.trunc(this.config.original_inference_steps * this.strength);
    const origin = this.originTimesteps().slice(0, N).reverse();
    if (n > N) {
      throw new ParameterError('lcm.setTimesteps', 'n', `${n} steps exceed the ${N} timesteps of the grid (original_inference_steps ${this.config.original_inference_steps} × strength ${this.strength})`);
    }
    this.ts = linspace(0, N, n + 1).slice(0, n).map((v) => origin[Math.floor(v)]!);
  }

  protected clearState(): void {
    // LCM keeps no state besides the step counter.
  }

  /** c_skip and c_out of the consistency-model boundary condition at timestep t (f32 scaled timestep, as torch). */
  scalings(t: number): { cSkip: number; cOut: number } {
    const s = Math.fround(this.config.timestep_scaling * t);
    const d2 = LcmScheduler.SIGMA_DATA ** 2;
    return { cSkip: d2 / (s * s + d2), cOut: s / Math.sqrt(s * s + d2) };
  }

  step(eps: T, t: number, x: T, gen?: TorchGenerator): StepResult<T> {
    const i = this.currentStepIndex('step', t);
    const last = i === this.ts.length - 1;
    if (!last && !gen) throw new ParameterError('lcm.step', 'gen', 'is required: every LCM step but the last draws fresh noise');
    const a = this.schedule.alphasCumprod[t];
    const { cSkip, cOut } = this.scalings(t);
    const [cx, cm] = x0FromAlphaBar(this.config.prediction_type, a);
    const b = this.backend;
    // denoised = c_out·(cx·x + cm·eps) + c_skip·x, folded into one combine
    const denoised = b.combine([
      [x, cOut * cx + cSkip],
      [eps, cOut * cm],
    ]);
    this.stepIndex = i + 1;
    if (last) return { prevSample: b.combine([[denoised, 1]]), predOriginalSample: denoised };
    const aPrev = this.schedule.alphaBar(this.ts[i + 1]!);
    const noise = b.randnLike(x, gen!);
    const prevSample = b.combine([
      [denoised, Math.sqrt(aPrev)],
      [noise, Math.sqrt(1 - aPrev)],
    ]);
    b.dispose(noise);
    return { prevSample, predOriginalSample: denoised };
  }

  addNoise(x0: T, noise: T, t: number): T {
    return this.addNoiseAlphaBar(x0, noise, t);
  }

  /**
   * LatentConsistencyModelImg2ImgPipeline: all `steps` timesteps, drawn from the first int(N·strength) grid points
   * (so denoising starts at a lower noise level); the first one is the add_noise timestep.
   */
  override img2imgTimesteps(steps: number, strength: number): Img2ImgTimesteps {
    if (!(strength > 0 && strength <= 1)) {
      throw new ParameterError('lcm.img2imgTimesteps', 'strength', `must be in (0, 1], got ${strength}`);
    }
    this.strength = strength;
    try {
      this.setTimesteps(steps);
    } finally {
      this.strength = 1;
    }
    return { timesteps: [...this.ts], tStart: 0 };
  }
}
