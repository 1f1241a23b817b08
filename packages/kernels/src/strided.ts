/**
 * The engine behind the elementwise table and the copy-like layout ops: a kernel that walks an iteration shape and
 * reads each operand through strides (0 = broadcast), so broadcasting, geglu's two halves, permute, slice, concat
 * and cast are all one map `y = f(x0, x1, ...)` over strided views. Dims that every operand walks contiguously are
 * merged first, so the common same-shape case becomes rank 1 with no index arithmetic.
 *
 * Where the innermost dim is a multiple of 4 and the output is contiguous there, each invocation does a vec4:
 * operands contiguous there load vec4s ('vec'), broadcast ones splat a scalar ('splat'), others gather 4 scalars
 * ('gather'). Values are computed in f32 (vec4<f32>) whatever the storage dtype, except raw copies.
 */
import { type BufferWindow, type DType, type Device, type Kernel, type Tensor, UnsupportedError } from '@sd-webgpu/tensor';
import { cachedPlanByInts, objectId } from './plans.js';
import { type SpanOperand, groups, splitBoxes, stridedSpan } from './windows.js';

/** The op part of a strided kernel: one WGSL expression over `x0..x{arity-1}` and uniforms `params.p0..`. */
export interface MapOp {
  readonly name: string;
  readonly arity: number;
  /** Number of f32 parameters `params.p0 ..`. */
  readonly params?: number;
  /** WGSL expression of type T (f32 or vec4<f32>) over x0.. of type T. */
  readonly wgsl: string;
  /** WGSL helper functions used by `wgsl`, generated for the type T. */
  readonly helpers?: (T: string) => string;
  /** The expression is a plain copy valid for any dtype (no conversion through f32). */
  readonly raw?: boolean;
}

/** A strided view of a tensor over the iteration shape: element index = offset + Σ strides[d]·coord[d]. */
export interface View {
  readonly tensor: Tensor;
  readonly strides: readonly number[];
  readonly offset: number;
}

type Mode = 'vec' | 'splat' | 'gather' | 'scalar';

export interface StridedVariant {
  readonly rank: number;
  readonly vec: boolean;
  readonly inputs: readonly { readonly dtype: DType; readonly mode: Mode }[];
  readonly out: DType;
}

export const MAX_RANK = 6;
const WG = 64;
/** Work items (vec4 or scalars) per invocation. */
export const ITEMS = 4;

/**
 * The entry point of the item-loop kernels (this family and the upsample kernel): each invocation calls the WGSL
 * `fn item(i: u32)` for ITEMS work items spaced `params.stride` apart (stride = ceil(count / ITEMS)), up to
 * `params.count`. Side by side on lavapipe, add [2,320,64,64] f32 took ~6 ms with 4 items against ~12 ms with 1
 * (bench/elementwise.ts runs the shapes).
 */
export const ITEMS_MAIN = /* wgsl */ `@compute @workgroup_size(WG_X)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let first = gid.x + gid.y * nwg.x * WG_X;
  if (first >= params.stride) { return; }
  for (var k = 0u; k < ${ITEMS}u; k++) {
    let i = first + k * params.stride;
    if (i >= params.count) { return; }
    item(i);
  }
}`;
const cache = new Map<string, Kernel>();

/** Kernel descriptor of `op` for one variant (memoized: the same object for the same variant). */
export function stridedKernel(op: MapOp, v: StridedVariant): Kernel {
  const name = `strided_${op.name}_r${v.rank}_${v.vec ? 'v4' : 's'}_${v.inputs.map((i) => i.dtype + i.mode[0]).join('')}_${v.out}`;
  let k = cache.get(name);
  if (!k) {
    k = buildKernel(name, op, v);
    cache.set(name, k);
  }
  return k;
}

function buildKernel(name: string, op: MapOp, v: StridedVariant): Kernel {
  const R = v.rank;
  const C = op.raw ? v.out : 'f32';
  const T = v.vec ? `vec4<${C}>` : C;
  const store = (dt: DType) => (v.vec ? `vec4<${dt}>` : dt);
  const bindings = [
    ...v.inputs.map((inp, j) => ({
      name: `x${j}`, type: `array<${inp.mode === 'vec' ? `vec4<${inp.dtype}>` : inp.dtype}>`, access: 'read' as const,
    })),
    { name: 'y', type: `array<${store(v.out)}>`, access: 'read_write' as const },
  ];
  const operands = [...v.inputs.map((_, j) => `${j}`), 'y'];
  const uniforms = [
    { name: 'count', type: 'u32' as const },
    { name: 'stride', type: 'u32' as const },
    ...range(R).map((d) => ({ name: `d${d}`, type: 'u32' as const })),
    ...operands.flatMap((o) => [
      { name: `b${o}`, type: 'u32' as const },
      ...range(R).map((d) => ({ name: `s${o}_${d}`, type: 'u32' as const })),
    ]),
    ...range(op.params ?? 0).map((p) => ({ name: `p${p}`, type: 'f32' as const })),
  ];
  const coords: string[] = ['var r = i;'];
  for (let d = R - 1; d > 0; d--) coords.push(`let c${d} = r % params.d${d}; r = r / params.d${d};`);
  coords.push('let c0 = r;');
  const inner = v.vec ? `4u * c${R - 1}` : `c${R - 1}`;
  const index = (o: string) =>
    `let e${o} = params.b${o}${range(R).map((d) => ` + ${d === R - 1 ? inner : `c${d}`} * params.s${o}_${d}`).join('')};`;
  const loads = v.inputs.map((inp, j) => {
    if (!v.vec) return `let x${j} = ${C}(x${j}[e${j}]);`;
    if (inp.mode === 'vec') return `let x${j} = ${T}(x${j}[e${j} >> 2u]);`;
    if (inp.mode === 'splat') return `let x${j} = ${T}(${C}(x${j}[e${j}]));`;
    const s = `params.s${j}_${R - 1}`;
    return `let x${j} = ${T}(${C}(x${j}[e${j}]), ${C}(x${j}[e${j} + ${s}]), ${C}(x${j}[e${j} + 2u * ${s}]), ${C}(x${j}[e${j} + 3u * ${s}]));`;
  });
  const enables: ('f16')[] = [...v.inputs.map((i) => i.dtype), v.out].includes('f16') ? ['f16'] : [];
  const source = /* wgsl */ `
${op.helpers ? op.helpers(T) : ''}
fn item(i: u32) {
  ${coords.join('\n  ')}
  ${operands.map(index).join('\n  ')}
  ${loads.join('\n  ')}
  y[${v.vec ? 'ey >> 2u' : 'ey'}] = ${store(v.out)}(${op.wgsl});
}
${ITEMS_MAIN}`;
  return { name, bindings, uniforms, workgroupSize: [WG], enables, source };
}

/** One dispatch of a strided op: a window per view (inputs, then the output) and the uniforms without `p0..`. */
interface StridedDispatch {
  readonly windows: readonly { readonly offset: number; readonly size: number }[];
  readonly uniforms: Readonly<Record<string, number>>;
  readonly workgroups: [number];
}

interface StridedPlan {
  readonly kernel: Kernel;
  /** Binding names of the views: x0.., y. */
  readonly names: readonly string[];
  readonly dispatches: readonly StridedDispatch[];
}

/** Scratch plan key of `runStrided` (single-threaded: refilled by every call). */
const KEY: number[] = [];
const DTYPE_CODE: Readonly<Record<DType, number>> = { f32: 1, f16: 2, i32: 3, u32: 4 };

const PARAM_NAMES = Array.from({ length: 8 }, (_, i) => `p${i}`);

/**
 * Records `out[view] = op(inputs[views])` over `shape`, split into several dispatches where an operand is larger
 * than one binding. Views must not overlap `out` (WebGPU forbids binding one buffer as input and output). The plan
 * (merged dims, variant, windows, uniforms) depends only on the op, the shape and the views' dtypes, strides and
 * offsets, so it is made once per such signature and device.
 */
export function runStrided(op: MapOp, shape: readonly number[], inputs: readonly View[], out: View, params: readonly number[] = []): void {
  const device: Device = out.tensor.device;
  if (shape.includes(0)) return;
  const views = [...inputs, out];
  // key: op, shape, then per view its dtype, offset and strides (numbers only: no string per call)
  const key = KEY;
  let n = 0;
  key[n++] = objectId(op);
  key[n++] = shape.length;
  for (const d of shape) key[n++] = d;
  for (const v of views) {
    key[n++] = DTYPE_CODE[v.tensor.dtype];
    key[n++] = v.offset;
    key[n++] = v.strides.length;
    for (const s of v.strides) key[n++] = s;
  }
  const plan = cachedPlanByInts(device, 'strided', key, n, () => planStrided(op, device, shape, inputs, out));
  for (const d of plan.dispatches) {
    const bindings: Record<string, BufferWindow> = {};
    for (let j = 0; j < views.length; j++) {
      const w = d.windows[j]!;
      bindings[plan.names[j]!] = { tensor: views[j]!.tensor, offset: w.offset, size: w.size };
    }
    let uniforms = d.uniforms;
    if (params.length) {
      const u: Record<string, number> = { ...uniforms };
      for (let i = 0; i < params.length; i++) u[PARAM_NAMES[i]!] = params[i]!;
      uniforms = u;
    }
    device.run(plan.kernel, { bindings, uniforms, workgroups: d.workgroups });
  }
}

function planStrided(op: MapOp, device: Device, shape: readonly number[], inputs: readonly View[], out: View): StridedPlan {
  const views = [...inputs, out];
  const names = [...inputs.map((_, j) => `x${j}`), 'y'];
  const col = collapse(shape, views.map((v) => v.strides));
  if (col.shape.length > MAX_RANK) {
    throw new UnsupportedError(op.name, `rank ${col.shape.length} after merging dims (shape [${shape.join(',')}]); at most ${MAX_RANK}`);
  }
  const R = col.shape.length;
  const strides = col.strides;
  const aligned4 = (j: number) => views[j]!.offset % 4 === 0 && strides[j]!.every((s, d) => d === R - 1 || s % 4 === 0);
  const vec = col.shape[R - 1]! % 4 === 0 && strides[views.length - 1]![R - 1] === 1 && aligned4(views.length - 1);
  const modes: Mode[] = inputs.map((_, j) => {
    if (!vec) return 'scalar';
    const s = strides[j]![R - 1]!;
    if (s === 1 && aligned4(j)) return 'vec';
    return s === 0 ? 'splat' : 'gather';
  });
  const kernel = stridedKernel(op, {
    rank: R, vec, inputs: inputs.map((v, j) => ({ dtype: v.tensor.dtype, mode: modes[j]! })), out: out.tensor.dtype,
  });
  const spans: SpanOperand[] = views.map((v, j) => ({ tensor: v.tensor, span: stridedSpan(v.offset, strides[j]!) }));
  const granule = col.shape.map((_, d) => (vec && d === R - 1 ? 4 : 1));
  const uNames = [...inputs.map((_, j) => `${j}`), 'y'];
  const dispatches = splitBoxes(op.name, device, col.shape, spans, granule).map((box): StridedDispatch => {
    const count = box.size.reduce((a, b) => a * b, 1) / (vec ? 4 : 1);
    const stride = Math.ceil(count / ITEMS);
    const u: Record<string, number> = { count, stride };
    box.size.forEach((s, d) => (u[`d${d}`] = vec && d === R - 1 ? s / 4 : s));
    views.forEach((v, j) => {
      let base = v.offset - box.windows[j]!.start;
      strides[j]!.forEach((s, d) => {
        base += box.start[d]! * s;
        u[`s${uNames[j]}_${d}`] = s;
      });
      u[`b${uNames[j]}`] = base;
    });
    const windows = box.windows.map((w) => ({ offset: w.binding.offset, size: w.binding.size }));
    return { windows, uniforms: u, workgroups: groups(stride, WG) };
  });
  return { kernel, names, dispatches };
}

/** Drops size-1 dims and merges neighbours that every operand walks contiguously. */
export function collapse(shape: readonly number[], strides: readonly (readonly number[])[]): { shape: number[]; strides: number[][] } {
  const keep = shape.map((s, d) => (s === 1 ? -1 : d)).filter((d) => d >= 0);
  if (keep.length === 0) return { shape: [1], strides: strides.map(() => [0]) };
  const outShape = [shape[keep[0]!]!];
  const outStrides = strides.map((s) => [s[keep[0]!]!]);
  for (const d of keep.slice(1)) {
    const last = outShape.length - 1;
    const mergeable = strides.every((s, j) => outStrides[j]![last] === s[d]! * shape[d]!);
    if (mergeable) {
      outShape[last]! *= shape[d]!;
      strides.forEach((s, j) => (outStrides[j]![last] = s[d]!));
    } else {
      outShape.push(shape[d]!);
      strides.forEach((s, j) => outStrides[j]!.push(s[d]!));
    }
  }
  return { shape: outShape, strides: outStrides };
}

/** Row-major strides of a shape. */
export function contiguous(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    s[d] = acc;
    acc *= shape[d]!;
  }
  return s;
}

/** A whole tensor walked in its own row-major order. */
export const whole = (t: Tensor): View => ({ tensor: t, strides: contiguous(t.shape), offset: 0 });

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
