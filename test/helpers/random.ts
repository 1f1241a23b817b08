/** Deterministic test data shared by the kernel tests. */

/** Deterministic normal(mean, std) values (LCG + Box-Muller). */
export function normal(n: number, seed: number, mean = 0, std = 1): Float32Array {
  let s = seed >>> 0;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 4294967296;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = mean + std * Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  return out;
}

/** Deterministic normal(0, std) values. */
export const randn = (n: number, seed: number, std = 1): Float32Array => normal(n, seed, 0, std);
