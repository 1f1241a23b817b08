/**
 * CPU reference for softmax over the last dimension (f64, row max subtracted). With `causal`, column j of row i
 * (i = index within the second-to-last dimension) is excluded when j > i and comes out exactly 0. Entries that are
 * -Infinity are excluded the same way; a row with nothing left is all zeros.
 */
export function softmaxRef(x: ArrayLike<number>, shape: readonly number[], { causal = false } = {}): Float32Array {
  const cols = shape[shape.length - 1] ?? 1;
  const rowsPerMatrix = shape.length >= 2 ? shape[shape.length - 2]! : 1;
  const rows = cols === 0 ? 0 : x.length / cols;
  const y = new Float32Array(x.length);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    const last = causal ? Math.min(cols - 1, r % rowsPerMatrix) : cols - 1;
    let max = -Infinity;
    for (let j = 0; j <= last; j++) max = Math.max(max, x[base + j]!);
    if (max === -Infinity) continue;
    let sum = 0;
    for (let j = 0; j <= last; j++) sum += Math.exp(x[base + j]! - max);
    for (let j = 0; j <= last; j++) y[base + j] = Math.exp(x[base + j]! - max) / sum;
  }
  return y;
}
