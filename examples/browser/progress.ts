/**
 * Step timing for the status line: iterations per second and the time left. The first step also compiles every
 * shader the UNet needs (seconds to minutes on a fresh device), so once a second step is done the rate counts only
 * the steps after the first.
 */

export interface StepTiming {
  /** Steps per second; below 1 the status shows seconds per step instead (as A1111 does). */
  itPerSec: number;
  /** Seconds until the last step at that rate. */
  etaSeconds: number;
}

export class StepClock {
  readonly #t0: number;
  #afterFirst: number | null = null;

  constructor(now: number = performance.now()) {
    this.#t0 = now;
  }

  /** The timing after `step` (1-based) of `total` steps finished at `now` (milliseconds). */
  step(step: number, total: number, now: number = performance.now()): StepTiming {
    if (step <= 1 || this.#afterFirst === null) {
      this.#afterFirst = now;
      const perStep = Math.max(now - this.#t0, 1e-3) / Math.max(step, 1);
      return { itPerSec: 1000 / perStep, etaSeconds: ((total - step) * perStep) / 1000 };
    }
    const perStep = Math.max(now - this.#afterFirst, 1e-3) / (step - 1);
    return { itPerSec: 1000 / perStep, etaSeconds: ((total - step) * perStep) / 1000 };
  }
}

/** `42s`, `3m 05s`, `1h 02m`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** `step 3/20, 1.52 it/s, ETA 11s` (or `4.10 s/it` below one step per second). */
export function stepStatus(step: number, total: number, t: StepTiming): string {
  const rate = t.itPerSec >= 1 ? `${t.itPerSec.toFixed(2)} it/s` : `${(1 / t.itPerSec).toFixed(2)} s/it`;
  return `step ${step}/${total}, ${rate}, ETA ${formatDuration(t.etaSeconds)}`;
}
