import { ParameterError } from '@sd-webgpu/tensor';
import type { TorchGenerator } from '../rng/torch_generator.js';
import { DiscreteTimeScheduler } from './discrete_base.js';
import type { StepResult } from './types.js';

/** Adams-Bashforth weights on the stored eps history, newest first (diffusers `step_plms`). */
const PLMS_WEIGHTS: readonly (readonly number[])[] = [
  [1],
  [3 / 2, -1 / 2],
  [23 / 12, -16 / 12, 5 / 12],
  [55 / 24, -59 / 24, 37 / 24, -9 / 24],
];

/**
 * PNDM with `skip_prk_steps` (pure PLMS), as diffusers 0.27.2 `PNDMScheduler`. The schedule has n+1
 * timesteps with the second one repeated (901, 801, 801, 701, ... for n = 10): the first step is a plain
 * DDIM-like step from t to t - T/n, the second redoes it from the same sample with the average of both
 * eps, and later steps use 2-, 3- and 4-term Adams-Bashforth combinations of the eps history. The
 * transfer from x_t to x_prev is the PNDM formula (`_get_prev_sample`).
 */
export class PndmScheduler<T> extends DiscreteTimeScheduler<T> {
  readonly name = 'pndm' as const;
  /** Copies of past eps, oldest first (at most 4). */
  private ets: T[] = [];
  /** Copy of the sample from the first step, reused by the second (counter 1). */
  private curSample: T | null = null;
  private counter = 0;

  protected buildTimesteps(n: number): void {
    const base = this.spacedTimesteps(n);
    // plms = concat(base[:-1], base[-2:-1], base[-1:]) reversed: the second-to-last entry appears twice
    this.ts = [...base.slice(0, -1), ...base.slice(-2, -1), ...base.slice(-1)].reverse();
  }

  protected clearState(): void {
    for (const e of this.ets) this.backend.dispose(e);
    this.ets = [];
    if (this.curSample !== null) this.backend.dispose(this.curSample);
    this.curSample = null;
    this.counter = 0;
  }

  step(eps: T, t: number, x: T, _gen?: TorchGenerator): StepResult<T> {
    this.requireTimesteps('step');
    this.checkTrainTimestep('step', t);
    const b = this.backend;
    const ratio = Math.floor(this.config.num_train_timesteps / this.numInferenceSteps);
    let timestep = t;
    let prevTimestep = t - ratio;
    if (this.counter === 1) {
      // the repeated timestep: redo the step from the first step's sample and timestep
      prevTimestep = t;
      timestep = t + ratio;
      if (timestep >= this.config.num_train_timesteps) {
        throw new ParameterError('pndm.step', 't', `${t} + T/n = ${timestep} is outside the training range (second PLMS step)`);
      }
    } else {
      while (this.ets.length > 3) b.dispose(this.ets.shift()!);
      this.ets.push(b.combine([[eps, 1]]));
    }

    let sample = x;
    let sampleToDispose: T | null = null;
    let modelTerms: [T, number][];
    if (this.ets.length === 1 && this.counter === 0) {
      modelTerms = [[eps, 1]];
      this.curSample = b.combine([[x, 1]]);
    } else if (this.ets.length === 1 && this.counter === 1) {
      modelTerms = [
        [eps, 0.5],
        [this.ets[0], 0.5],
      ];
      sample = this.curSample!; // set by the counter-0 step; reset() zeroes the counter with it
      sampleToDispose = this.curSample;
      this.curSample = null;
    } else {
      const w = PLMS_WEIGHTS[this.ets.length - 1];
      modelTerms = w.map((c, k) => [this.ets[this.ets.length - 1 - k], c]);
    }

    const prevSample = this.transfer(sample, modelTerms, timestep, prevTimestep);
    if (sampleToDispose !== null) b.dispose(sampleToDispose);
    this.counter++;
    return { prevSample };
  }

  /**
   * `_get_prev_sample`: x_prev = sqrt(ᾱp/ᾱ)·x - (ᾱp - ᾱ) / (ᾱ·sqrt(1-ᾱp) + sqrt(ᾱ(1-ᾱ)ᾱp)) · eps,
   * with eps the weighted sum `modelTerms`.
   */
  private transfer(x: T, modelTerms: [T, number][], timestep: number, prevTimestep: number): T {
    const a = this.schedule.alphaBar(timestep);
    const ap = this.schedule.alphaBar(prevTimestep);
    const sampleCoeff = Math.sqrt(ap / a);
    const denom = a * Math.sqrt(1 - ap) + Math.sqrt(a * (1 - a) * ap);
    const k = (ap - a) / denom;
    return this.backend.combine([[x, sampleCoeff], ...modelTerms.map(([e, c]): [T, number] => [e, -k * c])]);
  }

  addNoise(x0: T, noise: T, t: number): T {
    return this.addNoiseAlphaBar(x0, noise, t);
  }
}
