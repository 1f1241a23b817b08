import type { TorchGenerator } from '../rng/torch_generator.js';

/**
 * The latent arithmetic a scheduler needs. Schedulers compute their coefficients on the host in float64 and
 * hand them to `combine`; the latents themselves stay wherever the backend keeps them (CPU arrays in tests,
 * GPU tensors in the pipeline).
 *
 * Ownership: every value returned by `combine` / `randnLike` is new and owned by whoever asked for it, who
 * eventually passes it to `dispose`. Inputs are never modified or disposed by the backend.
 */
export interface LatentBackend<T> {
  /** sum_i coef_i * x_i, element-wise (all x_i the same shape). Returns a new value; inputs untouched. */
  combine(terms: ReadonlyArray<readonly [T, number]>): T;
  /** Gaussian noise of the latent shape from the generator (CPU torch-compatible draws, then uploaded). */
  randnLike(like: T, gen: TorchGenerator): T;
  dispose(x: T): void;
}

export type SchedulerName = 'ddim' | 'pndm' | 'euler' | 'euler_a' | 'dpmpp_2m' | 'dpmpp_2m_karras' | 'lms' | 'lcm';

export const SCHEDULER_NAMES: readonly SchedulerName[] = [
  'ddim',
  'pndm',
  'euler',
  'euler_a',
  'dpmpp_2m',
  'dpmpp_2m_karras',
  'lms',
  'lcm',
];

/**
 * Result of one `step`. Both values are new and owned by the caller (dispose them when done).
 * `predOriginalSample` (the x0 estimate) is present for the schedulers whose diffusers `step` returns it:
 * DDIM, Euler, Euler-ancestral and LMS; PNDM and DPM-Solver++ return only `prevSample`.
 */
export interface StepResult<T> {
  prevSample: T;
  predOriginalSample?: T;
}

/** diffusers `get_timesteps` of the img2img pipeline. */
export interface Img2ImgTimesteps {
  /** The timesteps to denoise through, `timesteps[tStart * order:]`; `timesteps[0]` is the add_noise timestep. */
  timesteps: number[];
  /** Index into the full schedule where denoising starts. */
  tStart: number;
}

/**
 * A diffusion sampler with diffusers 0.27.2 semantics (SD 1.x settings). Typical txt2img loop:
 *
 * ```ts
 * sched.setTimesteps(steps);
 * let x = backend.combine([[noise, sched.initNoiseSigma]]);
 * for (const t of sched.timesteps) {
 *   const xin = sched.scaleModelInput(x, t);      // new value: dispose after the UNet call
 *   const eps = unet(xin, t);
 *   const { prevSample, predOriginalSample } = sched.step(eps, t, x, gen);
 *   dispose(xin, eps, x, predOriginalSample); x = prevSample;
 * }
 * ```
 *
 * Multistep schedulers (PNDM, DPM-Solver++, LMS) keep copies of earlier values; they never keep or dispose
 * the caller's `eps` / `x`. `reset()` (and `setTimesteps`) dispose that state.
 */
export interface Scheduler<T> {
  readonly name: SchedulerName;
  /** The timesteps to call the UNet with: integers for DDIM/PNDM/DPM-Solver++, float32 values for Euler/LMS. */
  readonly timesteps: readonly number[];
  /** `n + 1` float32 noise levels (last 0) for sigma-based schedulers; null for DDIM/PNDM. */
  readonly sigmas: readonly number[] | null;
  /** Multiply the unit-variance initial noise by this (txt2img). */
  readonly initNoiseSigma: number;
  /** diffusers `scheduler.order`: 1 for every scheduler here (PNDM's repeated timestep is in `timesteps`). */
  readonly order: number;
  /** Build the schedule for `n` inference steps; also clears multistep state and the img2img start index. */
  setTimesteps(n: number): void;
  /** The factor scaleModelInput applies at timestep t (1 for DDIM/PNDM/DPM-Solver++, 1/sqrt(σ²+1) otherwise). */
  inputScale(t: number): number;
  /**
   * The UNet input for timestep t. ALWAYS a new value owned by the caller, even when the scale is 1,
   * so the caller disposes it unconditionally (and never the same object twice). Callers that fold the
   * scale into their own ops can use `inputScale(t)` instead.
   */
  scaleModelInput(x: T, t: number): T;
  /** One denoising step from `x` at timestep `t` with the model's noise prediction `eps`. Inputs untouched. */
  step(eps: T, t: number, x: T, gen?: TorchGenerator): StepResult<T>;
  /** Forward-diffuse `x0` to timestep `t` with `noise` (new value). */
  addNoise(x0: T, noise: T, t: number): T;
  /** Calls setTimesteps(steps) and applies diffusers img2img `get_timesteps` (sets the begin index). */
  img2imgTimesteps(steps: number, strength: number): Img2ImgTimesteps;
  /** Clear multistep state (disposing held values) and the step counter; keeps timesteps and begin index. */
  reset(): void;
}
