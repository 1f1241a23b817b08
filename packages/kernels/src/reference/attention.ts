/**
 * CPU reference for multi-head attention in the diffusers layout: q `[B, Sq, H·D]`, k/v `[B, Sk, H·D]`, head h owns
 * channels [h·D, (h+1)·D). Per head y = softmax(q kᵀ · scale) v with f64 accumulation; `causal` excludes key j > query i.
 */
export interface AttentionRefOptions {
  heads: number;
  causal?: boolean;
  scale?: number;
}

export function attentionRef(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  dims: { batch: number; sq: number; sk: number; channels: number },
  { heads, causal = false, scale }: AttentionRefOptions,
): Float32Array {
  const { batch, sq, sk, channels } = dims;
  const d = channels / heads;
  const s = scale ?? 1 / Math.sqrt(d);
  const y = new Float32Array(batch * sq * channels);
  const scores = new Float64Array(sk);
  const acc = new Float64Array(d);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < sq; i++) {
        const qo = (b * sq + i) * channels + h * d;
        const last = causal ? Math.min(sk - 1, i) : sk - 1;
        let max = -Infinity;
        for (let j = 0; j <= last; j++) {
          const ko = (b * sk + j) * channels + h * d;
          let dot = 0;
          for (let t = 0; t < d; t++) dot += q[qo + t]! * k[ko + t]!;
          scores[j] = dot * s;
          if (scores[j]! > max) max = scores[j]!;
        }
        let sum = 0;
        acc.fill(0);
        for (let j = 0; j <= last; j++) {
          const p = Math.exp(scores[j]! - max);
          sum += p;
          const vo = (b * sk + j) * channels + h * d;
          for (let t = 0; t < d; t++) acc[t] += p * v[vo + t]!;
        }
        for (let t = 0; t < d; t++) y[qo + t] = sum > 0 ? acc[t]! / sum : 0;
      }
    }
  }
  return y;
}
