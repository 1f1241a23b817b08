import { ParameterError } from '@sd-webgpu/tensor';

/**
 * Adaptive Gauss-Kronrod (G7/K15) quadrature, the rule family QUADPACK (and so scipy.integrate.quad) uses.
 * Each interval is integrated with the 15-point Kronrod rule; the difference to the embedded 7-point Gauss
 * rule estimates the error, and the interval with the largest estimate is bisected until the total
 * estimate is below max(epsAbs, epsRel·|I|). K15 is exact for polynomials up to degree 22, so the LMS
 * integrands (degree <= 3) converge on the first evaluation.
 */

// Nodes of the 15-point Kronrod rule on [-1, 1] (positive half, descending), and the weights.
const XGK = [
  0.991455371120812639206854697526329, 0.949107912342758524526189684047851, 0.864864423359769072789712788640926,
  0.741531185599394439863864773280788, 0.58608723546769113029414483825873, 0.405845151377397166906606412076961,
  0.207784955007898467600689403773245, 0.0,
];
const WGK = [
  0.02293532201052922496373200805897, 0.063092092629978553290700663189204, 0.104790010322250183839876322541518,
  0.140653259715525918745189590510238, 0.16900472663926790282658342659855, 0.190350578064785409913256402421014,
  0.204432940075298892414161999234649, 0.209482141084727828012999174891714,
];
// Weights of the embedded 7-point Gauss rule (its nodes are XGK[1], XGK[3], XGK[5], XGK[7]).
const WG = [0.129484966168869693270611432679082, 0.27970539148927666790146777142378, 0.381830050505118944950369775488975, 0.417959183673469387755102040816327];

interface Piece {
  a: number;
  b: number;
  value: number;
  error: number;
}

function kronrod15(fn: (x: number) => number, a: number, b: number): Piece {
  const center = 0.5 * (a + b);
  const half = 0.5 * (b - a);
  const fc = fn(center);
  let resK = fc * WGK[7];
  let resG = fc * WG[3];
  for (let j = 0; j < 7; j++) {
    const dx = half * XGK[j];
    const sum = fn(center - dx) + fn(center + dx);
    resK += WGK[j] * sum;
    if (j % 2 === 1) resG += WG[(j - 1) / 2] * sum;
  }
  const value = resK * half;
  return { a, b, value, error: Math.abs((resK - resG) * half) };
}

export interface QuadOptions {
  /** Absolute error target (default 1e-13). */
  epsAbs?: number;
  /** Relative error target (default 1e-12). */
  epsRel?: number;
  /** Maximum number of subintervals (default 200). */
  limit?: number;
}

/** ∫_a^b fn(x) dx (a > b gives the negated integral, as usual). Throws when the tolerance is not reached. */
export function integrate(fn: (x: number) => number, a: number, b: number, opts: QuadOptions = {}): number {
  const { epsAbs = 1e-13, epsRel = 1e-12, limit = 200 } = opts;
  if (!Number.isFinite(a) || !Number.isFinite(b)) {
    throw new ParameterError('integrate', 'a/b', `limits must be finite, got [${a}, ${b}]`);
  }
  if (a === b) return 0;
  const pieces: Piece[] = [kronrod15(fn, a, b)];
  for (;;) {
    let value = 0;
    let error = 0;
    let worst = 0;
    pieces.forEach((p, i) => {
      value += p.value;
      error += p.error;
      if (p.error > pieces[worst].error) worst = i;
    });
    if (error <= Math.max(epsAbs, epsRel * Math.abs(value))) return value;
    if (pieces.length >= limit) {
      throw new ParameterError('integrate', 'limit', `${limit} subintervals did not reach the tolerance (error estimate ${error})`);
    }
    const p = pieces[worst];
    const mid = 0.5 * (p.a + p.b);
    pieces.splice(worst, 1, kronrod15(fn, p.a, mid), kronrod15(fn, mid, p.b));
  }
}
