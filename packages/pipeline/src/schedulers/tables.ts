import type { SchedulerConfig } from './config.js';

/**
 * The training noise schedule shared by every scheduler: betas, ᾱ (alphas_cumprod) and the matching
 * sigma = sqrt((1-ᾱ)/ᾱ) table, all as the float32 values diffusers indexes (computed the way torch 1.13's
 * CPU kernels compute them, so the tables are bit-identical to `tables_sd1` in the fixtures).
 */

const f = Math.fround;

/**
 * `torch.linspace(start, end, steps, dtype=float32)` on CPU, bit-exact. torch's kernel computes
 * `step = (end - start) / (steps - 1)` in f32 and fills the first half forward from `start`
 * (`start + step*i`) and the second half backward from `end` (`end - step*(steps-1-i)`); the AVX2 build
 * does that per vector of 8 (`base = start + step*idx` once, then `base + k*step`), with the
 * multiply-adds fused. Elements past the last full pair of vectors take the scalar formula.
 */
export function torchLinspaceF32(start: number, end: number, steps: number): Float32Array {
  const out = new Float32Array(steps);
  if (steps === 0) return out;
  const s = f(start);
  const e = f(end);
  if (steps === 1) {
    out[0] = s;
    return out;
  }
  const step = f(f(e - s) / (steps - 1));
  const halfway = Math.floor(steps / 2);
  // fused multiply-add in f32: the f64 product of an f32 and a small integer is exact, one rounding after
  const at = (i: number) => (i < halfway ? f(s + step * i) : f(e - step * (steps - i - 1)));
  const vectorised = Math.floor(steps / 16) * 16; // cpu_serial_kernel_vec handles 2 vectors per iteration
  for (let idx = 0; idx < vectorised; idx += 8) {
    const base = at(idx);
    for (let k = 0; k < 8; k++) out[idx + k] = f(base + step * k);
  }
  for (let i = vectorised; i < steps; i++) out[i] = at(i);
  return out;
}

/** diffusers `betas_for_alpha_bar` (the Glide cosine schedule), computed in float64 then stored as f32. */
function cosineBetas(n: number): Float32Array {
  const alphaBar = (t: number) => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.min(1 - alphaBar((i + 1) / n) / alphaBar(i / n), 0.999);
  return out;
}

/** The f32 betas of a config (trained_betas, linear, scaled_linear or squaredcos_cap_v2). */
export function betasF32(cfg: SchedulerConfig): Float32Array {
  const n = cfg.num_train_timesteps;
  if (cfg.trained_betas) return Float32Array.from(cfg.trained_betas);
  switch (cfg.beta_schedule) {
    case 'linear':
      return torchLinspaceF32(cfg.beta_start, cfg.beta_end, n);
    case 'scaled_linear': {
      const b = torchLinspaceF32(Math.sqrt(cfg.beta_start), Math.sqrt(cfg.beta_end), n);
      for (let i = 0; i < n; i++) b[i] = f(b[i] * b[i]); // torch `** 2` is x*x in f32
      return b;
    }
    case 'squaredcos_cap_v2':
      return cosineBetas(n);
  }
}

/**
 * `torch.cumprod(1 - betas)` in f32. torch's CPU cumprod accumulates in double (`acc_type<float>` is double)
 * and rounds each running product to f32 on output; `1 - beta` itself is an f32 subtraction.
 */
export function alphasCumprodF32(betas: Float32Array): Float32Array {
  const out = new Float32Array(betas.length);
  let acc = 1;
  for (let i = 0; i < betas.length; i++) {
    acc *= f(1 - betas[i]);
    out[i] = acc;
  }
  return out;
}

/** The training schedule tables (values are f32 numbers; arithmetic on them is done in f64 by the schedulers). */
export class NoiseSchedule {
  readonly numTrainTimesteps: number;
  readonly betas: Float32Array;
  readonly alphasCumprod: Float32Array;
  /** ᾱ used past the final step (ᾱ[0], or 1 with set_alpha_to_one). */
  readonly finalAlphaCumprod: number;
  /** sqrt((1-ᾱ)/ᾱ) per training timestep, ascending (f32 ops as torch evaluates them). */
  readonly sigmas: Float32Array;
  /** log of `sigmas` (numpy f32 log), used to map sigmas back to timesteps. */
  readonly logSigmas: Float32Array;

  constructor(cfg: SchedulerConfig) {
    this.numTrainTimesteps = cfg.num_train_timesteps;
    this.betas = betasF32(cfg);
    this.alphasCumprod = alphasCumprodF32(this.betas);
    this.finalAlphaCumprod = cfg.set_alpha_to_one ? 1 : this.alphasCumprod[0];
    const n = this.alphasCumprod.length;
    this.sigmas = new Float32Array(n);
    this.logSigmas = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const a = this.alphasCumprod[i];
      this.sigmas[i] = Math.sqrt(f(f(1 - a) / a)); // stored to f32: sqrt rounds once
      this.logSigmas[i] = Math.log(this.sigmas[i]);
    }
  }

  /** ᾱ at an integer training timestep; negative timesteps give the final ᾱ (diffusers' `prev_timestep < 0`). */
  alphaBar(t: number): number {
    return t >= 0 ? this.alphasCumprod[t] : this.finalAlphaCumprod;
  }
}

/** Karras et al. (2022) noise levels, rho = 7, from sigmaMax down to sigmaMin (float64, n values). */
export function karrasSigmas(sigmaMin: number, sigmaMax: number, n: number): number[] {
  const rho = 7;
  const minInv = sigmaMin ** (1 / rho);
  const maxInv = sigmaMax ** (1 / rho);
  return linspaceUnit(n).map((r) => (maxInv + r * (minInv - maxInv)) ** rho);
}

/** np.linspace(0, 1, n) */
function linspaceUnit(n: number): number[] {
  if (n === 1) return [0];
  const step = 1 / (n - 1);
  return Array.from({ length: n }, (_, i) => (i === n - 1 ? 1 : i * step));
}

/**
 * diffusers `_sigma_to_t`: the fractional training timestep whose log-sigma matches, by linear
 * interpolation in log-sigma between the two neighbouring table entries.
 */
export function sigmaToT(sigma: number, logSigmas: ArrayLike<number>): number {
  const logSigma = Math.log(Math.max(sigma, 1e-10));
  const n = logSigmas.length;
  // low_idx = last index with log_sigma >= logSigmas[i] (the table is ascending), clipped to n-2
  let low = 0;
  for (let i = 0; i < n; i++) if (logSigma - logSigmas[i] >= 0) low = i;
  low = Math.min(low, n - 2);
  const lo = logSigmas[low];
  const hi = logSigmas[low + 1];
  const w = Math.min(Math.max((lo - logSigma) / (lo - hi), 0), 1);
  return (1 - w) * low + w * (low + 1);
}
