/**
 * Softmax over the last dimension, f32 accumulation on f32 and f16 storage. Each row is reduced by a group of lanes
 * in three sweeps (max, Σ exp(x - max), write), so inputs up to ±6000 and beyond do not overflow.
 *
 * Excluded entries come out exactly 0 and take no part in the max or the sum: with `causal`, column j of row i
 * (i = index within the second-to-last dimension) for j > i; always, entries ≤ -FLT_MAX, i.e. -inf or float32 min
 * (what CLIP's additive masks leave above the diagonal). A row with nothing left is all zeros (torch gives NaN).
 */
import { type Kernel, LimitError, ShapeError, type Tensor, checkFloat } from '@sd-webgpu/tensor';
import {
  type ReduceMode, reduceMode, reductionEnables, reductionInit, reductionLanes, reductionParams, reductionWgsl,
} from './reduce.js';
import { kernelRow } from './table.js';

export interface SoftmaxOptions {
  causal?: boolean;
}

export interface SoftmaxVariant {
  dtype: 'f32' | 'f16';
  /** Elements per load: 4 when the row length is a multiple of 4, else 1. */
  vec: 1 | 4;
  causal: boolean;
  /** Lanes (the workgroup) that reduce one row. */
  lanes: number;
  /** How the workgroup reduces (./reduce.ts); `serial` on lavapipe. */
  reduce: ReduceMode;
}

const cache = new Map<string, Kernel>();

/** Descriptor of one softmax variant (memoized: the same object for the same variant). */
export function softmaxKernel(variant: SoftmaxVariant): Kernel {
  const { dtype, vec, causal, lanes, reduce } = variant;
  const name = `softmax_${dtype}_v${vec}${causal ? '_causal' : ''}_wg${lanes}${reduce === 'serial' ? '' : `_${reduce}`}`;
  const hit = cache.get(name);
  if (hit) return hit;
  const st = vec === 4 ? `vec4<${dtype}>` : dtype;
  const v4 = vec === 4;
  const kernel: Kernel = {
    name,
    bindings: [
      { name: 'x', type: `array<${st}>`, access: 'read' },
      { name: 'y', type: `array<${st}>`, access: 'read_write' },
    ],
    uniforms: [
      { name: 'rows', type: 'u32' },
      { name: 'per_wg', type: 'u32' },
      { name: 'cols', type: 'u32' },
      { name: 'mrows', type: 'u32' },
    ],
    workgroupSize: [lanes],
    enables: [...(dtype === 'f16' ? ['f16' as const] : []), ...reductionEnables(reduce)],
    source: /* wgsl */ `
alias V = ${v4 ? 'vec4<f32>' : 'f32'};
alias U = ${v4 ? 'vec4<u32>' : 'u32'};
const VEC: u32 = ${vec}u;
const CAUSAL: bool = ${causal};
const LANE_OFS: U = ${v4 ? 'vec4<u32>(0u, 1u, 2u, 3u)' : '0u'};
/** -FLT_MAX: entries at or below it (-inf, float32 min) are excluded. */
const NEG: f32 = -3.4028234663852886e38;

fn hmax(v: V) -> f32 { return ${v4 ? 'max(max(v.x, v.y), max(v.z, v.w))' : 'v'}; }
fn hsum(v: V) -> f32 { return ${v4 ? 'dot(v, vec4<f32>(1.0))' : 'v'}; }

${reductionWgsl(reduce)}

@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32${reductionParams(reduce)}) {
  ${reductionInit(reduce)}
  // This workgroup's rows, one after the other (uniform bounds: the barriers stay in uniform control flow).
  let row0 = (wid.x + wid.y * nwg.x) * params.per_wg;
  let row1 = min(row0 + params.per_wg, params.rows);
  for (var row = row0; row < row1; row = row + 1u) {
    let base = row * params.cols;
    var last = params.cols * VEC - 1u;
    if (CAUSAL) { last = min(last, row % params.mrows); }
    var m = NEG;
    for (var i = lid; i < params.cols; i = i + WG_X) {
      let v = V(x[base + i]);
      let keep = (U(i * VEC) + LANE_OFS <= U(last)) & (v > V(NEG));
      m = max(m, hmax(select(V(NEG), v, keep)));
    }
    m = wg_max(m, lid);
    var s = 0.0;
    for (var i = lid; i < params.cols; i = i + WG_X) {
      let v = V(x[base + i]);
      let keep = (U(i * VEC) + LANE_OFS <= U(last)) & (v > V(NEG));
      s = s + hsum(select(V(0.0), exp(v - V(m)), keep));
    }
    s = wg_sum(s, lid);
    let inv = select(0.0, 1.0 / s, s > 0.0);
    for (var i = lid; i < params.cols; i = i + WG_X) {
      let v = V(x[base + i]);
      let keep = (U(i * VEC) + LANE_OFS <= U(last)) & (v > V(NEG));
      y[base + i] = ${st}(select(V(0.0), exp(v - V(m)) * inv, keep));
    }
  }
}`,
  };
  cache.set(name, kernel);
  return kernel;
}

/** Softmax over the last dimension; see the file comment for `causal` and for -inf / float32-min entries. */
export function softmax(x: Tensor, opts: SoftmaxOptions = {}): Tensor {
  const op = 'softmax';
  checkFloat(op, x.dtype);
  if (x.rank < 1) throw new ShapeError(op, 'x must have at least one dimension', [x.shape]);
  const device = x.device;
  if (x.byteLength > device.limits.maxStorageBufferBindingSize) {
    throw new LimitError(op, `${x.describe()} is larger than maxStorageBufferBindingSize ${device.limits.maxStorageBufferBindingSize}`);
  }
  const dtype = x.dtype as 'f32' | 'f16';
  const y = device.empty(x.shape, dtype);
  const cols = x.shape[x.rank - 1]!;
  if (x.size === 0) return y;
  const vec: 1 | 4 = cols % 4 === 0 ? 4 : 1;
  const rows = x.size / cols;
  const causal = opts.causal ?? false;
  // Launch shape from the kernel table (./table.ts `softmax`): on lavapipe one 8-lane subgroup per workgroup and 8
  // rows per workgroup (16x1024x77: 8 rows 1.5x faster than 1; 16 lanes 1.5x slower than 8).
  const shape = kernelRow(device).softmax;
  const lanes = reductionLanes(shape, cols / vec);
  const perWg = shape.rows;
  device.run(softmaxKernel({ dtype, vec, causal, lanes, reduce: reduceMode(shape, device.features.subgroups) }), {
    bindings: { x, y },
    uniforms: { rows, per_wg: perWg, cols: cols / vec, mrows: x.rank >= 2 ? x.shape[x.rank - 2]! : 1 },
    workgroups: [Math.ceil(rows / perWg)],
  });
  return y;
}
