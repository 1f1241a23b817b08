/**
 * The few numpy routines diffusers builds its schedules with, reproduced with numpy's exact float64
 * arithmetic so that timesteps (after rounding) and sigma tables come out identical.
 */

/** `np.round` / `np.rint`: round half to even. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x); // rounds half up
  if (Math.abs(x - Math.trunc(x)) === 0.5 && r % 2 !== 0) return r - 1;
  return r;
}

/** `np.linspace(start, stop, num)` in float64 (endpoint=True): `i*step + start`, last element exactly `stop`. */
export function linspace(start: number, stop: number, num: number): number[] {
  if (num <= 0) return [];
  if (num === 1) return [start];
  const div = num - 1;
  const step = (stop - start) / div;
  const out = new Array<number>(num);
  for (let i = 0; i < num; i++) {
    // numpy: y = arange(num) * step (or / div * delta when step == 0), then y += start
    out[i] = step === 0 ? (i / div) * (stop - start) + start : i * step + start;
  }
  out[num - 1] = stop;
  return out;
}

/** `np.arange(start, stop, step)` in float64: length ceil((stop-start)/step), values start + i*step. */
export function arange(start: number, stop: number, step: number): number[] {
  const len = Math.max(0, Math.ceil((stop - start) / step));
  // numpy fills from the first two values: a[i] = start + i*delta with delta = (start+step) - start
  const delta = start + step - start;
  return Array.from({ length: len }, (_, i) => start + i * delta);
}

/**
 * `np.interp(x, arange(fp.length), fp)` for one x (float64 result): linear interpolation on the unit grid
 * 0, 1, ..., n-1, clamped to the end values. Matches numpy's `slope*(x - xp[j]) + fp[j]` evaluation.
 */
export function interpUnitGrid(x: number, fp: ArrayLike<number>): number {
  const n = fp.length;
  if (Number.isNaN(x)) return NaN;
  if (x <= 0) return fp[0];
  if (x >= n - 1) return fp[n - 1];
  const j = Math.floor(x);
  if (j === x) return fp[j];
  const slope = (fp[j + 1] - fp[j]) / 1; // (xp[j+1] - xp[j]) is exactly 1
  return slope * (x - j) + fp[j];
}
