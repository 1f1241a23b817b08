/**
 * CPU references for group norm and layer norm: plain TypeScript over Float32Array, f64 accumulation, two-pass
 * (exact mean first, then the biased variance around it), results rounded to f32.
 */

export interface GroupNormRefOptions {
  groups: number;
  eps: number;
  silu?: boolean;
}

const silu64 = (v: number) => v / (1 + Math.exp(-v));

/** y = (x - μ_g) / sqrt(σ²_g + eps) · weight[c] + bias[c] (then SiLU), x `[N, C, ...spatial]` (row-major). */
export function groupNormRef(
  x: ArrayLike<number>,
  shape: readonly number[],
  weight: ArrayLike<number>,
  bias: ArrayLike<number>,
  { groups, eps, silu = false }: GroupNormRefOptions,
): Float32Array {
  const [n = 1, c = 1] = shape;
  const hw = shape.slice(2).reduce((a, b) => a * b, 1);
  const cpg = c / groups;
  const len = cpg * hw;
  const y = new Float32Array(n * c * hw);
  for (let b = 0; b < n; b++) {
    for (let g = 0; g < groups; g++) {
      const base = (b * c + g * cpg) * hw;
      let sum = 0;
      for (let i = 0; i < len; i++) sum += x[base + i]!;
      const mean = sum / len;
      let m2 = 0;
      for (let i = 0; i < len; i++) {
        const d = x[base + i]! - mean;
        m2 += d * d;
      }
      const rstd = 1 / Math.sqrt(m2 / len + eps);
      for (let i = 0; i < len; i++) {
        const ch = g * cpg + Math.floor(i / hw);
        const v = (x[base + i]! - mean) * rstd * weight[ch]! + bias[ch]!;
        y[base + i] = silu ? silu64(v) : v;
      }
    }
  }
  return y;
}

/** Layer norm over the last dimension `d` of a row-major array of `x.length / d` rows. */
export function layerNormRef(
  x: ArrayLike<number>,
  d: number,
  weight: ArrayLike<number>,
  bias: ArrayLike<number>,
  { eps }: { eps: number },
): Float32Array {
  const rows = x.length / d;
  const y = new Float32Array(x.length);
  for (let r = 0; r < rows; r++) {
    const base = r * d;
    let sum = 0;
    for (let i = 0; i < d; i++) sum += x[base + i]!;
    const mean = sum / d;
    let m2 = 0;
    for (let i = 0; i < d; i++) {
      const t = x[base + i]! - mean;
      m2 += t * t;
    }
    const rstd = 1 / Math.sqrt(m2 / d + eps);
    for (let i = 0; i < d; i++) y[base + i] = (x[base + i]! - mean) * rstd * weight[i]! + bias[i]!;
  }
  return y;
}
