import { SchedulerBase } from './base.js';
import { x0FromSigma } from './prediction.js';
import { kdiffusionSchedule } from './sigma_schedule.js';

/**
 * Shared part of the k-diffusion style schedulers (Euler, Euler-ancestral, LMS): the latent lives at scale
 * sqrt(σ²+1) ("variance exploding" form x = x0 + σ·ε), the UNet input is x / sqrt(σ²+1), and a step moves
 * from sigmas[i] to sigmas[i+1] with i the internal step counter (diffusers `step_index`).
 */
export abstract class SigmaSchedulerBase<T> extends SchedulerBase<T> {
  protected sigmaList: number[] = [];

  get sigmas(): readonly number[] {
    return this.sigmaList;
  }

  /** σ_max for "linspace"/"trailing" spacing, sqrt(σ_max²+1) for "leading" (diffusers `init_noise_sigma`). */
  get initNoiseSigma(): number {
    this.requireTimesteps('initNoiseSigma');
    const max = Math.max(...this.sigmaList);
    return this.config.timestep_spacing === 'leading' ? Math.sqrt(max * max + 1) : max;
  }

  protected buildTimesteps(n: number): void {
    const s = kdiffusionSchedule(this.config, this.schedule, n);
    this.ts = s.timesteps;
    this.sigmaList = s.sigmas;
  }

  /** 1/sqrt(σ²+1) at the current step (initialising the step counter from t, like scale_model_input). */
  inputScale(t: number): number {
    const sigma = this.sigmaList[this.currentStepIndex('scaleModelInput', t)];
    return 1 / Math.sqrt(sigma * sigma + 1);
  }

  /** x0 + σ·noise, with σ at the img2img begin index (or at t's position when none is set). */
  addNoise(x0: T, noise: T, t: number): T {
    this.requireTimesteps('addNoise');
    // diffusers: once stepping has begun (inpainting re-noises the original each step) the current step index
    const index = this.beginIndex === null ? this.indexForTimestep('addNoise', t) : (this.stepIndex ?? this.beginIndex);
    return this.backend.combine([
      [x0, 1],
      [noise, this.sigmaList[index]],
    ]);
  }

  /** The x0 estimate's terms at σ (epsilon: x − σ·eps; v: x/(σ²+1) − σ/√(σ²+1)·v). */
  protected x0Terms(x: T, out: T, sigma: number): [T, number][] {
    const [cx, cm] = x0FromSigma(this.config.prediction_type, sigma);
    return [
      [x, cx],
      [out, cm],
    ];
  }

  /** Current step index and σ there, for step(); advances nothing. */
  protected sigmaAt(t: number): { index: number; sigma: number; sigmaNext: number } {
    const index = this.currentStepIndex('step', t);
    return { index, sigma: this.sigmaList[index], sigmaNext: this.sigmaList[index + 1] };
  }
}
