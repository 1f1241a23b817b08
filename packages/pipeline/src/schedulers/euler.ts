import type { TorchGenerator } from '../rng/torch_generator.js';
import { SigmaSchedulerBase } from './sigma_base.js';
import type { StepResult } from './types.js';

/**
 * Euler (Karras et al. 2022, Algorithm 2 with s_churn = 0), as diffusers 0.27.2 `EulerDiscreteScheduler`:
 *
 *   x0 = x - σ·eps,   d = (x - x0)/σ,   x' = x + (σ_next - σ)·d
 *
 * Deterministic. (diffusers draws, and discards, one latent-sized normal per step when the pipeline passes a
 * generator; this implementation does not, so the generator's position afterwards differs. SD pipelines
 * draw nothing after the loop, so images are unaffected.)
 */
export class EulerScheduler<T> extends SigmaSchedulerBase<T> {
  readonly name = 'euler' as const;

  protected clearState(): void {
    // Euler keeps no state besides the step counter.
  }

  step(eps: T, t: number, x: T, _gen?: TorchGenerator): StepResult<T> {
    const { sigma, sigmaNext } = this.sigmaAt(t);
    const b = this.backend;
    const predOriginalSample = b.combine(this.x0Terms(x, eps, sigma));
    // x + dt·(x - x0)/σ, evaluated from the rounded x0 as torch does
    const r = (sigmaNext - sigma) / sigma;
    const prevSample = b.combine([
      [x, 1 + r],
      [predOriginalSample, -r],
    ]);
    this.stepIndex!++;
    return { prevSample, predOriginalSample };
  }
}
