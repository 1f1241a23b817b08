import type { TorchGenerator } from '../rng/torch_generator.js';
import { integrate } from './quadrature.js';
import { SigmaSchedulerBase } from './sigma_base.js';
import type { StepResult } from './types.js';

/** diffusers' default `order` argument of `LMSDiscreteScheduler.step`. */
const LMS_ORDER = 4;

/**
 * Linear multistep (k-diffusion `sample_lms`), as diffusers 0.27.2 `LMSDiscreteScheduler` with order 4:
 *
 *   d_i = (x - x0_i)/σ_i,   x' = x + Σ_k c_k · d_{i-k}
 *
 * where c_k integrates the Lagrange basis polynomial through σ_i, σ_{i-1}, ... over [σ_i, σ_{i+1}]
 * (diffusers uses scipy.integrate.quad; here an adaptive Gauss-Kronrod rule, exact for these polynomials).
 * The order ramps up 1, 2, 3, 4 over the first steps.
 */
export class LmsScheduler<T> extends SigmaSchedulerBase<T> {
  readonly name = 'lms' as const;
  /** Copies of past derivatives, oldest first (at most LMS_ORDER). */
  private derivatives: T[] = [];

  protected clearState(): void {
    for (const d of this.derivatives) this.backend.dispose(d);
    this.derivatives = [];
  }

  /** c_k for the step at index i using `order` history points (diffusers `get_lms_coefficient`). */
  lmsCoefficient(order: number, i: number, current: number): number {
    const s = this.sigmaList;
    const basis = (tau: number) => {
      let prod = 1;
      for (let k = 0; k < order; k++) {
        if (k === current) continue;
        prod *= (tau - s[i - k]) / (s[i - current] - s[i - k]);
      }
      return prod;
    };
    return integrate(basis, s[i], s[i + 1], { epsAbs: 1e-14, epsRel: 1e-12 });
  }

  step(eps: T, t: number, x: T, _gen?: TorchGenerator): StepResult<T> {
    const { index, sigma } = this.sigmaAt(t);
    const b = this.backend;
    const predOriginalSample = b.combine(this.x0Terms(x, eps, sigma));
    // d = (x - x0)/σ from the rounded x0, as torch evaluates it
    this.derivatives.push(
      b.combine([
        [x, 1 / sigma],
        [predOriginalSample, -1 / sigma],
      ]),
    );
    while (this.derivatives.length > LMS_ORDER) b.dispose(this.derivatives.shift()!);
    const order = Math.min(index + 1, LMS_ORDER);
    const terms: [T, number][] = [[x, 1]];
    // An img2img start (index > 0) has fewer derivatives than `order`: diffusers zips the coefficients with
    // the history, so only the newest ones are used (still with the order-`order` coefficients).
    for (let k = 0; k < Math.min(order, this.derivatives.length); k++) {
      terms.push([this.derivatives[this.derivatives.length - 1 - k], this.lmsCoefficient(order, index, k)]);
    }
    const prevSample = b.combine(terms);
    this.stepIndex!++;
    return { prevSample, predOriginalSample };
  }
}
