import { ParameterError } from '@sd-webgpu/tensor';
import type { TorchGenerator } from '../rng/torch_generator.js';
import { SigmaSchedulerBase } from './sigma_base.js';
import type { StepResult } from './types.js';

/**
 * Euler-ancestral, as diffusers 0.27.2 `EulerAncestralDiscreteScheduler`: an Euler step down to σ_down
 * followed by fresh noise of size σ_up, where σ_up² + σ_down² = σ_next² and
 * σ_up = sqrt(σ_next²·(σ² - σ_next²)/σ²). Needs a generator: one `randnLike(x)` draw per step.
 */
export class EulerAncestralScheduler<T> extends SigmaSchedulerBase<T> {
  readonly name = 'euler_a' as const;

  protected clearState(): void {
    // no multistep state besides the step counter
  }

  step(eps: T, t: number, x: T, gen?: TorchGenerator): StepResult<T> {
    if (!gen) {
      throw new ParameterError('euler_a.step', 'gen', 'is required: the ancestral step draws fresh noise');
    }
    const { sigma, sigmaNext } = this.sigmaAt(t);
    const sigmaUp = Math.sqrt((sigmaNext * sigmaNext * (sigma * sigma - sigmaNext * sigmaNext)) / (sigma * sigma));
    const sigmaDown = Math.sqrt(sigmaNext * sigmaNext - sigmaUp * sigmaUp);
    const b = this.backend;
    const predOriginalSample = b.combine(this.x0Terms(x, eps, sigma));
    const r = (sigmaDown - sigma) / sigma;
    const noise = b.randnLike(x, gen);
    const prevSample = b.combine([
      [x, 1 + r],
      [predOriginalSample, -r],
      [noise, sigmaUp],
    ]);
    b.dispose(noise);
    this.stepIndex!++;
    return { prevSample, predOriginalSample };
  }
}
