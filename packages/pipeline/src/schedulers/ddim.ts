import type { TorchGenerator } from '../rng/torch_generator';
import { SchedulerBase } from './base';
import { arange, linspace, roundHalfEven } from './numpy_compat';
import type { StepResult } from './types';

/**
 * DDIM (Song et al. 2020) with eta = 0, as diffusers 0.27.2 `DDIMScheduler` (epsilon prediction, no clipping,
 * no thresholding). Deterministic: the generator is not used. Each step computes
 *
 *   x0  = (x - sqrt(1-ᾱ_t)·eps) / sqrt(ᾱ_t)
 *   x'  = sqrt(ᾱ_prev)·x0 + sqrt(1-ᾱ_prev)·eps,    prev = t - T/n (ᾱ_prev = final ᾱ below 0)
 */
export class DdimScheduler<T> extends SchedulerBase<T> {
  readonly name = 'ddim' as const;

  get sigmas(): null {
    return null;
  }

  get initNoiseSigma(): number {
    return 1;
  }

  inputScale(): number {
    return 1;
  }

  protected buildTimesteps(n: number): void {
    const T = this.config.num_train_timesteps;
    switch (this.config.timestep_spacing) {
      case 'leading': {
        const ratio = Math.floor(T / n);
        this.ts = Array.from({ length: n }, (_, i) => i * ratio + this.config.steps_offset).reverse();
        break;
      }
      case 'linspace':
        this.ts = linspace(0, T - 1, n).map(roundHalfEven).reverse();
        break;
      case 'trailing':
        this.ts = arange(T, 0, -T / n).map((v) => roundHalfEven(v) - 1);
        break;
    }
  }

  protected clearState(): void {
    // DDIM keeps no state between steps.
  }

  step(eps: T, t: number, x: T, _gen?: TorchGenerator): StepResult<T> {
    this.requireTimesteps('step');
    this.checkTrainTimestep('step', t);
    const prevT = t - Math.floor(this.config.num_train_timesteps / this.numInferenceSteps);
    const a = this.schedule.alphasCumprod[t];
    const aPrev = this.schedule.alphaBar(prevT);
    const sqrtA = Math.sqrt(a);
    const predOriginalSample = this.backend.combine([
      [x, 1 / sqrtA],
      [eps, -Math.sqrt(1 - a) / sqrtA],
    ]);
    const prevSample = this.backend.combine([
      [predOriginalSample, Math.sqrt(aPrev)],
      [eps, Math.sqrt(1 - aPrev)],
    ]);
    return { prevSample, predOriginalSample };
  }

  addNoise(x0: T, noise: T, t: number): T {
    return this.addNoiseAlphaBar(x0, noise, t);
  }
}
