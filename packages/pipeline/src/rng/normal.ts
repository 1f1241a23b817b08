/**
 * The number transforms behind torch's CPU `rand` / `randn` (torch 1.13, float32 outputs).
 *
 * - uniform float: `(w & 0xFFFFFF) * 2^-24`, one 32-bit word per value (`torch.rand`).
 * - uniform double: `((w1 << 32 | w2) & (2^53 - 1)) * 2^-53`, the FIRST word is the high half.
 * - `boxMuller16`: the vectorised normal path (numel >= 16) on one block of 16 uniforms, in float32
 *   arithmetic: `u1 = 1 - d[j]`, `u2 = d[j+8]`, `r = sqrt(-2 ln u1)`, `θ = 2π·u2`,
 *   `d[j] = r cos θ`, `d[j+8] = r sin θ` for j in 0..7.
 *
 * Every f32 operation is emulated with `Math.fround`. torch's AVX2 build evaluates `ln`, `sin` and `cos`
 * with avx_mathfun polynomials (Cephes coefficients); this file evaluates the same polynomials, in the
 * same order, with the same f32 roundings (see `logf32` / `sincosf32`), so the draws normally match
 * torch bit for bit. Builds that use another kernel (AVX512 dispatch, non-x86) differ by a few ulp
 * anyway; that is harmless for SD.
 */

const f = Math.fround;

/** 2^-24 and 2^-53 are exact powers of two: the products below are exact. */
const TWO_POW_M24 = 2 ** -24;
const TWO_POW_M53 = 2 ** -53;
const TWO_POW_32 = 2 ** 32;

export function uniformFloat(word: number): number {
  return (word & 0xffffff) * TWO_POW_M24;
}

export function uniformDouble(hiWord: number, loWord: number): number {
  // low 53 bits of (hi << 32 | lo) = (hi & 0x1FFFFF) * 2^32 + lo, exact in a double.
  return ((hiWord & 0x1fffff) * TWO_POW_32 + (loWord >>> 0)) * TWO_POW_M53;
}

// ---- avx_mathfun (Julien Pommier) constants, rounded to f32 as the C source's float literals are ----
const SQRTHF = f(0.707106781186547524);
const LOG_P = [
  7.0376836292e-2, -1.151461031e-1, 1.167699874e-1, -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1,
  2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1,
].map(f);
const LOG_Q1 = f(-2.12194440e-4);
const LOG_Q2 = f(0.693359375);
const MIN_NORM_POS = 2 ** -126;

const FOPI = f(1.27323954473516); // 4 / π
const DP1 = f(-0.78515625);
const DP2 = f(-2.4187564849853515625e-4);
const DP3 = f(-3.77489497744594108e-8);
const COS_P = [2.443315711809948e-5, -1.388731625493765e-3, 4.166664568298827e-2].map(f);
const SIN_P = [-1.9515295891e-4, 8.3321608736e-3, -1.6666654611e-1].map(f);

const TWO_PI_F32 = f(2 * Math.PI);

/**
 * f32 fused multiply-add `a*b + c` with one rounding. For f32 inputs the f64 product is exact, so only the
 * f64 addition and the final fround round; the two can disagree with a true single rounding only when
 * the f64 sum lands exactly on an f32 rounding boundary, which does not happen for the magnitudes here.
 * Where GCC contracted a multiply and an add of avx_mathfun into one FMA was found by trying every
 * choice against the torch fixtures (test/fixtures/rng): the choice below reproduces all of them.
 */
const fma = (a: number, b: number, c: number): number => f(a * b + c);

const bits = new Float32Array(1);
const bitsU = new Uint32Array(bits.buffer);

/** Natural log of a positive f32, as avx_mathfun's `log256_ps` (compiled with FMA contraction) computes it. */
export function logf32(v: number): number {
  if (!(v > 0)) return v === 0 ? -Infinity : NaN;
  bits[0] = Math.max(v, MIN_NORM_POS);
  const w = bitsU[0];
  let e = f(((w >>> 23) & 0xff) - 127 + 1);
  bitsU[0] = (w & ~0x7f800000) | 0x3f000000; // mantissa with exponent of 0.5: x in [0.5, 1)
  let x = bits[0];
  if (x < SQRTHF) {
    e = f(e - 1);
    x = f(f(x - 1) + x);
  } else {
    x = f(x - 1);
  }
  const z = f(x * x);
  let y = LOG_P[0];
  for (let i = 1; i < LOG_P.length; i++) y = fma(y, x, LOG_P[i]);
  y = f(y * x);
  y = fma(y, z, f(e * LOG_Q1)); // y*z + e*q1: the compiler fuses the y*z product into the add
  y = fma(-z, 0.5, y); // z*0.5 is exact, so fused or not gives the same result
  x = f(x + y);
  return fma(e, LOG_Q2, x);
}

/** sin and cos of an f32 angle, as avx_mathfun's `sincos256_ps` (compiled with FMA contraction) computes them. */
export function sincosf32(angle: number, out: { sin: number; cos: number }): void {
  const negative = angle < 0;
  let x = Math.abs(angle);
  let j = Math.trunc(f(x * FOPI)); // cvttps: truncation toward zero
  j = (j + 1) & ~1;
  const y = j;
  const sinSwap = (j & 4) !== 0;
  const cosSwap = ((j - 2) & 4) === 0;
  const usePolySin = (j & 2) === 0;
  // "extended precision modular arithmetic": x - y*π/4 in three pieces
  x = fma(y, DP1, x);
  x = fma(y, DP2, x);
  x = fma(y, DP3, x);
  const z = f(x * x);
  let c = COS_P[0];
  c = fma(c, z, COS_P[1]);
  c = fma(c, z, COS_P[2]);
  c = f(c * z);
  c = fma(c, z, -z * 0.5); // c*z - z*0.5 with the c*z product fused (z*0.5 is exact)
  c = f(c + 1);
  let s = SIN_P[0];
  s = fma(s, z, SIN_P[1]);
  s = fma(s, z, SIN_P[2]);
  s = f(s * z);
  s = fma(s, x, x);
  const sinV = usePolySin ? s : c;
  const cosV = usePolySin ? c : s;
  out.sin = negative !== sinSwap ? -sinV : sinV;
  out.cos = cosSwap ? -cosV : cosV;
}

const sc = { sin: 0, cos: 0 };

/**
 * In-place float32 Box-Muller on `d[offset .. offset+16)`, which holds 16 uniform floats in [0, 1).
 * Mirrors `normal_fill_16_AVX2` with mean 0 and std 1 (the final fmadd with std 1, mean 0 is exact).
 */
export function boxMuller16(d: Float32Array, offset: number): void {
  for (let j = 0; j < 8; j++) {
    const u1 = f(1 - d[offset + j]);
    const u2 = d[offset + j + 8];
    const radius = f(Math.sqrt(f(-2 * logf32(u1))));
    const theta = f(TWO_PI_F32 * u2);
    sincosf32(theta, sc);
    d[offset + j] = f(radius * sc.cos);
    d[offset + j + 8] = f(radius * sc.sin);
  }
}

/**
 * One scalar-path (numel < 16) Box-Muller pair in double precision, from two uniform doubles:
 * returns `r cos θ` and writes `r sin θ` (the value the generator caches) into `cache.value`.
 */
export function boxMullerDouble(u1: number, u2: number, cache: { value: number }): number {
  const r = Math.sqrt(-2 * Math.log(1 - u2));
  const theta = 2 * Math.PI * u1;
  cache.value = r * Math.sin(theta);
  return r * Math.cos(theta);
}
