import { type Device, type Tensor, ParameterError, ShapeError } from '@sd-webgpu/tensor';
import { silu, timestepEmbedding } from '@sd-webgpu/kernels';
import { Linear } from '../nn/linear.js';
import type { WeightScope } from '../weights/scope.js';

/**
 * diffusers `Timesteps(dim, flip_sin_to_cos=True, downscale_freq_shift=0)` (the UNet's `time_proj`, no weights):
 * `[cos(t·f), sin(t·f)]` rows computed on the host as diffusers does in f32, uploaded as `dtype`.
 */
export class Timesteps {
  constructor(readonly dim: number) {}

  /** One row per timestep → `[timesteps.length, dim]`. */
  forward(device: Device, timesteps: readonly number[], dtype: 'f32' | 'f16'): Tensor {
    return timestepEmbedding(device, timesteps, this.dim, dtype);
  }
}

/** diffusers TimestepEmbedding (act 'silu'): `linear_2(silu(linear_1(t_emb)))`. */
export class TimestepEmbedding {
  readonly linear_1: Linear;
  readonly linear_2: Linear;

  constructor(scope: WeightScope, readonly inChannels: number, readonly timeEmbedDim: number) {
    this.linear_1 = new Linear(scope.pp('linear_1'), inChannels, timeEmbedDim);
    this.linear_2 = new Linear(scope.pp('linear_2'), timeEmbedDim, timeEmbedDim);
  }

  /** t_emb `[B, in]` → `[B, timeEmbedDim]`. */
  forward(tEmb: Tensor): Tensor {
    if (tEmb.rank !== 2 || tEmb.shape[1] !== this.inChannels) {
      throw new ShapeError('TimestepEmbedding', `expected t_emb [B, ${this.inChannels}], got ${tEmb.describe()}`);
    }
    return tEmb.device.scope(() => this.linear_2.forward(silu(this.linear_1.forward(tEmb))));
  }
}

/**
 * The per-sample timesteps of a UNet call: one number is broadcast to the batch (diffusers `timesteps.expand(B)`),
 * a list must have one entry per sample. Values must be finite and non-negative.
 */
export function batchTimesteps(timestep: number | readonly number[], batch: number): number[] {
  const list = typeof timestep === 'number' ? Array.from({ length: batch }, () => timestep) : [...timestep];
  if (list.length !== batch) {
    throw new ParameterError('UNet2DConditionModel', 'timestep', `has ${list.length} entries for a batch of ${batch}`);
  }
  list.forEach((t, i) => {
    if (!Number.isFinite(t) || t < 0) throw new ParameterError('UNet2DConditionModel', 'timestep', `entry ${i} is ${t}`);
  });
  return list;
}
