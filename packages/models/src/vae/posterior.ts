/**
 * The VAE encoder's latent distribution (diffusers DiagonalGaussianDistribution): the quant_conv output `moments
 * [B, 2L, h, w]` splits along channels into `mean = moments[:, :L]` and `logvar = clamp(moments[:, L:], -30, 20)`,
 * and `std = exp(0.5 · logvar)`.
 *
 * The op contract (docs/ops.md) has no exp or clamp, so this one small model-specific kernel computes all three
 * outputs in one pass over the moments (f32 maths on f16 storage too). `diagonalGaussianReference` is its float64
 * CPU reference.
 */
import { type DType, type Kernel, LimitError, ShapeError, type Tensor, UnsupportedError } from '@sd-webgpu/tensor';

/** diffusers' clamp of the log-variance. */
export const LOGVAR_MIN = -30;
export const LOGVAR_MAX = 20;

export interface Posterior {
  /** `[B, L, h, w]` */
  mean: Tensor;
  /** `[B, L, h, w]`, clamped to [-30, 20]. */
  logvar: Tensor;
  /** `[B, L, h, w]` = exp(0.5 · logvar). */
  std: Tensor;
}

const WG = 64;
const kernels = new Map<DType, Kernel>();

/** Kernel descriptor for one storage dtype (f32 or f16). */
export function diagonalGaussianKernel(dtype: 'f32' | 'f16'): Kernel {
  let k = kernels.get(dtype);
  if (k) return k;
  const arr = `array<${dtype}>`;
  k = {
    name: `vae_diagonal_gaussian_${dtype}`,
    bindings: [
      { name: 'moments', type: arr, access: 'read' },
      { name: 'mean', type: arr, access: 'read_write' },
      { name: 'logvar', type: arr, access: 'read_write' },
      { name: 'stddev', type: arr, access: 'read_write' }, // `std` is a reserved word in WGSL
    ],
    uniforms: [
      { name: 'count', type: 'u32' },
      { name: 'plane', type: 'u32' },
    ],
    workgroupSize: [WG],
    enables: dtype === 'f16' ? ['f16'] : [],
    source: /* wgsl */ `
// Element i = (b, r) with r < plane = L·h·w: mean from moments[b, r], logvar from moments[b, plane + r].
@compute @workgroup_size(WG_X)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG_X;
  if (i >= params.count) { return; }
  let b = i / params.plane;
  let src = i + b * params.plane;
  mean[i] = moments[src];
  let lv = clamp(f32(moments[src + params.plane]), ${LOGVAR_MIN.toFixed(1)}, ${LOGVAR_MAX.toFixed(1)});
  logvar[i] = ${dtype}(lv);
  stddev[i] = ${dtype}(exp(0.5 * lv));
}`,
  };
  kernels.set(dtype, k);
  return k;
}

/** mean, clamped logvar and std of `moments [B, 2L, h, w]` (new tensors owned by the caller). */
export function diagonalGaussian(moments: Tensor): Posterior {
  if (moments.rank !== 4 || moments.shape[1]! % 2 !== 0) {
    throw new ShapeError('diagonalGaussian', `expected moments [B, 2L, h, w], got ${moments.describe()}`);
  }
  const dtype = moments.dtype;
  if (dtype !== 'f32' && dtype !== 'f16') throw new UnsupportedError('diagonalGaussian', `moments must be f32 or f16, got ${dtype}`);
  const device = moments.device;
  if (moments.byteLength > device.limits.maxStorageBufferBindingSize) {
    throw new LimitError(
      'diagonalGaussian',
      `moments ${moments.describe()} (${moments.byteLength} bytes) exceed the ${device.limits.maxStorageBufferBindingSize}-byte binding limit`,
    );
  }
  const [b, c2, h, w] = moments.shape as [number, number, number, number];
  const shape = [b, c2 / 2, h, w];
  const mean = device.empty(shape, dtype);
  const logvar = device.empty(shape, dtype);
  const std = device.empty(shape, dtype);
  const count = mean.size;
  if (count > 0) {
    device.run(diagonalGaussianKernel(dtype), {
      bindings: { moments, mean, logvar, stddev: std },
      uniforms: { count, plane: (c2 / 2) * h * w },
      workgroups: [Math.ceil(count / WG)],
    });
  }
  return { mean, logvar, std };
}

/** Float64 reference of `diagonalGaussian` over host data (`shape` = the moments' `[B, 2L, h, w]`). */
export function diagonalGaussianReference(
  moments: ArrayLike<number>,
  shape: readonly number[],
): { mean: Float64Array; logvar: Float64Array; std: Float64Array } {
  const [b, c2, h, w] = shape as [number, number, number, number];
  const plane = (c2 / 2) * h * w;
  const n = b * plane;
  const mean = new Float64Array(n);
  const logvar = new Float64Array(n);
  const std = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const src = i + Math.floor(i / plane) * plane;
    mean[i] = moments[src]!;
    logvar[i] = Math.min(LOGVAR_MAX, Math.max(LOGVAR_MIN, moments[src + plane]!));
    std[i] = Math.exp(0.5 * logvar[i]!);
  }
  return { mean, logvar, std };
}
