/**
 * The packed conv weight: `[O, I, kh, kw]` rearranged to `[I·kh·kw, O4·4]` (O4 = ceil(O/4), zero columns past O), so
 * that the conv kernel loads the 4 channels of a lane's vec4 group with one vec4 load per tap instead of four
 * scalar loads from four weight rows (~20 % faster on lavapipe). `conv2d` packs a plain weight on the fly (one cheap
 * dispatch); models can pack once at load time with `conv2dPackWeight` and drop the original.
 */
import { type Device, type Kernel, LimitError, type Tensor, checkFloat, ShapeError } from '@sd-webgpu/tensor';
import { balancedSplit, elementWindow } from './plan.js';

/** A conv weight packed by `conv2dPackWeight` (a plain object, so `scope()` sees the tensor inside). */
export interface PackedConv2dWeight {
  readonly kind: 'conv2d-packed-weight';
  /** `[I·kh·kw, ceil(O/4)·4]`. */
  readonly tensor: Tensor;
  /** The original `[O, I, kh, kw]`. */
  readonly shape: readonly [number, number, number, number];
}

export function isPackedConv2dWeight(w: unknown): w is PackedConv2dWeight {
  return typeof w === 'object' && w !== null && (w as PackedConv2dWeight).kind === 'conv2d-packed-weight';
}

const LANES = 64;
/** k values one pack invocation copies (fewer, heavier invocations: bench/conv2d.ts --tiles 'pack only'). */
const KSTEP = 16;
const cache = new Map<string, Kernel>();

/** Descriptor of the pack kernel (memoized per dtype): one invocation writes one value of the packed weight. */
export function conv2dPackKernel(dtype: 'f32' | 'f16'): Kernel {
  const name = `conv2d_pack_weight_${dtype}`;
  let k = cache.get(name);
  if (!k) {
    k = {
      name,
      bindings: [
        { name: 'w', type: `array<${dtype}>`, access: 'read' },
        { name: 'packed', type: `array<${dtype}>`, access: 'read_write' },
      ],
      uniforms: ['count', 'on', 'o0', 'cout', 'krow', 'kn', 'row', 'w_off', 'p_off'].map((n) => ({ name: n, type: 'u32' as const })),
      workgroupSize: [LANES],
      enables: dtype === 'f16' ? ['f16'] : [],
      source: /* wgsl */ `
const KSTEP: u32 = ${KSTEP}u;

// packed[p_off + kl·row + o] = w[o][k0 + kl] for o in [o0, o0 + on) (0 for the padding columns o ≥ cout) and
// kl in [0, kn); the w window starts at element (o0, k0). An invocation copies KSTEP consecutive k of one channel.
@compute @workgroup_size(WG_X)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG_X;
  if (i >= params.count) { return; }
  let ol = i % params.on;
  let k0 = (i / params.on) * KSTEP;
  let o = params.o0 + ol;
  let ok = o < params.cout;
  let src = params.w_off + ol * params.krow;
  for (var kl = k0; kl < min(k0 + KSTEP, params.kn); kl++) {
    let v = w[select(params.w_off, src + kl, ok)];
    packed[params.p_off + kl * params.row + o] = select(${dtype}(0.0), v, ok);
  }
}`,
    };
    cache.set(name, k);
  }
  return k;
}

/**
 * Packs `weight [O, I, kh, kw]` (records the dispatches; the caller owns the result). Weights larger than one
 * binding are packed in (output-channel range × kernel-row range) chunks. `exact`: for a weight kept for the model's
 * lifetime, an exactly sized buffer (a pool bucket would waste up to 25 %: ~140 MiB over SD 1.5's UNet).
 */
export function conv2dPackWeight(weight: Tensor, opts: { exact?: boolean } = {}): PackedConv2dWeight {
  checkFloat('conv2dPackWeight', weight.dtype);
  if (weight.rank !== 4) {
    throw new ShapeError('conv2dPackWeight', `weight must be [O, I, kh, kw] (rank 4), got rank ${weight.rank}`, [weight.shape]);
  }
  const device: Device = weight.device;
  const [o, i, kh, kw] = weight.shape as [number, number, number, number];
  const krow = i * kh * kw;
  const row = Math.ceil(o / 4) * 4;
  const packed = device.empty([krow, row], weight.dtype, { exact: opts.exact });
  const dtype = weight.dtype as 'f32' | 'f16';
  const bytes = dtype === 'f16' ? 2 : 4;
  const { maxStorageBufferBindingSize: limit, minStorageBufferOffsetAlignment: align } = device.limits;
  const cap = Math.floor((limit - align) / bytes);
  // Output chunks are whole packed rows; an input chunk of `on` weight rows × `kn` columns spans (on−1)·krow + kn.
  const rowsMax = Math.min(krow, Math.floor(cap / row));
  if (rowsMax < 1) {
    throw new LimitError('conv2dPackWeight', `a packed row of ${row} values does not fit maxStorageBufferBindingSize ${limit}`);
  }
  const kernel = conv2dPackKernel(dtype);
  for (const [k0, kn] of balancedSplit(krow, rowsMax)) {
    const out = elementWindow(packed, k0 * row, kn * row, align);
    const onMax = Math.floor((cap - kn) / krow) + 1;
    for (const [o0, on] of balancedSplit(row, onMax)) {
      const real = Math.max(0, Math.min(on, o - o0));
      const win = elementWindow(weight, Math.min(o0, o - 1) * krow + k0, real ? (real - 1) * krow + kn : 1, align);
      const count = Math.ceil(kn / KSTEP) * on;
      device.run(kernel, {
        bindings: { w: win.binding, packed: out.binding },
        uniforms: { count, on, o0, cout: o, krow, kn, row, w_off: win.off, p_off: out.off },
        workgroups: [Math.ceil(count / LANES)],
      });
    }
  }
  return { kind: 'conv2d-packed-weight', tensor: packed, shape: [o, i, kh, kw] };
}
