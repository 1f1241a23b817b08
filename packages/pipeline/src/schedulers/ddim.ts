import type { TorchGenerator } from '../rng/torch_generator.js';
import { DiscreteTimeScheduler } from './discrete_base.js';
import { epsFromV, x0FromAlphaBar } from './prediction.js';
import type { StepResult } from './types.js';

/**
 * DDIM (Song et al. 2020) with eta = 0, as diffusers 0.27.2 `DDIMScheduler` (epsilon or v prediction, no clipping,
 * no thresholding). Deterministic: the generator is not used. Each step computes (for v: x0 = √ᾱ·x − √(1−ᾱ)·v,
 * eps = √ᾱ·v + √(1−ᾱ)·x)
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
    const [cx, cm] = x0FromAlphaBar(this.config.prediction_type, a);
    const predOriginalSample = this.backend.combine([
      [x, cx],
      [eps, cm],
    ]);
    if (this.config.prediction_type === 'epsilon') {
      const prevSample = this.backend.combine([
        [predOriginalSample, Math.sqrt(aPrev)],
        [eps, Math.sqrt(1 - aPrev)],
      ]);
      return { prevSample, predOriginalSample };
    }
    // v-prediction: the ε the update needs is √ᾱ·v + √(1−ᾱ)·x
    const [ex, ev] = epsFromV(a);
    const epsPred = this.backend.combine([
      [x, ex],
      [eps, ev],
    ]);
    const prevSample = this.backend.combine([
      [predOriginalSample, Math.sqrt(aPrev)],
      [epsPred, Math.sqrt(1 - aPrev)],
    ]);
    this.backend.dispose(epsPred);
    return { prevSample, predOriginalSample };
  }

  addNoise(x0: T, noise: T, t: number): T {
    return this.addNoiseAlphaBar(x0, noise, t);
  }
}
