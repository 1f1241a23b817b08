/**
 * Sinusoidal timestep embedding of diffusers `Timesteps(dim, flip_sin_to_cos=True, downscale_freq_shift=0)`,
 * computed on the host (it is a few hundred numbers per step and WGSL sin/cos are only good to ~2^-11).
 *
 * diffusers evaluates everything in float32: `freq[i] = exp(f32(-ln 10000) · i / half)` and the argument `t · freq`
 * rounded to f32 before cos/sin. A 1-ulp difference in a frequency moves the argument at t ≈ 999 by ~6e-5, so we
 * reproduce torch's f32 table bit for bit: its CPU `exp` is SLEEF's `expf_u10` (AVX2, fused multiply-add), emulated
 * below in f64 with one f32 rounding per step. cos/sin are then taken in float64 of the f32 argument, which lands
 * within ~1e-7 of diffusers' result (README allows 2e-4).
 */
import { type Device, ParameterError, type Tensor, checkFloat } from '@sd-webgpu/tensor';

const f = Math.fround;

/** f32 fused multiply-add: a·b is exact in f64 for f32 inputs, then one rounding (a double rounding is possible but rare). */
const fma = (a: number, b: number, c: number) => f(a * b + c);

/** Round half to even, as `cvtps2dq` does under the default rounding mode. */
function rint(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** SLEEF `expf_u10` (the AVX2 kernel behind torch's CPU `exp` for f32), step by step in f32; for |d| < 88. */
export function sleefExpf(d: number): number {
  d = f(d);
  const q = rint(f(d * f(1.442695040888963407359924681001892137426645954152985934135449406931)));
  let s = fma(q, f(-0.693145751953125), d);
  s = fma(q, f(-1.428606765330187045e-6), s);
  let u = f(0.000198527617612853646278381);
  u = fma(u, s, f(0.00139304355252534151077271));
  u = fma(u, s, f(0.00833336077630519866943359));
  u = fma(u, s, f(0.0416664853692054748535156));
  u = fma(u, s, f(0.166666671633720397949219));
  u = fma(u, s, 0.5);
  u = f(1 + fma(f(s * s), u, s));
  return f(u * 2 ** q);
}

/** diffusers' f32 frequency table `exp(-ln(10000) · i / half)` for i < half, bit-identical to torch's. */
export function timestepFrequencies(dim: number): Float32Array {
  checkDim(dim);
  const half = dim / 2;
  const freqs = new Float32Array(half);
  const c = f(-Math.log(10000));
  for (let i = 0; i < half; i++) freqs[i] = sleefExpf(f(f(c * i) / half));
  return freqs;
}

/** `[timesteps.length, dim]` rows `[cos(t·freq), sin(t·freq)]` (cos first), as diffusers computes them. */
export function timestepEmbeddingHost(timesteps: readonly number[], dim: number): Float32Array {
  const freqs = timestepFrequencies(dim);
  const half = dim / 2;
  const out = new Float32Array(timesteps.length * dim);
  timesteps.forEach((t, r) => {
    if (!Number.isFinite(t)) throw new ParameterError('timestepEmbedding', 'timesteps', `entry ${r} is ${t}`);
    const tf = f(t);
    for (let i = 0; i < half; i++) {
      const arg = f(tf * freqs[i]!);
      out[r * dim + i] = Math.cos(arg);
      out[r * dim + half + i] = Math.sin(arg);
    }
  });
  return out;
}

/** The embedding uploaded as a `[timesteps.length, dim]` tensor of `dtype`. */
export function timestepEmbedding(device: Device, timesteps: readonly number[], dim: number, dtype: 'f32' | 'f16' = 'f32'): Tensor {
  checkFloat('timestepEmbedding', dtype);
  if (timesteps.length === 0) throw new ParameterError('timestepEmbedding', 'timesteps', 'is empty');
  return device.tensor(timestepEmbeddingHost(timesteps, dim), [timesteps.length, dim], dtype);
}

function checkDim(dim: number): void {
  if (!Number.isInteger(dim) || dim < 2 || dim % 2 !== 0) {
    throw new ParameterError('timestepEmbedding', 'dim', `must be an even integer >= 2, got ${dim}`);
  }
}
