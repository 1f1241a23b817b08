/**
 * Group norm (optionally with fused SiLU) and layer norm. Both accumulate in f32 on f32 and f16 storage and compute
 * the biased variance two-pass around a shift: every value is first taken relative to the first element of its group
 * or row (exact for nearby values), so a large common offset (mean 50, std 0.01) loses nothing, and the mean of the
 * deviations is small enough for f32 to hold it precisely.
 *
 * Group norm of a large group runs as two dispatches: `stats` gives each workgroup one chunk of a group and writes the
 * chunk's (mean, M2) of the shifted values; `apply` combines a group's chunk statistics (Chan et al.) and normalises
 * its own chunk channel by channel. A group that fits in one chunk runs as one `fused` dispatch. Tensors above the
 * binding limit are processed in windows of whole groups.
 */
import {
  type Binding,
  type DType,
  type Device,
  type Kernel,
  LimitError,
  ParameterError,
  ShapeError,
  type Tensor,
  UnsupportedError,
  checkFloat,
} from '@sd-webgpu/tensor';
import {
  type ReduceMode, reduceMode, reductionEnables, reductionInit, reductionLanes, reductionParams, reductionWgsl,
} from './reduce.js';
import { kernelRow } from './table.js';

export interface GroupNormOptions {
  groups: number;
  eps: number;
  /** Apply SiLU to the normalised output (ResnetBlock's norm → SiLU). */
  silu?: boolean;
}

export interface LayerNormOptions {
  eps: number;
}

export type GroupNormPass = 'stats' | 'apply' | 'fused';

export interface GroupNormVariant {
  dtype: 'f32' | 'f16';
  /** Elements per load: 4 when the spatial size is a multiple of 4, else 1. */
  vec: 1 | 4;
  pass: GroupNormPass;
  /** Only meaningful for `apply` and `fused`. */
  silu: boolean;
  workgroup: number;
  /** How the workgroup reduces (./reduce.ts); `serial` on lavapipe. */
  reduce: ReduceMode;
}

export interface LayerNormVariant {
  dtype: 'f32' | 'f16';
  vec: 1 | 4;
  /** Lanes (the workgroup) that reduce one row. */
  lanes: number;
  reduce: ReduceMode;
}

/**
 * Chunking of group norm, from `npm run bench -- norm --tune` (CPU time, side by side) on lavapipe (2 shared
 * cores): chunks of 4096 and 16384 values were within noise, 1024 was 1.2-1.4x slower (per-workgroup overhead); one
 * workgroup per group was as fast on 2x320x64x64 (64 groups) but 1.4x slower on 1x128x256x256 (32 groups, so 32
 * workgroups). At most `maxChunks` chunks per group, since every `apply` workgroup combines all of its group's chunk
 * statistics. The workgroup size and reduction come from the kernel table's `norm` field (./table.ts): on lavapipe
 * one 8-lane subgroup was 1.5-3x faster than 64 lanes and 9-14x faster than 256 (every extra subgroup is a
 * coroutine switched at each barrier); GPU rows take 64/256 lanes.
 */
export const GROUP_NORM_TUNING = { chunk: 4096, maxChunks: 64 };

// ---------------------------------------------------------------------------------------------------------------
// WGSL pieces shared by the variants

const storageType = (dtype: 'f32' | 'f16', vec: 1 | 4) => (vec === 4 ? `vec4<${dtype}>` : dtype);

/** Load/convert helpers over binding `x` (and store into `y`): `V` is the f32 compute type of one load. */
function vecHelpers(dtype: 'f32' | 'f16', vec: 1 | 4, withStore: boolean): string {
  const v = vec === 4 ? 'vec4<f32>' : 'f32';
  return /* wgsl */ `
alias V = ${v};
fn ld(i: u32) -> V { return V(x[i]); }
fn first(i: u32) -> f32 { return f32(x[i]${vec === 4 ? '.x' : ''}); }
fn hsum(v: V) -> f32 { return ${vec === 4 ? 'dot(v, vec4<f32>(1.0))' : 'v'}; }
${withStore ? `fn st(i: u32, v: V) { y[i] = ${storageType(dtype, vec)}(v); }` : ''}`;
}

/** (mean, M2) of x[base + start .. base + end) (vector units) relative to the shift `k`, two-pass. */
const CHUNK_STATS = /* wgsl */ `
fn chunk_stats(base: u32, start: u32, end: u32, k: f32, lid: u32) -> vec2<f32> {
  var s = 0.0;
  for (var i = start + lid; i < end; i = i + WG_X) { s = s + hsum(ld(base + i) - V(k)); }
  let n = f32((end - start) * VEC);
  let mean = wg_sum(s, lid) / n;
  var m2 = 0.0;
  for (var i = start + lid; i < end; i = i + WG_X) {
    let d = ld(base + i) - V(k) - V(mean);
    m2 = m2 + hsum(d * d);
  }
  return vec2<f32>(mean, wg_sum(m2, lid));
}`;

/** Normalises x[base + start .. base + end) of one group, one channel segment at a time. */
const APPLY_RANGE = /* wgsl */ `
fn apply_range(base: u32, start: u32, end: u32, k: f32, mean: f32, rstd: f32, ch0: u32, lid: u32) {
  var seg = start;
  loop {
    if (seg >= end) { break; }
    let c = seg / params.hw;
    let seg_end = min(end, (c + 1u) * params.hw);
    let a = f32(weight[ch0 + c]) * rstd;
    let b = f32(bias[ch0 + c]);
    for (var i = seg + lid; i < seg_end; i = i + WG_X) {
      var v = (ld(base + i) - V(k) - V(mean)) * a + V(b);
      if (SILU) { v = v / (V(1.0) + exp(-v)); }
      st(base + i, v);
    }
    seg = seg_end;
  }
}`;

/** Kernel-name suffix of a reduction (none for lavapipe's `serial`, whose names stay what they were). */
const redTag = (reduce: ReduceMode) => (reduce === 'serial' ? '' : `_${reduce}`);

const groupNormCache = new Map<string, Kernel>();

/** Descriptor of one group-norm pass (memoized: the same object for the same variant). */
export function groupNormKernel(variant: GroupNormVariant): Kernel {
  const { dtype, vec, pass, silu, workgroup, reduce } = variant;
  const name = `group_norm_${pass}_${dtype}_v${vec}${pass !== 'stats' && silu ? '_silu' : ''}_wg${workgroup}${redTag(reduce)}`;
  const hit = groupNormCache.get(name);
  if (hit) return hit;
  const xType = `array<${storageType(dtype, vec)}>`;
  const bindings =
    pass === 'stats'
      ? [
          { name: 'x', type: xType, access: 'read' as const },
          { name: 'stats', type: 'array<vec2<f32>>', access: 'read_write' as const },
        ]
      : [
          { name: 'x', type: xType, access: 'read' as const },
          { name: 'weight', type: `array<${dtype}>`, access: 'read' as const },
          { name: 'bias', type: `array<${dtype}>`, access: 'read' as const },
          ...(pass === 'apply' ? [{ name: 'stats', type: 'array<vec2<f32>>', access: 'read' as const }] : []),
          { name: 'y', type: xType, access: 'read_write' as const },
        ];
  const main =
    pass === 'stats'
      ? /* wgsl */ `
@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32${reductionParams(reduce)}) {
  ${reductionInit(reduce)}
  let base = wid.y * params.len;
  let start = wid.x * params.chunk;
  let st = chunk_stats(base, start, min(start + params.chunk, params.len), first(base), lid);
  if (lid == 0u) { stats[wid.y * params.nchunks + wid.x] = st; }
}`
      : pass === 'apply'
        ? /* wgsl */ `
@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32${reductionParams(reduce)}) {
  ${reductionInit(reduce)}
  let base = wid.y * params.len;
  // Combine the group's chunk statistics (every lane does the same uniform loads): Chan's parallel formula.
  var mean = 0.0;
  for (var c = 0u; c < params.nchunks; c = c + 1u) {
    let n = f32(min(params.chunk, params.len - c * params.chunk)); // in loads: the ratio is what counts
    mean = mean + n * stats[wid.y * params.nchunks + c].x;
  }
  let total = f32(params.len * VEC);
  mean = mean / f32(params.len);
  var m2 = 0.0;
  for (var c = 0u; c < params.nchunks; c = c + 1u) {
    let n = f32(min(params.chunk, params.len - c * params.chunk) * VEC);
    let s = stats[wid.y * params.nchunks + c];
    m2 = m2 + s.y + n * (s.x - mean) * (s.x - mean);
  }
  let rstd = 1.0 / sqrt(m2 / total + params.eps);
  let start = wid.x * params.chunk;
  let ch0 = ((params.group0 + wid.y) % params.groups) * params.cpg;
  apply_range(base, start, min(start + params.chunk, params.len), first(base), mean, rstd, ch0, lid);
}`
        : /* wgsl */ `
@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32${reductionParams(reduce)}) {
  ${reductionInit(reduce)}
  let g = wid.x + wid.y * params.gx;
  if (g >= params.ngroups) { return; }
  let base = g * params.len;
  let k = first(base);
  let st = chunk_stats(base, 0u, params.len, k, lid);
  let rstd = 1.0 / sqrt(st.y / f32(params.len * VEC) + params.eps);
  let ch0 = ((params.group0 + g) % params.groups) * params.cpg;
  apply_range(base, 0u, params.len, k, st.x, rstd, ch0, lid);
}`;
  const kernel: Kernel = {
    name,
    bindings,
    uniforms: [
      { name: 'len', type: 'u32' },
      { name: 'chunk', type: 'u32' },
      { name: 'nchunks', type: 'u32' },
      { name: 'hw', type: 'u32' },
      { name: 'cpg', type: 'u32' },
      { name: 'groups', type: 'u32' },
      { name: 'group0', type: 'u32' },
      { name: 'ngroups', type: 'u32' },
      { name: 'gx', type: 'u32' },
      { name: 'eps', type: 'f32' },
    ],
    workgroupSize: [workgroup],
    enables: [...(dtype === 'f16' ? ['f16' as const] : []), ...reductionEnables(reduce)],
    source: [
      `const VEC: u32 = ${vec}u;\nconst SILU: bool = ${silu};`,
      vecHelpers(dtype, vec, pass !== 'stats'),
      reductionWgsl(reduce),
      CHUNK_STATS,
      pass === 'stats' ? '' : APPLY_RANGE,
      main,
    ].join('\n'),
  };
  groupNormCache.set(name, kernel);
  return kernel;
}

function checkAffine(op: string, t: Tensor, name: string, c: number, dtype: DType): void {
  if (t.rank !== 1 || t.shape[0] !== c) throw new ShapeError(op, `${name} must be [${c}]`, [t.shape]);
  if (t.dtype !== dtype) throw new UnsupportedError(op, `${name} is ${t.dtype} but x is ${dtype}`);
}

function checkEps(op: string, eps: number): void {
  if (!Number.isFinite(eps) || eps < 0) throw new ParameterError(op, 'eps', `must be a finite number ≥ 0, got ${eps}`);
}

/** y = (x - μ_g) / sqrt(σ²_g + eps) · weight[c] + bias[c] (then SiLU), x `[N, C, ...spatial]`, groups of C/groups consecutive channels. */
export function groupNorm(x: Tensor, weight: Tensor, bias: Tensor, opts: GroupNormOptions): Tensor {
  const op = 'groupNorm';
  const { groups, eps, silu = false } = opts;
  checkFloat(op, x.dtype);
  const dtype = x.dtype as 'f32' | 'f16';
  if (x.rank < 2) throw new ShapeError(op, 'x must be [N, C, ...spatial]', [x.shape]);
  const [n, c] = x.shape as [number, number];
  if (!Number.isInteger(groups) || groups < 1 || c % groups !== 0) {
    throw new ParameterError(op, 'groups', `must be a positive divisor of the channel count ${c}, got ${groups}`);
  }
  checkEps(op, eps);
  checkAffine(op, weight, 'weight', c, dtype);
  checkAffine(op, bias, 'bias', c, dtype);
  const device = x.device;
  if (x.size === 0) return device.empty(x.shape, dtype);
  const hw = x.size / (n * c);
  const vec: 1 | 4 = hw % 4 === 0 ? 4 : 1;
  const cpg = c / groups;
  const len = (cpg * hw) / vec; // one group, in loads
  const ngroups = n * groups;
  const gBytes = (len * vec * x.byteLength) / x.size;
  const windows = groupWindows(device, op, x, ngroups, gBytes);
  const max = device.limits.maxComputeWorkgroupsPerDimension;
  const nchunks = Math.min(GROUP_NORM_TUNING.maxChunks, Math.ceil((len * vec) / GROUP_NORM_TUNING.chunk));
  const chunk = Math.ceil(len / nchunks);
  const shape = kernelRow(device).norm;
  const reduce = reduceMode(shape, device.features.subgroups);
  const workgroup = reductionLanes(shape, chunk);
  if (nchunks > 1 && windows.some(([g0, g1]) => g1 - g0 > max)) {
    throw new LimitError(op, `more than ${max} groups per dispatch (${x.describe()}, ${groups} groups)`);
  }
  const y = device.empty(x.shape, dtype);
  for (const [g0, g1] of windows) {
    const xWin = window(x, g0, g1, gBytes);
    const yWin = window(y, g0, g1, gBytes);
    const count = g1 - g0;
    const base = { len, chunk, nchunks, hw: hw / vec, cpg, groups, group0: g0, ngroups: count, gx: 1, eps };
    if (nchunks === 1) {
      const gx = Math.min(count, max);
      const kernel = groupNormKernel({ dtype, vec, pass: 'fused', silu, workgroup, reduce });
      device.run(kernel, {
        bindings: { x: xWin, weight, bias, y: yWin },
        uniforms: { ...base, chunk: len, gx },
        workgroups: [gx, Math.ceil(count / gx)],
      });
      continue;
    }
    device.scope(() => {
      const stats = device.empty([count * nchunks, 2], 'f32');
      device.run(groupNormKernel({ dtype, vec, pass: 'stats', silu: false, workgroup, reduce }), {
        bindings: { x: xWin, stats },
        uniforms: base,
        workgroups: [nchunks, count],
      });
      device.run(groupNormKernel({ dtype, vec, pass: 'apply', silu, workgroup, reduce }), {
        bindings: { x: xWin, weight, bias, stats, y: yWin },
        uniforms: base,
        workgroups: [nchunks, count],
      });
    });
  }
  return y;
}

/** Splits [0, ngroups) into windows of whole groups whose bindings fit the device limit at aligned offsets. */
function groupWindows(device: Device, op: string, x: Tensor, ngroups: number, groupBytes: number): [number, number][] {
  const limit = device.limits.maxStorageBufferBindingSize;
  if (x.byteLength <= limit) return [[0, ngroups]];
  const align = device.limits.minStorageBufferOffsetAlignment;
  let per = Math.floor(limit / groupBytes);
  while (per > 0 && (per * groupBytes) % align !== 0) per--;
  if (per === 0) {
    throw new LimitError(op, `${x.describe()}: one group is ${groupBytes} bytes; windows of whole groups at ` +
      `${align}-byte aligned offsets do not fit maxStorageBufferBindingSize ${limit}`);
  }
  const out: [number, number][] = [];
  for (let g = 0; g < ngroups; g += per) out.push([g, Math.min(ngroups, g + per)]);
  return out;
}

/** The bytes of groups [g0, g1) as a binding (the whole tensor when it covers it). */
function window(t: Tensor, g0: number, g1: number, groupBytes: number): Binding {
  if (g0 === 0 && g1 * groupBytes === t.byteLength) return t;
  return { tensor: t, offset: g0 * groupBytes, size: (g1 - g0) * groupBytes };
}

// ---------------------------------------------------------------------------------------------------------------
// Layer norm

const layerNormCache = new Map<string, Kernel>();

export function layerNormKernel(variant: LayerNormVariant): Kernel {
  const { dtype, vec, lanes, reduce } = variant;
  const name = `layer_norm_${dtype}_v${vec}_wg${lanes}${redTag(reduce)}`;
  const hit = layerNormCache.get(name);
  if (hit) return hit;
  const xType = `array<${storageType(dtype, vec)}>`;
  const wType = `array<${storageType(dtype, vec)}>`;
  const kernel: Kernel = {
    name,
    bindings: [
      { name: 'x', type: xType, access: 'read' },
      { name: 'weight', type: wType, access: 'read' },
      { name: 'bias', type: wType, access: 'read' },
      { name: 'y', type: xType, access: 'read_write' },
    ],
    uniforms: [
      { name: 'rows', type: 'u32' },
      { name: 'per_wg', type: 'u32' },
      { name: 'dim', type: 'u32' },
      { name: 'eps', type: 'f32' },
    ],
    workgroupSize: [lanes],
    enables: [...(dtype === 'f16' ? ['f16' as const] : []), ...reductionEnables(reduce)],
    source: [
      `const VEC: u32 = ${vec}u;`,
      vecHelpers(dtype, vec, true),
      reductionWgsl(reduce),
      /* wgsl */ `
@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32${reductionParams(reduce)}) {
  ${reductionInit(reduce)}
  // This workgroup's rows, one after the other (uniform bounds: the barriers in wg_sum stay in uniform flow).
  let row0 = (wid.x + wid.y * nwg.x) * params.per_wg;
  let row1 = min(row0 + params.per_wg, params.rows);
  let n = f32(params.dim * VEC);
  for (var row = row0; row < row1; row = row + 1u) {
    let base = row * params.dim;
    let k = first(base);
    var s = 0.0;
    for (var i = lid; i < params.dim; i = i + WG_X) { s = s + hsum(ld(base + i) - V(k)); }
    let mean = wg_sum(s, lid) / n;
    var m2 = 0.0;
    for (var i = lid; i < params.dim; i = i + WG_X) {
      let d = ld(base + i) - V(k) - V(mean);
      m2 = m2 + hsum(d * d);
    }
    let rstd = 1.0 / sqrt(wg_sum(m2, lid) / n + params.eps);
    for (var i = lid; i < params.dim; i = i + WG_X) {
      st(base + i, (ld(base + i) - V(k) - V(mean)) * rstd * V(weight[i]) + V(bias[i]));
    }
  }
}`,
    ].join('\n'),
  };
  layerNormCache.set(name, kernel);
  return kernel;
}

/** Layer norm over the last dimension: y = (x - μ) / sqrt(σ² + eps) · weight + bias, weight/bias `[D]`. */
export function layerNorm(x: Tensor, weight: Tensor, bias: Tensor, opts: LayerNormOptions): Tensor {
  const op = 'layerNorm';
  checkFloat(op, x.dtype);
  const dtype = x.dtype as 'f32' | 'f16';
  if (x.rank < 1) throw new ShapeError(op, 'x must have at least one dimension', [x.shape]);
  const d = x.shape[x.rank - 1]!;
  checkEps(op, opts.eps);
  checkAffine(op, weight, 'weight', d, dtype);
  checkAffine(op, bias, 'bias', d, dtype);
  const device = x.device;
  if (x.byteLength > device.limits.maxStorageBufferBindingSize) {
    throw new LimitError(op, `${x.describe()} is larger than maxStorageBufferBindingSize ${device.limits.maxStorageBufferBindingSize}`);
  }
  const y = device.empty(x.shape, dtype);
  if (x.size === 0) return y;
  const vec: 1 | 4 = d % 4 === 0 ? 4 : 1;
  const rows = x.size / d;
  const shape = kernelRow(device).norm;
  const lanes = reductionLanes(shape, d / vec);
  const perWg = shape.rows;
  device.run(layerNormKernel({ dtype, vec, lanes, reduce: reduceMode(shape, device.features.subgroups) }), {
    bindings: { x, weight, bias, y },
    uniforms: { rows, per_wg: perWg, dim: d / vec, eps: opts.eps },
    workgroups: [Math.ceil(rows / perWg)],
  });
  return y;
}
