import { ParameterError } from '@sd-webgpu/tensor';
import type { TorchGenerator } from '../rng/torch_generator.js';
import type { SchedulerConfig } from './config.js';
import { NoiseSchedule } from './tables.js';
import type { Img2ImgTimesteps, LatentBackend, Scheduler, SchedulerName, StepResult } from './types.js';

/**
 * What every scheduler shares: the config and training tables, the inference timesteps, diffusers'
 * step-index bookkeeping (`_step_index` / `_begin_index`) and img2img `get_timesteps`.
 */
export abstract class SchedulerBase<T> implements Scheduler<T> {
  abstract readonly name: SchedulerName;
  readonly order = 1;
  readonly config: SchedulerConfig;
  readonly schedule: NoiseSchedule;
  protected readonly backend: LatentBackend<T>;
  protected numInferenceSteps = 0;
  protected ts: number[] = [];
  /** Index of the next step (sigma-based schedulers); null until the first scaleModelInput/step. */
  protected stepIndex: number | null = null;
  /** Where img2img starts (set by img2imgTimesteps); null for txt2img. */
  protected beginIndex: number | null = null;

  constructor(config: SchedulerConfig, backend: LatentBackend<T>) {
    this.config = config;
    this.backend = backend;
    this.schedule = new NoiseSchedule(config);
  }

  get timesteps(): readonly number[] {
    return this.ts;
  }

  abstract get sigmas(): readonly number[] | null;
  abstract get initNoiseSigma(): number;
  abstract inputScale(t: number): number;
  abstract step(eps: T, t: number, x: T, gen?: TorchGenerator): StepResult<T>;
  abstract addNoise(x0: T, noise: T, t: number): T;
  /** Build `this.ts` (and any per-scheduler tables) for n steps. */
  protected abstract buildTimesteps(n: number): void;
  /** Dispose and forget multistep state. */
  protected abstract clearState(): void;

  setTimesteps(n: number): void {
    if (!Number.isInteger(n) || n < 1 || n > this.config.num_train_timesteps) {
      throw new ParameterError(
        `${this.name}.setTimesteps`,
        'n',
        `must be an integer in [1, ${this.config.num_train_timesteps}] (num_train_timesteps), got ${n}`,
      );
    }
    this.reset();
    this.numInferenceSteps = n;
    this.buildTimesteps(n);
    this.beginIndex = null;
  }

  reset(): void {
    this.clearState();
    this.stepIndex = null;
  }

  scaleModelInput(x: T, t: number): T {
    return this.backend.combine([[x, this.inputScale(t)]]);
  }

  img2imgTimesteps(steps: number, strength: number): Img2ImgTimesteps {
    if (!(strength >= 0 && strength <= 1)) {
      throw new ParameterError(`${this.name}.img2imgTimesteps`, 'strength', `must be in [0, 1], got ${strength}`);
    }
    this.setTimesteps(steps);
    const initTimestep = Math.min(Math.trunc(steps * strength), steps); // python int() truncates
    const tStart = Math.max(steps - initTimestep, 0);
    const timesteps = this.ts.slice(tStart * this.order);
    if (timesteps.length === 0) {
      throw new ParameterError(
        `${this.name}.img2imgTimesteps`,
        'strength',
        `${strength} with ${steps} steps leaves no denoising step (int(steps*strength) = 0)`,
      );
    }
    this.beginIndex = tStart * this.order;
    return { timesteps, tStart };
  }

  protected requireTimesteps(op: string): void {
    if (this.numInferenceSteps === 0) {
      throw new ParameterError(`${this.name}.${op}`, 'timesteps', 'are not set: call setTimesteps(n) first');
    }
  }

  /** An integer training timestep in range (DDIM/PNDM index ᾱ with it). */
  protected checkTrainTimestep(op: string, t: number): void {
    if (!Number.isInteger(t) || t < 0 || t >= this.config.num_train_timesteps) {
      throw new ParameterError(
        `${this.name}.${op}`,
        't',
        `must be an integer training timestep in [0, ${this.config.num_train_timesteps}), got ${t}`,
      );
    }
  }

  /**
   * diffusers `index_for_timestep`: the position of t in the schedule; when t occurs more than once, the
   * second occurrence (so an img2img start never skips a sigma).
   */
  protected indexForTimestep(op: string, t: number): number {
    const hits: number[] = [];
    this.ts.forEach((v, i) => {
      if (v === t) hits.push(i);
    });
    if (hits.length === 0) {
      throw new ParameterError(`${this.name}.${op}`, 't', `${t} is not one of the scheduler's timesteps [${this.ts.join(', ')}]`);
    }
    return hits.length > 1 ? hits[1] : hits[0];
  }

  /** diffusers `_init_step_index`: the begin index when img2img set one, else the position of t. */
  protected currentStepIndex(op: string, t: number): number {
    this.requireTimesteps(op);
    if (this.stepIndex === null) this.stepIndex = this.beginIndex ?? this.indexForTimestep(op, t);
    if (this.stepIndex >= this.ts.length) {
      throw new ParameterError(
        `${this.name}.${op}`,
        'step',
        `all ${this.ts.length} steps are done; call reset() or setTimesteps() to run again`,
      );
    }
    return this.stepIndex;
  }

  /** `sqrt(ᾱ_t)·x0 + sqrt(1-ᾱ_t)·noise` (DDPM-style add_noise used by DDIM and PNDM). */
  protected addNoiseAlphaBar(x0: T, noise: T, t: number): T {
    this.checkTrainTimestep('addNoise', t);
    const a = this.schedule.alphasCumprod[t];
    return this.backend.combine([
      [x0, Math.sqrt(a)],
      [noise, Math.sqrt(1 - a)],
    ]);
  }
}
