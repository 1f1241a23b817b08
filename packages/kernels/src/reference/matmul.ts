/**
 * CPU references for matmul and linear (f64 accumulation, f32 result), with torch.matmul batch broadcasting:
 * a `[...A, M, K]`, b `[...B, K, N]` (or `[...B, N, K]` with transB), optional bias `[N]`.
 */
export interface HostMatrix {
  data: Float32Array;
  shape: number[];
}

export function matmulRef(
  a: ArrayLike<number>,
  aShape: readonly number[],
  b: ArrayLike<number>,
  bShape: readonly number[],
  { transB = false, bias }: { transB?: boolean; bias?: ArrayLike<number> } = {},
): HostMatrix {
  if (aShape.length < 2 || bShape.length < 2) throw new Error(`matmulRef: rank < 2 (${aShape} / ${bShape})`);
  const M = aShape[aShape.length - 2]!;
  const K = aShape[aShape.length - 1]!;
  const N = bShape[bShape.length - (transB ? 2 : 1)]!;
  if (bShape[bShape.length - (transB ? 1 : 2)] !== K) throw new Error(`matmulRef: K mismatch (${aShape} / ${bShape})`);
  const aB = aShape.slice(0, -2);
  const bB = bShape.slice(0, -2);
  const rank = Math.max(aB.length, bB.length);
  const pa = [...Array(rank - aB.length).fill(1), ...aB] as number[];
  const pb = [...Array(rank - bB.length).fill(1), ...bB] as number[];
  const out = pa.map((x, i) => {
    const y = pb[i]!;
    if (x !== y && x !== 1 && y !== 1) throw new Error(`matmulRef: batch dims do not broadcast (${aShape} / ${bShape})`);
    return Math.max(x, y);
  });
  const count = out.reduce((s, d) => s * d, 1);
  const y = new Float32Array(count * M * N);
  for (let z = 0; z < count; z++) {
    // Index of z in A's and B's own batch layout (size-1 dims broadcast).
    let rest = z;
    let ia = 0;
    let ib = 0;
    let sa = 1;
    let sb = 1;
    for (let i = rank - 1; i >= 0; i--) {
      const idx = rest % out[i]!;
      rest = Math.floor(rest / out[i]!);
      if (pa[i] !== 1) ia += idx * sa;
      if (pb[i] !== 1) ib += idx * sb;
      sa *= pa[i]!;
      sb *= pb[i]!;
    }
    const ao = ia * M * K;
    const bo = ib * K * N;
    const yo = z * M * N;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = bias ? Number(bias[n]) : 0;
        for (let k = 0; k < K; k++) {
          const bv = transB ? b[bo + n * K + k]! : b[bo + k * N + n]!;
          s += a[ao + m * K + k]! * bv;
        }
        y[yo + m * N + n] = s;
      }
    }
  }
  return { data: y, shape: [...out, M, N] };
}

/** `x [..., in] · weightᵀ + bias` with weight `[out, in]`. */
export function linearRef(
  x: ArrayLike<number>,
  xShape: readonly number[],
  weight: ArrayLike<number>,
  wShape: readonly number[],
  bias?: ArrayLike<number>,
): HostMatrix {
  const inF = xShape[xShape.length - 1]!;
  const rows = xShape.slice(0, -1).reduce((s, d) => s * d, 1);
  const r = matmulRef(x, [rows, inF], weight, wShape, { transB: true, bias });
  return { data: r.data, shape: [...xShape.slice(0, -1), wShape[0]!] };
}
