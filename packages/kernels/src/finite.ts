/**
 * Non-finite detection without a readback per call: `markNonFinite(x, flag, step)` lowers `flag[0]` (a u32, start
 * 0xffffffff) to `step` when any element of `x` is NaN or ±Infinity. The denoising loop marks after every step and
 * reads the flag once at the end, so an overflow is reported with the first step it happened at.
 *
 * NaN is tested on the bits (exponent all ones), since WGSL implementations may assume floats are never NaN.
 */
import { type Kernel, ParameterError, type Tensor, UnsupportedError, checkFloat } from '@sd-webgpu/tensor';

const WG = 256;
const kernels = new Map<string, Kernel>();

function finiteKernel(dtype: 'f32' | 'f16'): Kernel {
  const name = `mark_non_finite_${dtype}`;
  let k = kernels.get(name);
  if (!k) {
    k = {
      name,
      bindings: [
        { name: 'x', type: `array<${dtype}>`, access: 'read' },
        { name: 'flag', type: 'array<atomic<u32>>', access: 'read_write' },
      ],
      uniforms: [{ name: 'n', type: 'u32' }, { name: 'step', type: 'u32' }],
      workgroupSize: [WG],
      enables: dtype === 'f16' ? ['f16'] : [],
      source: /* wgsl */ `
@compute @workgroup_size(WG_X)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG_X;
  if (i >= params.n) { return; }
  let bits = bitcast<u32>(f32(x[i]));
  if ((bits & 0x7f800000u) == 0x7f800000u) { atomicMin(&flag[0], params.step); }
}`,
    };
    kernels.set(name, k);
  }
  return k;
}

/** Lowers `flag[0]` to `step` if `x` holds a NaN or an infinity (recorded into the current batch; nothing is read). */
export function markNonFinite(x: Tensor, flag: Tensor, step: number): void {
  checkFloat('markNonFinite', x.dtype);
  if (flag.dtype !== 'u32' || flag.size !== 1) throw new UnsupportedError('markNonFinite', `flag must be one u32 (got ${flag.describe()})`);
  if (!Number.isInteger(step) || step < 0 || step >= 0xffffffff) throw new ParameterError('markNonFinite', 'step', `must be a u32 below 2^32-1 (got ${step})`);
  x.device.run(finiteKernel(x.dtype as 'f32' | 'f16'), {
    bindings: { x, flag },
    uniforms: { n: x.size, step },
    workgroups: [Math.ceil(x.size / WG)],
  });
}
