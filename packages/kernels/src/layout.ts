/**
 * Layout ops: copies that move elements without arithmetic. permute, slice, concat and cast are strided copies
 * through the elementwise engine (`runStrided`); nearest upsampling and embedding gather have their own small
 * kernels. All of them split into several dispatches over bound windows when a tensor exceeds one binding.
 */
import {
  BYTES_PER_ELEMENT, type DType, type Kernel, ParameterError, ShapeError, type Tensor, UnsupportedError, checkFloat,
} from '@sd-webgpu/tensor';
import { ITEMS, ITEMS_MAIN, type MapOp, contiguous, runStrided, whole } from './strided.js';
import { groups, makeWindow, splitBoxes, stridedSpan, windowAlignment } from './windows.js';

const COPY: MapOp = { name: 'copy', arity: 1, wgsl: 'x0', raw: true };
const CAST: MapOp = { name: 'cast', arity: 1, wgsl: 'x0' };
const WG = 64;

function normAxis(op: string, axis: number, rank: number): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) {
    throw new ParameterError(op, 'axis', `is ${axis}, expected an integer in [${-rank}, ${rank})`);
  }
  return axis < 0 ? axis + rank : axis;
}

/** `x` with its dims reordered: output dim d is input dim `perm[d]` (e.g. NCHW→NHWC is [0, 2, 3, 1]). */
export function permute(x: Tensor, perm: readonly number[]): Tensor {
  const sorted = [...perm].sort((a, b) => a - b);
  if (perm.length !== x.rank || sorted.some((p, i) => p !== i)) {
    throw new ParameterError('permute', 'perm', `[${perm.join(',')}] is not a permutation of the ${x.rank} dims of ${x.describe()}`);
  }
  const own = contiguous(x.shape);
  const shape = perm.map((p) => x.shape[p]!);
  const out = x.device.empty(shape, x.dtype);
  runStrided(COPY, shape, [{ tensor: x, strides: perm.map((p) => own[p]!), offset: 0 }], whole(out));
  return out;
}

/** `x` restricted to `[start, end)` along `axis`. */
export function slice(x: Tensor, axis: number, start: number, end: number): Tensor {
  const a = normAxis('slice', axis, x.rank);
  const dim = x.shape[a]!;
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || start > end || end > dim) {
    throw new ParameterError('slice', 'start/end', `[${start}, ${end}) is not a range inside dim ${a} of size ${dim} of ${x.describe()}`);
  }
  const own = contiguous(x.shape);
  const shape = x.shape.map((d, i) => (i === a ? end - start : d));
  const out = x.device.empty(shape, x.dtype);
  runStrided(COPY, shape, [{ tensor: x, strides: own, offset: start * own[a]! }], whole(out));
  return out;
}

/** Tensors joined along `axis`; all other dims and the dtype must agree. */
export function concat(tensors: readonly Tensor[], axis: number): Tensor {
  const first = tensors[0];
  if (!first) throw new ParameterError('concat', 'tensors', 'is empty');
  const a = normAxis('concat', axis, first.rank);
  for (const t of tensors) {
    if (t.dtype !== first.dtype) throw new UnsupportedError('concat', `mixed dtypes ${first.dtype} and ${t.dtype}`);
    if (t.rank !== first.rank || t.shape.some((d, i) => i !== a && d !== first.shape[i])) {
      throw new ShapeError('concat', `shapes differ outside axis ${a}`, tensors.map((u) => u.shape));
    }
  }
  const shape = first.shape.map((d, i) => (i === a ? tensors.reduce((s, t) => s + t.shape[a]!, 0) : d));
  const out = first.device.empty(shape, first.dtype);
  const outStrides = contiguous(shape);
  let at = 0;
  for (const t of tensors) {
    runStrided(COPY, t.shape, [whole(t)], { tensor: out, strides: outStrides, offset: at * outStrides[a]! });
    at += t.shape[a]!;
  }
  return out;
}

/** f32 ↔ f16 conversion (round to nearest even); the same dtype gives a copy. */
export function cast(x: Tensor, dtype: DType): Tensor {
  checkFloat('cast', x.dtype);
  checkFloat('cast', dtype);
  const out = x.device.empty(x.shape, dtype);
  runStrided(x.dtype === dtype ? COPY : CAST, x.shape, [whole(x)], whole(out));
  return out;
}

// --- nearest upsampling ---

const upsampleKernels = new Map<string, Kernel>();

/**
 * Torch legacy nearest over NCHW planes. `vec` writes 4 output columns per work item; `twice` is the exact 2x
 * column case (outW = 2·W), where those 4 columns are 2 input values each repeated (2 loads, no float math).
 */
export function upsampleKernel(dtype: DType, vec: boolean, twice: boolean): Kernel {
  if (twice && !vec) throw new UnsupportedError('upsampleKernel', 'the 2x column variant needs vec4 output');
  const name = `upsample_nearest_${dtype}_${twice ? 'w2' : vec ? 'v4' : 's'}`;
  let k = upsampleKernels.get(name);
  if (k) return k;
  const u = (n: string) => ({ name: n, type: 'u32' as const });
  const src = (k: number) => `x[row + src_index(ox + ${k}u, params.scale_w, params.in_w)]`;
  let store = `y[e] = ${src(0)};`;
  if (twice) store = `let s = row + (ox >> 1u);\n  let a = x[s];\n  let b = x[s + 1u];\n  y[e >> 2u] = vec4<${dtype}>(a, a, b, b);`;
  else if (vec) store = `y[e >> 2u] = vec4<${dtype}>(${[0, 1, 2, 3].map(src).join(', ')});`;
  k = {
    name,
    bindings: [
      { name: 'x', type: `array<${dtype}>`, access: 'read' },
      { name: 'y', type: `array<${vec ? `vec4<${dtype}>` : dtype}>`, access: 'read_write' },
    ],
    uniforms: [
      u('count'), u('stride'), u('d1'), u('d2'), u('bx'), u('by'), u('in_plane'), u('in_h'), u('in_w'), u('out_plane'),
      u('out_w'), u('oy0'), u('ox0'), { name: 'scale_h', type: 'f32' }, { name: 'scale_w', type: 'f32' },
    ],
    workgroupSize: [WG],
    enables: dtype === 'f16' ? ['f16'] : [],
    source: /* wgsl */ `
// torch 'nearest': src = min(floor(dst * scale), in - 1) with scale = f32(in / out), all in f32.
fn src_index(dst: u32, scale: f32, n: u32) -> u32 {
  return min(u32(floor(f32(dst) * scale)), n - 1u);
}
fn item(i: u32) {
  let c2 = i % params.d2;
  let c1 = (i / params.d2) % params.d1;
  let c0 = i / (params.d2 * params.d1);
  let row = params.bx + c0 * params.in_plane + src_index(params.oy0 + c1, params.scale_h, params.in_h) * params.in_w;
  let e = params.by + c0 * params.out_plane + c1 * params.out_w + ${vec ? '4u * c2' : 'c2'};
  let ox = params.ox0 + ${vec ? '4u * c2' : 'c2'};
  ${store}
}
${ITEMS_MAIN}`,
  };
  upsampleKernels.set(name, k);
  return k;
}

/** Nearest upsampling of NCHW `x` to `[outH, outW]` (torch legacy `nearest`; 2x gives `y[i,j] = x[i//2, j//2]`). */
export function upsampleNearest(x: Tensor, size: readonly [number, number]): Tensor {
  if (x.rank !== 4) throw new ShapeError('upsampleNearest', 'expects NCHW (rank 4)', [x.shape]);
  const [outH, outW] = size;
  if (!Number.isInteger(outH) || !Number.isInteger(outW) || outH < 1 || outW < 1) {
    throw new ParameterError('upsampleNearest', 'size', `[${outH}, ${outW}] must be two positive integers`);
  }
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const out = x.device.empty([N, C, outH, outW], x.dtype);
  if (out.size === 0) return out;
  if (H === 0 || W === 0) throw new ShapeError('upsampleNearest', 'cannot upsample an empty plane', [x.shape]);
  const scaleH = Math.fround(H / outH);
  const scaleW = Math.fround(W / outW);
  const sy = (d: number) => Math.min(Math.floor(Math.fround(d * scaleH)), H - 1);
  const sx = (d: number) => Math.min(Math.floor(Math.fround(d * scaleW)), W - 1);
  const vec = outW % 4 === 0;
  const kernel = upsampleKernel(x.dtype, vec, vec && outW === 2 * W);
  const shape = [N * C, outH, outW];
  const inSpan = (s: readonly number[], n: readonly number[]): [number, number] => [
    s[0]! * H * W + sy(s[1]!) * W + sx(s[2]!),
    (s[0]! + n[0]! - 1) * H * W + sy(s[1]! + n[1]! - 1) * W + sx(s[2]! + n[2]! - 1),
  ];
  const outSpan = stridedSpan(0, [outH * outW, outW, 1]);
  const boxes = splitBoxes('upsampleNearest', x.device, shape, [{ tensor: x, span: inSpan }, { tensor: out, span: outSpan }],
    [1, 1, vec ? 4 : 1]);
  for (const { start, size: n, windows: [wx, wy] } of boxes) {
    const count = (n[0]! * n[1]! * n[2]!) / (vec ? 4 : 1);
    const stride = Math.ceil(count / ITEMS);
    x.device.run(kernel, {
      bindings: { x: wx!.binding, y: wy!.binding },
      uniforms: {
        count, stride, d1: n[1]!, d2: n[2]! / (vec ? 4 : 1), bx: start[0]! * H * W - wx!.start,
        by: start[0]! * outH * outW + start[1]! * outW + start[2]! - wy!.start,
        in_plane: H * W, in_h: H, in_w: W, out_plane: outH * outW, out_w: outW, oy0: start[1]!, ox0: start[2]!,
        scale_h: scaleH, scale_w: scaleW,
      },
      workgroups: groups(stride, WG),
    });
  }
  return out;
}

// --- embedding ---

const embeddingKernels = new Map<string, Kernel>();

/** Gathers table rows by i32 id (clamped to [0, V-1]); one dispatch covers the table rows `[t0, t1)` of its window. */
export function embeddingKernel(dtype: DType, vec: boolean): Kernel {
  const name = `embedding_${dtype}_${vec ? 'v4' : 's'}`;
  let k = embeddingKernels.get(name);
  if (k) return k;
  const u = (n: string) => ({ name: n, type: 'u32' as const });
  const T = vec ? `vec4<${dtype}>` : dtype;
  k = {
    name,
    bindings: [
      { name: 'ids', type: 'array<i32>', access: 'read' },
      { name: 'table', type: `array<${T}>`, access: 'read' },
      { name: 'y', type: `array<${T}>`, access: 'read_write' },
    ],
    uniforms: [u('count'), u('d1'), u('col0'), u('bi'), u('bt'), u('by'), u('dim'), u('vocab'), u('t0'), u('t1')],
    workgroupSize: [WG],
    enables: dtype === 'f16' ? ['f16'] : [],
    source: /* wgsl */ `
@compute @workgroup_size(WG_X)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG_X;
  if (i >= params.count) { return; }
  let c1 = i % params.d1;
  let c0 = i / params.d1;
  // Ids are validated on the host where they come from; the clamp only keeps a bad id inside the table.
  let id = u32(clamp(ids[params.bi + c0], 0, i32(params.vocab) - 1));
  if (id < params.t0 || id >= params.t1) { return; }
  let col = params.col0 + ${vec ? '4u * c1' : 'c1'};
  let src = params.bt + (id - params.t0) * params.dim + col;
  let dst = params.by + c0 * params.dim + col;
  y[${vec ? 'dst >> 2u' : 'dst'}] = table[${vec ? 'src >> 2u' : 'src'}];
}`,
  };
  embeddingKernels.set(name, k);
  return k;
}

/** Throws ParameterError unless every id is an integer in `[0, vocab)`. Use it where ids come from the host. */
export function checkEmbeddingIds(ids: ArrayLike<number>, vocab: number, where = 'embedding'): void {
  for (let i = 0; i < ids.length; i++) {
    const v = ids[i]!;
    if (!Number.isInteger(v) || v < 0 || v >= vocab) {
      throw new ParameterError(where, 'ids', `id ${v} at index ${i} is outside the table's [0, ${vocab})`);
    }
  }
}

/** `table [V, D]` rows gathered by `ids` (i32 `[...]`) → `[..., D]`. Out-of-range ids are clamped on the GPU. */
export function embedding(ids: Tensor, table: Tensor): Tensor {
  if (ids.dtype !== 'i32') throw new UnsupportedError('embedding', `ids must be i32, got ${ids.describe()}`);
  if (table.rank !== 2) throw new ShapeError('embedding', 'table must be [V, D]', [table.shape]);
  checkFloat('embedding', table.dtype);
  const [V, D] = table.shape as [number, number];
  const out = table.device.empty([...ids.shape, D], table.dtype);
  if (out.size === 0) return out;
  if (V === 0) throw new ShapeError('embedding', 'table has no rows', [table.shape]);
  const device = table.device;
  const vec = D % 4 === 0;
  const kernel = embeddingKernel(table.dtype, vec);
  const eb = BYTES_PER_ELEMENT[table.dtype];
  const align = windowAlignment(device);
  const limit = device.limits.maxStorageBufferBindingSize;
  // Table windows start on whole rows at aligned offsets: a multiple of `granule` rows.
  const granule = align / gcd(align, D * eb);
  const rowsPerWindow = Math.floor(Math.floor(limit / (D * eb)) / granule) * granule;
  if (rowsPerWindow === 0) {
    throw new ParameterError('embedding', 'table', `rows of ${D * eb} bytes (x${granule} for alignment) exceed the binding limit ${limit}`);
  }
  const rows = ids.size;
  const boxes = splitBoxes('embedding', device, [rows, D], [
    { tensor: ids, span: (s, n) => [s[0]!, s[0]! + n[0]! - 1] },
    { tensor: out, span: stridedSpan(0, [D, 1]) },
  ], [1, vec ? 4 : 1]);
  for (let t0 = 0; t0 < V; t0 += rowsPerWindow) {
    const t1 = Math.min(V, t0 + rowsPerWindow);
    const tw = makeWindow(table, t0 * D, t1 * D - 1, align, limit)!;
    for (const { start, size, windows: [wi, wy] } of boxes) {
      const count = (size[0]! * size[1]!) / (vec ? 4 : 1);
      device.run(kernel, {
        bindings: { ids: wi!.binding, table: tw.binding, y: wy!.binding },
        uniforms: {
          count, d1: size[1]! / (vec ? 4 : 1), col0: start[1]!, bi: start[0]! - wi!.start, bt: t0 * D - tw.start,
          by: start[0]! * D - wy!.start, dim: D, vocab: V, t0, t1,
        },
        workgroups: groups(count, WG),
      });
    }
  }
  return out;
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
