/** f32 ulp distance helpers for the RNG tests. */

const f = new Float32Array(1);
const i = new Int32Array(f.buffer);

/** Maps an f32 onto a monotone integer line (so adjacent floats differ by 1, across zero too). */
function ordered(x: number): number {
  f[0] = x;
  const b = i[0];
  return b < 0 ? -2147483648 - b : b;
}

/** Number of representable f32 values between a and b (0 when bit-identical, including +0 vs -0). */
export function ulpDistance(a: number, b: number): number {
  return Math.abs(ordered(a) - ordered(b));
}

export interface UlpStats {
  maxUlp: number;
  maxAbs: number;
  exact: number;
  n: number;
  /** Elements whose ulp distance exceeds maxUlpAllowed AND abs error exceeds maxAbsAllowed. */
  outside: number;
  worst: number;
}

export function ulpStats(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  maxUlpAllowed: number,
  maxAbsAllowed: number,
): UlpStats {
  if (actual.length !== expected.length) {
    throw new Error(`ulpStats: actual has ${actual.length} values, expected ${expected.length}`);
  }
  let maxUlp = 0;
  let maxAbs = 0;
  let exact = 0;
  let outside = 0;
  let worst = -1;
  for (let k = 0; k < actual.length; k++) {
    const u = ulpDistance(actual[k], expected[k]);
    const d = Math.abs(actual[k] - expected[k]);
    if (u === 0) exact++;
    if (u > maxUlp) {
      maxUlp = u;
      worst = k;
    }
    if (d > maxAbs) maxAbs = d;
    if (u > maxUlpAllowed && !(d <= maxAbsAllowed)) outside++;
  }
  return { maxUlp, maxAbs, exact, n: actual.length, outside, worst };
}
