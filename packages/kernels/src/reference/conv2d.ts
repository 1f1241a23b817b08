/**
 * CPU reference of conv2d (f64 accumulation, f32 result): NCHW cross-correlation, weight `[O, I, kh, kw]`, zero
 * padding `[top, bottom, left, right]` (or one number for all sides), stride s:
 * `y[n,o,oy,ox] = b[o] + Σ_{i,ky,kx} x[n, i, oy·s + ky − top, ox·s + kx − left] · w[o,i,ky,kx]`, with
 * `Hout = floor((H + top + bottom − kh) / s) + 1`. Written independently of the GPU op's shape helpers.
 */
export interface Conv2dRefResult {
  data: Float32Array;
  shape: [number, number, number, number];
}

export interface Conv2dRefOptions {
  stride?: number;
  padding?: number | readonly [number, number, number, number];
}

export function conv2dRef(
  x: ArrayLike<number>,
  xShape: readonly number[],
  weight: ArrayLike<number>,
  wShape: readonly number[],
  bias?: ArrayLike<number> | null,
  { stride = 1, padding = 0 }: Conv2dRefOptions = {},
): Conv2dRefResult {
  if (xShape.length !== 4 || wShape.length !== 4) throw new Error(`conv2dRef: rank != 4 (${xShape} / ${wShape})`);
  const [N, C, H, W] = xShape as [number, number, number, number];
  const [O, I, KH, KW] = wShape as [number, number, number, number];
  if (I !== C) throw new Error(`conv2dRef: weight has ${I} input channels, x has ${C}`);
  if (x.length !== N * C * H * W || weight.length !== O * I * KH * KW) throw new Error('conv2dRef: data/shape mismatch');
  const [top, bottom, left, right] = typeof padding === 'number' ? [padding, padding, padding, padding] : padding;
  const HO = Math.floor((H + top + bottom - KH) / stride) + 1;
  const WO = Math.floor((W + left + right - KW) / stride) + 1;
  if (HO < 1 || WO < 1) throw new Error(`conv2dRef: empty output ${HO}x${WO}`);
  const y = new Float32Array(N * O * HO * WO);
  const xrow = new Float64Array(W);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < O; o++) {
      const acc = new Float64Array(HO * WO).fill(bias ? Number(bias[o]) : 0);
      for (let c = 0; c < C; c++) {
        for (let ky = 0; ky < KH; ky++) {
          for (let oy = 0; oy < HO; oy++) {
            const iy = oy * stride + ky - top;
            if (iy < 0 || iy >= H) continue;
            const xb = ((n * C + c) * H + iy) * W;
            for (let i = 0; i < W; i++) xrow[i] = x[xb + i]!;
            for (let kx = 0; kx < KW; kx++) {
              const wv = Number(weight[((o * I + c) * KH + ky) * KW + kx]);
              for (let ox = 0; ox < WO; ox++) {
                const ix = ox * stride + kx - left;
                if (ix >= 0 && ix < W) acc[oy * WO + ox] += wv * xrow[ix]!;
              }
            }
          }
        }
      }
      y.set(acc, (n * O + o) * HO * WO);
    }
  }
  return { data: y, shape: [N, O, HO, WO] };
}
