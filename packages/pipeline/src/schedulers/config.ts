import { briefJson } from '@sd-webgpu/models';
import { SdError } from '@sd-webgpu/tensor';
import { alphasCumprodF32, betasF32 } from './tables.js';
import type { SchedulerName } from './types.js';

/** A scheduler config value this implementation does not support (or that has the wrong type). */
export class SchedulerConfigError extends SdError {
  readonly scheduler: string;
  readonly field: string;
  constructor(scheduler: string, field: string, detail: string) {
    super('scheduler_config', `scheduler '${scheduler}': config field '${field}' ${detail}`);
    this.scheduler = scheduler;
    this.field = field;
  }
}

export type BetaSchedule = 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';
export type TimestepSpacing = 'leading' | 'linspace' | 'trailing';

/**
 * The resolved settings a scheduler runs with. Field names are those of diffusers' `scheduler_config.json`,
 * so a config file can be passed in as parsed.
 */
export interface SchedulerConfig {
  num_train_timesteps: number;
  beta_start: number;
  beta_end: number;
  beta_schedule: BetaSchedule;
  /** Explicit betas (length num_train_timesteps) instead of beta_start/beta_end/beta_schedule. */
  trained_betas: readonly number[] | null;
  /** Only 'epsilon' is implemented (SD 1.x). */
  prediction_type: 'epsilon';
  /** DDIM/PNDM: use ᾱ = 1 instead of ᾱ[0] past the last step. */
  set_alpha_to_one: boolean;
  steps_offset: number;
  /** PNDM: must be true (PLMS only; the Runge-Kutta warm-up is not implemented). */
  skip_prk_steps: boolean;
  /** DDIM: must be false (clipping x0 is not part of the LatentBackend interface). */
  clip_sample: boolean;
  timestep_spacing: TimestepSpacing;
  /** Euler / Euler-a (false only) / LMS / DPM-Solver++: Karras et al. noise levels. */
  use_karras_sigmas: boolean;
  /** DPM-Solver++: 1 or 2. */
  solver_order: number;
  /** DPM-Solver++: first order on the final step(s) when fewer than 15 steps. */
  lower_order_final: boolean;
  /** DPM-Solver++: first order on the very last step. */
  euler_at_final: boolean;
  /** DPM-Solver++: the noise level after the last step. */
  final_sigmas_type: 'zero' | 'sigma_min';
}

/** A raw config (e.g. a parsed scheduler_config.json): any subset of the fields, unknown keys ignored. */
export type SchedulerConfigInput = { readonly [key: string]: unknown };

/** The SD 1.x `scheduler_config.json` (v1-4 / v1-5): scaled_linear betas 0.00085..0.012, PNDM-style offsets. */
export const sd15SchedulerConfig: SchedulerConfigInput = Object.freeze({
  beta_start: 0.00085,
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  num_train_timesteps: 1000,
  set_alpha_to_one: false,
  skip_prk_steps: true,
  steps_offset: 1,
  clip_sample: false,
  trained_betas: null,
  prediction_type: 'epsilon',
});

type Family = 'ddim' | 'pndm' | 'euler' | 'euler_a' | 'dpm' | 'lms';

const familyOf = (name: SchedulerName): Family =>
  name === 'dpmpp_2m' || name === 'dpmpp_2m_karras' ? 'dpm' : name;

/** diffusers 0.27.2 class defaults (what `from_config` fills in for fields the config lacks). */
function classDefaults(family: Family): SchedulerConfig {
  const d: SchedulerConfig = {
    num_train_timesteps: 1000,
    beta_start: 0.0001,
    beta_end: 0.02,
    beta_schedule: 'linear',
    trained_betas: null,
    prediction_type: 'epsilon',
    set_alpha_to_one: true,
    steps_offset: 0,
    skip_prk_steps: false,
    clip_sample: true,
    timestep_spacing: 'linspace',
    use_karras_sigmas: false,
    solver_order: 2,
    lower_order_final: true,
    euler_at_final: false,
    final_sigmas_type: 'zero',
  };
  if (family === 'ddim' || family === 'pndm') d.timestep_spacing = 'leading';
  if (family === 'pndm') d.set_alpha_to_one = false;
  return d;
}

/** Fields that other diffusers versions/classes write, accepted only at the value that means "off". */
const ONLY_DEFAULT: Readonly<Record<string, (v: unknown) => boolean>> = {
  thresholding: (v) => v === false,
  rescale_betas_zero_snr: (v) => v === false,
  variance_type: (v) => v === null,
  algorithm_type: (v) => v === 'dpmsolver++',
  solver_type: (v) => v === 'midpoint',
  use_lu_lambdas: (v) => v === false,
  use_exponential_sigmas: (v) => v === false,
  use_beta_sigmas: (v) => v === false,
  lambda_min_clipped: (v) => v === -Infinity || v === null,
  interpolation_type: (v) => v === 'linear',
  timestep_type: (v) => v === 'discrete',
  sigma_min: (v) => v === null,
  sigma_max: (v) => v === null,
};

const oneOf =
  <V extends string>(...allowed: V[]) =>
  (v: unknown): v is V =>
    typeof v === 'string' && (allowed as string[]).includes(v);
const isBool = (v: unknown): v is boolean => typeof v === 'boolean';
const isPosInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v > 0;
const isNonNegInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;
const isBeta = (v: unknown): v is number => typeof v === 'number' && v > 0 && v < 1;

/** 10x SD's 1000: a table of `1e9` would allocate gigabytes before the first step. */
export const MAX_TRAIN_TIMESTEPS = 10_000;
/**
 * Smallest ᾱ at the last training step: σ_max = sqrt((1-ᾱ)/ᾱ) stays ≤ 1e6 (SD 1.x: ᾱ ≈ 0.0047, σ_max ≈ 14.6; the
 * capped cosine schedule: ᾱ ≈ 2.4e-9). Betas near 1 underflow ᾱ to 0, an infinite noise level.
 */
const MIN_FINAL_ALPHA_CUMPROD = 1e-12;

/**
 * Fill class defaults for `name` and check every field. Unknown keys (and `_class_name`-style keys) are ignored,
 * as diffusers' `from_config` does; known fields with unsupported values throw `SchedulerConfigError`.
 */
export function resolveSchedulerConfig(name: SchedulerName, input: SchedulerConfigInput): SchedulerConfig {
  const family = familyOf(name);
  const cfg = classDefaults(family);
  const fail = (field: string, detail: string): never => {
    throw new SchedulerConfigError(name, field, detail);
  };
  const take = <K extends keyof SchedulerConfig>(
    field: K,
    ok: (v: unknown) => boolean,
    expected: string,
  ): void => {
    if (!(field in input) || input[field] === undefined) return;
    const v = input[field];
    if (!ok(v)) fail(field, `must be ${expected}, got ${briefJson(v)}`);
    (cfg as unknown as Record<string, unknown>)[field] = v;
  };

  take('num_train_timesteps', (v) => isPosInt(v) && v <= MAX_TRAIN_TIMESTEPS, `an integer in 1..${MAX_TRAIN_TIMESTEPS}`);
  take('beta_start', isBeta, 'a number in (0, 1)');
  take('beta_end', isBeta, 'a number in (0, 1)');
  take('beta_schedule', oneOf('linear', 'scaled_linear', 'squaredcos_cap_v2'), "'linear', 'scaled_linear' or 'squaredcos_cap_v2'");
  take('trained_betas', (v) => v === null || (Array.isArray(v) && v.length <= MAX_TRAIN_TIMESTEPS && v.every((b) => typeof b === 'number' && b >= 0 && b < 1)), 'null or an array of betas in [0, 1)');
  take('prediction_type', oneOf('epsilon'), "'epsilon' (v_prediction and sample are not implemented)");
  take('set_alpha_to_one', isBool, 'a boolean');
  take('steps_offset', (v) => isNonNegInt(v) && v < MAX_TRAIN_TIMESTEPS, `an integer in 0..${MAX_TRAIN_TIMESTEPS - 1}`);
  take('skip_prk_steps', isBool, 'a boolean');
  take('clip_sample', isBool, 'a boolean');
  take('timestep_spacing', oneOf('leading', 'linspace', 'trailing'), "'leading', 'linspace' or 'trailing'");
  take('use_karras_sigmas', isBool, 'a boolean');
  take('solver_order', (v) => v === 1 || v === 2, '1 or 2 (third order is not implemented)');
  take('lower_order_final', isBool, 'a boolean');
  take('euler_at_final', isBool, 'a boolean');
  take('final_sigmas_type', oneOf('zero', 'sigma_min'), "'zero' or 'sigma_min'");

  for (const [field, ok] of Object.entries(ONLY_DEFAULT)) {
    if (field in input && input[field] !== undefined && !ok(input[field])) {
      fail(field, `value ${briefJson(input[field])} is not supported (only the diffusers default is)`);
    }
  }
  if (cfg.trained_betas && cfg.trained_betas.length !== cfg.num_train_timesteps) {
    fail('trained_betas', `has ${cfg.trained_betas.length} entries, expected num_train_timesteps = ${cfg.num_train_timesteps}`);
  }
  if (cfg.steps_offset >= cfg.num_train_timesteps) {
    fail('steps_offset', `(${cfg.steps_offset}) must be below num_train_timesteps (${cfg.num_train_timesteps})`);
  }
  const alphaT = alphasCumprodF32(betasF32(cfg)).at(-1)!;
  if (!(alphaT >= MIN_FINAL_ALPHA_CUMPROD)) {
    fail(cfg.trained_betas ? 'trained_betas' : 'beta_end', `gives a final ᾱ of ${alphaT}, below ${MIN_FINAL_ALPHA_CUMPROD}: the noise level would not stay finite`);
  }
  if (family === 'ddim' && cfg.clip_sample) {
    fail('clip_sample', 'true is not supported (DDIM x0 clipping is not implemented; SD 1.x uses false)');
  }
  if (family === 'pndm' && !cfg.skip_prk_steps) {
    fail('skip_prk_steps', 'false is not supported (only PLMS, as SD 1.x configures; the PRK warm-up is not implemented)');
  }
  if (name === 'dpmpp_2m_karras') cfg.use_karras_sigmas = true;
  if (name === 'euler_a' && cfg.use_karras_sigmas) {
    fail('use_karras_sigmas', 'is not available for euler_a (diffusers 0.27.2 has no such option there)');
  }
  return cfg;
}

/**
 * Checks every field's type and range, independently of the scheduler that will use the config (called when a model
 * loads, so a bad `scheduler_config.json` fails then and not at the first generation). Family-specific settings
 * (DDIM `clip_sample`, PNDM `skip_prk_steps`) are checked when a scheduler is created.
 */
export function checkSchedulerConfig(input: SchedulerConfigInput): void {
  resolveSchedulerConfig('lms', input); // LMS has no family-specific restrictions
}
