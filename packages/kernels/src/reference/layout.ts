/**
 * CPU references for the layout family (upsample, concat, permute, slice, embedding) over plain arrays. Written
 * with explicit coordinate loops, independently of the strided GPU engine.
 */
import { type RefResult, type RefTensor, contiguousStrides } from './elementwise.js';

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** Visits every coordinate of `shape` in row-major order. */
function forEachCoord(shape: readonly number[], fn: (c: number[], flat: number) => void): void {
  const n = numel(shape);
  const c = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < n; i++) {
    fn(c, i);
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++c[d]! < shape[d]!) break;
      c[d] = 0;
    }
  }
}

/** torch legacy nearest: `src = min(floor(dst · f32(in/out)), in - 1)` with the product in f32. */
export function nearestSource(dst: number, inSize: number, outSize: number): number {
  const scale = Math.fround(inSize / outSize);
  return Math.min(Math.floor(Math.fround(dst * scale)), inSize - 1);
}

export function refUpsampleNearest(x: RefTensor, [outH, outW]: readonly [number, number]): RefResult {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const out = new Float32Array(N * C * outH * outW);
  for (let p = 0; p < N * C; p++) {
    for (let oy = 0; oy < outH; oy++) {
      const iy = nearestSource(oy, H, outH);
      for (let ox = 0; ox < outW; ox++) {
        out[(p * outH + oy) * outW + ox] = x.data[(p * H + iy) * W + nearestSource(ox, W, outW)]!;
      }
    }
  }
  return { data: out, shape: [N, C, outH, outW] };
}

export function refPermute(x: RefTensor, perm: readonly number[]): RefResult {
  const shape = perm.map((p) => x.shape[p]!);
  const xs = contiguousStrides(x.shape);
  const out = new Float32Array(numel(shape));
  forEachCoord(shape, (c, i) => {
    let src = 0;
    for (let d = 0; d < perm.length; d++) src += c[d]! * xs[perm[d]!]!;
    out[i] = x.data[src]!;
  });
  return { data: out, shape };
}

export function refSlice(x: RefTensor, axis: number, start: number, end: number): RefResult {
  const shape = x.shape.map((d, i) => (i === axis ? end - start : d));
  const xs = contiguousStrides(x.shape);
  const out = new Float32Array(numel(shape));
  forEachCoord(shape, (c, i) => {
    let src = 0;
    for (let d = 0; d < shape.length; d++) src += (d === axis ? c[d]! + start : c[d]!) * xs[d]!;
    out[i] = x.data[src]!;
  });
  return { data: out, shape };
}

export function refConcat(xs: readonly RefTensor[], axis: number): RefResult {
  const shape = xs[0]!.shape.map((d, i) => (i === axis ? xs.reduce((s, t) => s + t.shape[axis]!, 0) : d));
  const out = new Float32Array(numel(shape));
  forEachCoord(shape, (c, i) => {
    let k = c[axis]!;
    let j = 0;
    while (k >= xs[j]!.shape[axis]!) k -= xs[j++]!.shape[axis]!;
    const t = xs[j]!;
    const ts = contiguousStrides(t.shape);
    let src = 0;
    for (let d = 0; d < shape.length; d++) src += (d === axis ? k : c[d]!) * ts[d]!;
    out[i] = t.data[src]!;
  });
  return { data: out, shape };
}

/** Rows of `table [V, D]` by id; ids outside [0, V) are clamped, as the GPU kernel does. */
export function refEmbedding(ids: RefTensor, table: RefTensor): RefResult {
  const [V, D] = table.shape as [number, number];
  const n = numel(ids.shape);
  const out = new Float32Array(n * D);
  for (let r = 0; r < n; r++) {
    const id = Math.min(Math.max(ids.data[r]!, 0), V - 1);
    for (let c = 0; c < D; c++) out[r * D + c] = table.data[id * D + c]!;
  }
  return { data: out, shape: [...ids.shape, D] };
}
