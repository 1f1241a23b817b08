/**
 * Elementwise ops, generated from one table: each entry has a name, an arity, a WGSL expression (over x0.. of type
 * T = f32 or vec4<f32>, parameters `params.p0..`) and its CPU reference. The ops below only check shapes and build
 * strided views; `runStrided` does the dispatching, vec4 where the shapes allow, split where tensors exceed one
 * binding. Storage is f32 or f16; arithmetic is f32.
 */
import { ParameterError, ShapeError, type Tensor, UnsupportedError, checkFloat } from '@sd-webgpu/tensor';
import * as ref from './reference/elementwise.js';
import { type MapOp, type View, contiguous, runStrided, whole } from './strided.js';

export interface ElementwiseDef extends MapOp {
  /** Float64 reference of one element: inputs and parameters. */
  readonly cpu: (x: readonly number[], p: readonly number[]) => number;
}

/**
 * erfc for z >= 0 (Numerical Recipes' Chebyshev fit, relative error < 1.2e-7), and exact GELU written with it:
 * gelu(x) = x - x/2·erfc(x/√2) for x >= 0 and x/2·erfc(|x|/√2) below, so neither side cancels. In f32 this stays
 * within half an ulp of the true GELU (checked against the float64 erf on [-12, 12]).
 */
const geluHelpers = (T: string) => /* wgsl */ `
fn erfc_pos(z: ${T}) -> ${T} {
  let t = 1.0 / (1.0 + 0.5 * z);
  let p = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807
    + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  return t * exp(p - z * z);
}
fn gelu(x: ${T}) -> ${T} {
  let h = 0.5 * x * erfc_pos(abs(x) * 0.7071067811865476);
  return select(h, x - h, x >= ${T}(0.0));
}`;

function linearCombinationDef(k: number): ElementwiseDef {
  const idx = Array.from({ length: k }, (_, i) => i);
  return {
    name: `lincomb${k}`, arity: k, params: k,
    wgsl: idx.map((i) => `params.p${i} * x${i}`).join(' + '),
    cpu: (x, p) => idx.reduce((acc, i) => acc + p[i]! * x[i]!, 0),
  };
}

const TABLE = {
  add: { name: 'add', arity: 2, wgsl: 'x0 + x1', cpu: (x) => x[0]! + x[1]! },
  sub: { name: 'sub', arity: 2, wgsl: 'x0 - x1', cpu: (x) => x[0]! - x[1]! },
  mul: { name: 'mul', arity: 2, wgsl: 'x0 * x1', cpu: (x) => x[0]! * x[1]! },
  div: { name: 'div', arity: 2, wgsl: 'x0 / x1', cpu: (x) => x[0]! / x[1]! },
  scale: { name: 'scale', arity: 1, params: 2, wgsl: 'x0 * params.p0 + params.p1', cpu: (x, p) => x[0]! * p[0]! + p[1]! },
  silu: { name: 'silu', arity: 1, wgsl: 'x0 / (1.0 + exp(-x0))', cpu: (x) => ref.silu(x[0]!) },
  relu: { name: 'relu', arity: 1, wgsl: 'relu(x0)', helpers: (T) => `fn relu(x: ${T}) -> ${T} { return max(x, ${T}(0.0)); }`, cpu: (x) => Math.max(x[0]!, 0) },
  // tanh(±10) is ±1 in f32; the clamp keeps a driver's exp-based tanh away from inf/inf
  tanh: {
    name: 'tanh', arity: 1, wgsl: 'tanh_clamped(x0)', cpu: (x) => Math.tanh(x[0]!),
    helpers: (T) => `fn tanh_clamped(x: ${T}) -> ${T} { return tanh(clamp(x, ${T}(-10.0), ${T}(10.0))); }`,
  },
  gelu: { name: 'gelu', arity: 1, wgsl: 'gelu(x0)', helpers: geluHelpers, cpu: (x) => ref.gelu(x[0]!) },
  quick_gelu: { name: 'quick_gelu', arity: 1, wgsl: 'x0 / (1.0 + exp(-1.702 * x0))', cpu: (x) => ref.quickGelu(x[0]!) },
  /** value x0, gate x1 */
  geglu: { name: 'geglu', arity: 2, wgsl: 'x0 * gelu(x1)', helpers: geluHelpers, cpu: (x) => x[0]! * ref.gelu(x[1]!) },
  lincomb1: linearCombinationDef(1),
  lincomb2: linearCombinationDef(2),
  lincomb3: linearCombinationDef(3),
  lincomb4: linearCombinationDef(4),
} as const satisfies Record<string, ElementwiseDef>;

export type ElementwiseName = keyof typeof TABLE;

/** The table. */
export const ELEMENTWISE: Readonly<Record<ElementwiseName, ElementwiseDef>> = TABLE;

const LINCOMB: readonly ElementwiseDef[] = [ELEMENTWISE.lincomb1, ELEMENTWISE.lincomb2, ELEMENTWISE.lincomb3, ELEMENTWISE.lincomb4];

// --- checks and broadcasting ---

function floatInputs(op: string, ts: readonly Tensor[]): void {
  for (const t of ts) checkFloat(op, t.dtype);
  const dt = ts[0]!.dtype;
  const other = ts.find((t) => t.dtype !== dt);
  if (other) throw new UnsupportedError(op, `mixed dtypes ${dt} and ${other.dtype} (${ts.map((t) => t.describe()).join(', ')})`);
  const dev = ts[0]!.device;
  if (ts.some((t) => t.device !== dev)) throw new UnsupportedError(op, 'tensors live on different devices');
}

/** NumPy broadcasting of two shapes (right-aligned; each pair of dims equal or one of them 1). */
export function broadcastShapes(op: string, a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new ShapeError(op, `dims ${da} and ${db} at axis ${i - rank} do not broadcast`, [a, b]);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** A view of `t` broadcast to `shape` (stride 0 along broadcast dims). */
export function broadcastView(t: Tensor, shape: readonly number[]): View {
  const own = contiguous(t.shape);
  const lead = shape.length - t.rank;
  const strides = shape.map((_, d) => (d < lead || t.shape[d - lead] === 1 ? 0 : own[d - lead]!));
  return { tensor: t, strides, offset: 0 };
}

// --- ops ---

/** Applies a table entry to same-shape or broadcastable inputs; the output has the broadcast shape. */
export function elementwise(name: ElementwiseName, inputs: readonly Tensor[], params: readonly number[] = []): Tensor {
  const def: ElementwiseDef = ELEMENTWISE[name];
  if (inputs.length !== def.arity) throw new UnsupportedError(name, `expects ${def.arity} inputs, got ${inputs.length}`);
  if (params.length !== (def.params ?? 0)) {
    throw new UnsupportedError(name, `expects ${def.params ?? 0} parameters, got ${params.length}`);
  }
  floatInputs(name, inputs);
  let shape: number[] = [...inputs[0]!.shape];
  for (const t of inputs.slice(1)) shape = broadcastShapes(name, shape, t.shape);
  const out = inputs[0]!.device.empty(shape, inputs[0]!.dtype);
  runStrided(def, shape, inputs.map((t) => broadcastView(t, shape)), whole(out), params);
  return out;
}

export const add = (a: Tensor, b: Tensor): Tensor => elementwise('add', [a, b]);
export const sub = (a: Tensor, b: Tensor): Tensor => elementwise('sub', [a, b]);
export const mul = (a: Tensor, b: Tensor): Tensor => elementwise('mul', [a, b]);
export const div = (a: Tensor, b: Tensor): Tensor => elementwise('div', [a, b]);

/** x·s + b. */
export function scale(x: Tensor, s: number, b = 0): Tensor {
  if (!Number.isFinite(s) || !Number.isFinite(b)) throw new ParameterError('scale', 's/b', `must be finite, got s=${s} b=${b}`);
  return elementwise('scale', [x], [s, b]);
}

export const silu = (x: Tensor): Tensor => elementwise('silu', [x]);
export const relu = (x: Tensor): Tensor => elementwise('relu', [x]);
export const tanh = (x: Tensor): Tensor => elementwise('tanh', [x]);
/** Exact (erf) GELU. */
export const gelu = (x: Tensor): Tensor => elementwise('gelu', [x]);
/** x·sigmoid(1.702x) (CLIP). */
export const quickGelu = (x: Tensor): Tensor => elementwise('quick_gelu', [x]);

/** `h [..., 2n]` → `h[..., :n] · gelu(h[..., n:])`: the first half is the value, the second the gate. */
export function geglu(h: Tensor): Tensor {
  floatInputs('geglu', [h]);
  const two = h.shape[h.rank - 1];
  if (two === undefined || two % 2 !== 0) {
    throw new ShapeError('geglu', `last dim must be even (value and gate halves), got ${two ?? 'a scalar'}`, [h.shape]);
  }
  const n = two / 2;
  const rows = h.size / Math.max(two, 1);
  const shape = [...h.shape.slice(0, -1), n];
  const out = h.device.empty(shape, h.dtype);
  const value: View = { tensor: h, strides: [two, 1], offset: 0 };
  const gate: View = { tensor: h, strides: [two, 1], offset: n };
  runStrided(ELEMENTWISE.geglu, [rows, n], [value, gate], { tensor: out, strides: [n, 1], offset: 0 });
  return out;
}

/**
 * `permute(a, perm) + b` in one pass: the residual add that follows a layout change (Transformer2DModel's tokens
 * `[B, H·W, C]` back to `[B, C, H·W]` plus its input) without writing the permuted copy. Output dim d is `a`'s dim
 * `perm[d]`; `b` has the permuted shape. Bit-identical to `add(permute(a, perm), b)`.
 */
export function permutedAdd(a: Tensor, perm: readonly number[], b: Tensor): Tensor {
  floatInputs('permutedAdd', [a, b]);
  const sorted = [...perm].sort((x, y) => x - y);
  if (perm.length !== a.rank || sorted.some((p, i) => p !== i)) {
    throw new ParameterError('permutedAdd', 'perm', `[${perm.join(',')}] is not a permutation of the ${a.rank} dims of ${a.describe()}`);
  }
  const shape = perm.map((p) => a.shape[p]!);
  if (b.rank !== shape.length || b.shape.some((d, i) => d !== shape[i])) {
    throw new ShapeError('permutedAdd', `b must have the permuted shape [${shape.join(',')}]`, [a.shape, b.shape]);
  }
  const own = contiguous(a.shape);
  const out = a.device.empty(shape, a.dtype);
  runStrided(ELEMENTWISE.add, shape, [{ tensor: a, strides: perm.map((p) => own[p]!), offset: 0 }, whole(b)], whole(out));
  return out;
}

/**
 * Σ cᵢ·xᵢ over same-shape tensors (scheduler updates, classifier-free guidance), computed in f32. Up to 4 terms take
 * one dispatch; longer sums add 3 more terms per dispatch into an f32 accumulator.
 */
export function linearCombination(terms: readonly (readonly [Tensor, number])[]): Tensor {
  if (terms.length === 0) throw new ParameterError('linearCombination', 'terms', 'is empty (needs at least one [tensor, coefficient])');
  const xs = terms.map(([t]) => t);
  floatInputs('linearCombination', xs);
  const shape = xs[0]!.shape;
  for (const [t, c] of terms) {
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new ShapeError('linearCombination', 'terms must have the same shape', [shape, t.shape]);
    }
    if (!Number.isFinite(c)) throw new ParameterError('linearCombination', 'coefficient', `${c} of ${t.describe()} is not finite`);
  }
  const device = xs[0]!.device;
  const dtype = xs[0]!.dtype;
  let acc: Tensor | null = null;
  let rest = [...terms];
  while (rest.length) {
    const take = rest.slice(0, acc ? 3 : 4);
    rest = rest.slice(take.length);
    const group: (readonly [Tensor, number])[] = acc ? [[acc, 1], ...take] : take;
    const last = rest.length === 0;
    const out = device.empty(shape, last ? dtype : 'f32');
    runStrided(LINCOMB[group.length - 1]!, shape, group.map(([t]) => whole(t)), whole(out), group.map(([, c]) => c));
    acc?.dispose();
    acc = out;
  }
  return acc!;
}
