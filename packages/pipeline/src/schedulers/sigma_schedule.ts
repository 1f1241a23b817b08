import type { SchedulerConfig } from './config.js';
import { arange, interpUnitGrid, linspace, roundHalfEven } from './numpy_compat.js';
import { type NoiseSchedule, karrasSigmas, sigmaToT } from './tables.js';

/**
 * Inference timesteps and noise levels of the sigma-based schedulers, as diffusers 0.27.2 `set_timesteps`
 * builds them. `sigmas` has n+1 float32 values (the last is the noise level after the final step).
 */
export interface SigmaSchedule {
  timesteps: number[];
  sigmas: number[];
}

const f = Math.fround;

/**
 * Euler, Euler-ancestral and LMS: float32 timesteps ("linspace": `linspace(0, T-1, n)` reversed),
 * sigmas interpolated from the training table at those timesteps (or Karras levels), then a final 0.
 */
export function kdiffusionSchedule(cfg: SchedulerConfig, table: NoiseSchedule, n: number): SigmaSchedule {
  const T = cfg.num_train_timesteps;
  let timesteps: number[];
  switch (cfg.timestep_spacing) {
    case 'linspace':
      timesteps = linspace(0, T - 1, n).map(f).reverse();
      break;
    case 'leading': {
      const ratio = Math.floor(T / n);
      timesteps = Array.from({ length: n }, (_, i) => f(f(roundHalfEven(i * ratio)) + cfg.steps_offset)).reverse();
      break;
    }
    case 'trailing':
      timesteps = arange(T, 0, -T / n).map((v) => f(f(roundHalfEven(v)) - 1));
      break;
  }
  let sigmas = timesteps.map((t) => interpUnitGrid(t, table.sigmas));
  if (cfg.use_karras_sigmas) {
    sigmas = karrasSigmas(sigmas[sigmas.length - 1], sigmas[0], n);
    timesteps = sigmas.map((s) => f(sigmaToT(s, table.logSigmas)));
  }
  return { timesteps, sigmas: [...sigmas.map(f), 0] };
}

/**
 * DPM-Solver++ (multistep): integer timesteps ("linspace": `linspace(0, T-1, n+1).round()` reversed, last
 * dropped), sigmas interpolated at them, or Karras levels over the whole training range with timesteps
 * `round(sigma_to_t)`; then the final level (0 or the table minimum).
 */
export function dpmSchedule(cfg: SchedulerConfig, table: NoiseSchedule, n: number): SigmaSchedule {
  // lambda_min_clipped is -inf (the only supported value), so the clipped index is 0 and last_timestep = T.
  const T = cfg.num_train_timesteps;
  let timesteps: number[];
  switch (cfg.timestep_spacing) {
    case 'linspace':
      timesteps = linspace(0, T - 1, n + 1).map(roundHalfEven).reverse().slice(0, n);
      break;
    case 'leading': {
      const ratio = Math.floor(T / (n + 1));
      timesteps = Array.from({ length: n + 1 }, (_, i) => roundHalfEven(i * ratio))
        .reverse()
        .slice(0, n)
        .map((t) => t + cfg.steps_offset);
      break;
    }
    case 'trailing':
      timesteps = arange(T, 0, -T / n).map((v) => roundHalfEven(v) - 1);
      break;
  }
  let sigmas: number[];
  if (cfg.use_karras_sigmas) {
    const tab = table.sigmas;
    sigmas = karrasSigmas(tab[0], tab[tab.length - 1], n);
    timesteps = sigmas.map((s) => roundHalfEven(sigmaToT(s, table.logSigmas)));
  } else {
    sigmas = timesteps.map((t) => interpUnitGrid(t, table.sigmas));
  }
  const last = cfg.final_sigmas_type === 'zero' ? 0 : table.sigmas[0];
  return { timesteps, sigmas: [...sigmas.map(f), last] };
}
