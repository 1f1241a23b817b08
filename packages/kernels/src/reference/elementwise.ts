/**
 * CPU references for the elementwise family: plain TypeScript over Float32Array, evaluated in float64 and rounded
 * to f32 once at the end. Independent of the GPU code (own broadcasting, own erf), so the tests compare two
 * implementations rather than one with itself.
 */

const SQRT1_2 = Math.SQRT1_2;
const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

/** erf(x) in float64 to ~1e-15: Maclaurin series below 2.5, continued fraction for erfc above. */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const a = Math.abs(x);
  if (a >= 2.5) return Math.sign(x) * (1 - erfcLarge(a));
  // erf(x) = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1)); at |x| < 2.5 terms peak near 16, so ~1e-15 abs.
  const x2 = x * x;
  let term = x; // (-1)^n x^(2n+1) / n!
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= -x2 / n;
    const add = term / (2 * n + 1);
    sum += add;
    if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
  }
  return TWO_OVER_SQRT_PI * sum;
}

/** erfc(x) in float64, accurate in relative terms for large positive x. */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x >= 2.5) return erfcLarge(x);
  return 1 - erf(x);
}

/** erfc for x >= 2.5 by the Laplace continued fraction exp(-x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))). */
function erfcLarge(x: number): number {
  if (x > 27) return 0; // below the smallest double
  let f = x;
  for (let k = 120; k >= 1; k--) f = x + k / 2 / f;
  return Math.exp(-x * x) / (Math.sqrt(Math.PI) * f);
}

/** Exact GELU 0.5·x·(1 + erf(x/√2)), written with erfc so that large negative x keeps its relative accuracy. */
export function gelu(x: number): number {
  const e = erfc(Math.abs(x) * SQRT1_2);
  return x >= 0 ? x - 0.5 * x * e : 0.5 * x * e;
}

export const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
export const silu = (x: number): number => x * sigmoid(x);
export const quickGelu = (x: number): number => x * sigmoid(1.702 * x);

/** A host tensor for the references: row-major values and a shape. */
export interface RefTensor {
  readonly data: ArrayLike<number>;
  readonly shape: readonly number[];
}

export interface RefResult {
  data: Float32Array;
  shape: number[];
}

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** Row-major strides of a shape. */
export function contiguousStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    s[d] = acc;
    acc *= shape[d]!;
  }
  return s;
}

/** Applies `f` elementwise over NumPy-broadcast inputs (any number of them). */
export function refMap(inputs: readonly RefTensor[], f: (xs: number[]) => number): RefResult {
  const rank = Math.max(...inputs.map((t) => t.shape.length));
  const padded = inputs.map((t) => [...new Array<number>(rank - t.shape.length).fill(1), ...t.shape]);
  const shape = new Array<number>(rank);
  for (let d = 0; d < rank; d++) {
    const sizes = padded.map((p) => p[d]!);
    const big = sizes.find((s) => s !== 1) ?? 1;
    if (sizes.some((s) => s !== 1 && s !== big)) throw new Error(`refMap: shapes do not broadcast at dim ${d}`);
    shape[d] = big;
  }
  const strides = padded.map((p) => {
    const c = contiguousStrides(p);
    return p.map((s, d) => (s === 1 ? 0 : c[d]!));
  });
  const n = numel(shape);
  const out = new Float32Array(n);
  const coord = new Array<number>(rank).fill(0);
  const xs = new Array<number>(inputs.length);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < inputs.length; j++) {
      let idx = 0;
      for (let d = 0; d < rank; d++) idx += coord[d]! * strides[j]![d]!;
      xs[j] = inputs[j]!.data[idx]!;
    }
    out[i] = f(xs);
    for (let d = rank - 1; d >= 0; d--) {
      if (++coord[d]! < shape[d]!) break;
      coord[d] = 0;
    }
  }
  return { data: out, shape };
}

/** `h[..., 2n]` → `h[..., :n] · gelu(h[..., n:])`. */
export function refGeglu(h: RefTensor): RefResult {
  const two = h.shape[h.shape.length - 1]!;
  const n = two / 2;
  const rows = numel(h.shape) / two;
  const out = new Float32Array(rows * n);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < n; c++) out[r * n + c] = h.data[r * two + c]! * gelu(h.data[r * two + n + c]!);
  }
  return { data: out, shape: [...h.shape.slice(0, -1), n] };
}

/** Σ cᵢ·xᵢ over same-length inputs, in float64. */
export function refLinearCombination(terms: readonly (readonly [ArrayLike<number>, number])[]): Float32Array {
  const n = terms[0]![0].length;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let acc = 0;
    for (const [x, c] of terms) acc += c * x[i]!;
    out[i] = acc;
  }
  return out;
}
