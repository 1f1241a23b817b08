import type { TorchGenerator } from '../rng/torch_generator.js';
import { DiscreteTimeScheduler } from './discrete_base.js';
import type { StepResult } from './types.js';

/**
 * DDIM (Song et al. 2020) with eta = 0, as diffusers 0.27.2 `DDIMScheduler` (epsilon prediction, no clipping,
 * no thresholding). Deterministic: the generator is not used. Each step computes
 *
 *   x0  = (x - sqrt(1-ᾱ_t)·eps) / sqrt(ᾱ_t)
 *   x'  = sqrt(ᾱ_prev)·x0 + sqrt(1-ᾱ_prev)·eps,    prev = t - T/n (ᾱ_prev = final ᾱ below 0)
 */
export class DdimScheduler<T> extends DiscreteTimeScheduler<T> {
  readonly name = 'ddim' as const;

  protected buildTimesteps(n: number): void {
    this.ts = this.spacedTimesteps(n).reverse();
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
