import type { TorchGenerator } from '../rng/torch_generator.js';
import { SchedulerBase } from './base.js';
import type { SchedulerConfig } from './config.js';
import { x0FromVp } from './prediction.js';
import { dpmSchedule } from './sigma_schedule.js';
import type { LatentBackend, StepResult } from './types.js';

/** α_t and σ_t of the VP process at noise level σ: α = 1/sqrt(σ²+1), σ_t = σ·α, λ = log α - log σ_t. */
function vp(sigma: number): { alpha: number; sigmaT: number; lambda: number } {
  const alpha = 1 / Math.sqrt(sigma * sigma + 1);
  const sigmaT = sigma * alpha;
  return { alpha, sigmaT, lambda: Math.log(alpha) - Math.log(sigmaT) };
}

/**
 * DPM-Solver++ multistep (data prediction, midpoint), as diffusers 0.27.2 `DPMSolverMultistepScheduler` with
 * `algorithm_type "dpmsolver++"`; `solver_order` 2 gives "DPM++ 2M", `use_karras_sigmas` "DPM++ 2M Karras".
 * The latent is in VP form (init noise sigma 1, identity model input). Per step, with h = λ_next - λ_i:
 *
 *   m_i = (x - σ_t·eps)/α_t  (v prediction: α_t·x − σ_t·v)    (x0 prediction, kept for the next step)
 *   1st order:  x' = (σ_t'/σ_t)·x - α_t'(e^{-h} - 1)·m_i
 *   2nd order:  x' = (σ_t'/σ_t)·x - α_t'(e^{-h} - 1)·(m_i + (m_i - m_{i-1})/(2 r)),  r = h_prev / h
 *
 * First order on the first step and, with lower_order_final (< 15 steps) / a zero final sigma, on the last.
 */
export class DpmSolverMultistepScheduler<T> extends SchedulerBase<T> {
  readonly name: 'dpmpp_2m' | 'dpmpp_2m_karras';
  private sigmaList: number[] = [];
  /** The previous step's x0 prediction (solver order 2 history). */
  private prevModelOutput: T | null = null;
  private lowerOrderNums = 0;

  constructor(config: SchedulerConfig, backend: LatentBackend<T>) {
    super(config, backend);
    this.name = this.config.use_karras_sigmas ? 'dpmpp_2m_karras' : 'dpmpp_2m';
  }

  get sigmas(): readonly number[] {
    return this.sigmaList;
  }

  get initNoiseSigma(): number {
    return 1;
  }

  inputScale(): number {
    return 1;
  }

  protected buildTimesteps(n: number): void {
    const s = dpmSchedule(this.config, this.schedule, n);
    this.ts = s.timesteps;
    this.sigmaList = s.sigmas;
  }

  protected clearState(): void {
    if (this.prevModelOutput !== null) this.backend.dispose(this.prevModelOutput);
    this.prevModelOutput = null;
    this.lowerOrderNums = 0;
  }

  step(eps: T, t: number, x: T, _gen?: TorchGenerator): StepResult<T> {
    const i = this.currentStepIndex('step', t);
    const cfg = this.config;
    const n = this.ts.length;
    const lowerOrderFinal =
      i === n - 1 && (cfg.euler_at_final || (cfg.lower_order_final && n < 15) || cfg.final_sigmas_type === 'zero');

    const s0 = vp(this.sigmaList[i]);
    const next = vp(this.sigmaList[i + 1]);
    const b = this.backend;
    const [cx, cm] = x0FromVp(cfg.prediction_type, s0.alpha, s0.sigmaT);
    const m0 = b.combine([
      [x, cx],
      [eps, cm],
    ]);

    // σ_next = 0 (final step): λ = +inf, e^{-h} = 0 and σ_t'/σ_t = 0, so x' = m0 exactly.
    const h = next.lambda - s0.lambda;
    const expm = Math.exp(-h) - 1;
    const xCoef = next.sigmaT / s0.sigmaT;
    const d0Coef = -next.alpha * expm;
    let prevSample: T;
    const firstOrder = cfg.solver_order === 1 || this.lowerOrderNums < 1 || lowerOrderFinal;
    if (firstOrder || this.prevModelOutput === null) {
      prevSample = b.combine([
        [x, xCoef],
        [m0, d0Coef],
      ]);
    } else {
      // (diffusers' lower_order_second only demotes third order to second, so it does not apply here)
      const s1 = vp(this.sigmaList[i - 1]);
      const r0 = (s0.lambda - s1.lambda) / h;
      // D1 = (m0 - m1)/r0, x' = xCoef·x + d0Coef·D0 + 0.5·d0Coef·D1
      const d1 = (0.5 * d0Coef) / r0;
      prevSample = b.combine([
        [x, xCoef],
        [m0, d0Coef + d1],
        [this.prevModelOutput, -d1],
      ]);
    }

    if (cfg.solver_order === 2) {
      if (this.prevModelOutput !== null) b.dispose(this.prevModelOutput);
      this.prevModelOutput = m0;
    } else {
      b.dispose(m0);
    }
    if (this.lowerOrderNums < cfg.solver_order) this.lowerOrderNums++;
    this.stepIndex = i + 1;
    return { prevSample };
  }

  /** α·x0 + σ_t·noise at the img2img begin index (or at t's position when none is set). */
  addNoise(x0: T, noise: T, t: number): T {
    this.requireTimesteps('addNoise');
    // diffusers: once stepping has begun (inpainting re-noises the original each step) the current step index
    const index = this.beginIndex === null ? this.indexForTimestep('addNoise', t) : (this.stepIndex ?? this.beginIndex);
    const { alpha, sigmaT } = vp(this.sigmaList[index]);
    return this.backend.combine([
      [x0, alpha],
      [noise, sigmaT],
    ]);
  }
}
