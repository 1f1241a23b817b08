/**
 * A denoising progress bar on stderr: `[=====>    ] 12/25 steps  3.4 it/s  ETA 4s`.
 * On a TTY the line is redrawn in place with `\r`; otherwise (logs, pipes) plain lines are written: the first step,
 * then at most one line per `minIntervalMs`, and always the last step.
 */

/** The stream the bar writes to (process.stderr or a test double). */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

export interface ProgressOptions {
  /** Inner width of the bar in characters (default 10). */
  barWidth?: number;
  /** What is counted (default 'steps'). */
  unit?: string;
  /** Milliseconds clock (default performance.now). */
  now?: () => number;
  /** Non-TTY: least time between two printed lines (default 2000 ms). */
  minIntervalMs?: number;
}

/** `4s`, `1m05s`, `2h03m`; `--` for an unknown (non-finite or negative) duration. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  const m = Math.round(s / 60);
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** `[=====>    ]`: `=` for the done fraction (rounded), `>` as the head, all `=` when complete. */
export function formatBar(step: number, total: number, width = 10): string {
  const frac = total > 0 ? Math.min(Math.max(step / total, 0), 1) : 0;
  if (frac >= 1) return `[${'='.repeat(width)}]`;
  const filled = Math.min(Math.round(frac * width), width - 1);
  return `[${'='.repeat(filled)}>${' '.repeat(width - filled - 1)}]`;
}

/**
 * One progress line. The rate is steps per second over the whole run so far (`elapsedMs` since the start); below
 * 1 it/s it is shown as seconds per step (`2.5 s/it`), as tqdm does. Rate and ETA are `--` before any time passed.
 */
export function formatProgress(step: number, total: number, elapsedMs: number, opts: { barWidth?: number; unit?: string } = {}): string {
  const unit = opts.unit ?? 'steps';
  const head = `${formatBar(step, total, opts.barWidth)} ${step}/${total} ${unit}`;
  if (!(elapsedMs > 0) || step <= 0) return `${head}  -- it/s  ETA --`;
  const rate = step / (elapsedMs / 1000);
  const speed = rate >= 1 ? `${rate.toFixed(1)} it/s` : `${(1 / rate).toFixed(1)} s/it`;
  return `${head}  ${speed}  ETA ${formatDuration((total - step) / rate)}`;
}

export class ProgressBar {
  readonly #out: ProgressStream;
  readonly #now: () => number;
  readonly #barWidth: number;
  readonly #unit: string;
  readonly #minIntervalMs: number;
  #start: number;
  #lastLineAt = -Infinity;
  #lastLength = 0;
  #drawn = false;
  #lastStep = 0;
  #lastTotal = 0;

  constructor(out: ProgressStream, opts: ProgressOptions = {}) {
    this.#out = out;
    this.#now = opts.now ?? (() => performance.now());
    this.#barWidth = opts.barWidth ?? 10;
    this.#unit = opts.unit ?? 'steps';
    this.#minIntervalMs = opts.minIntervalMs ?? 2000;
    this.#start = this.#now();
  }

  /** Restarts the clock (call right before the first step begins). */
  start(): void {
    this.#start = this.#now();
    this.#lastLineAt = -Infinity;
  }

  /** Reports that `step` of `total` steps are done. */
  update(step: number, total: number): void {
    const t = this.#now();
    this.#lastStep = step;
    this.#lastTotal = total;
    const line = formatProgress(step, total, t - this.#start, { barWidth: this.#barWidth, unit: this.#unit });
    if (this.#out.isTTY) {
      // pad with spaces over what is left of a longer previous line
      this.#out.write(`\r${line.padEnd(this.#lastLength)}`);
      this.#lastLength = line.length;
      this.#drawn = true;
      return;
    }
    const due = step <= 1 || step >= total || t - this.#lastLineAt >= this.#minIntervalMs;
    if (!due) return;
    this.#out.write(`${line}\n`);
    this.#lastLineAt = t;
  }

  /** Ends the bar: on a TTY moves to a new line. Returns the elapsed milliseconds. */
  finish(): number {
    if (this.#out.isTTY && this.#drawn) this.#out.write('\n');
    this.#drawn = false;
    this.#lastLength = 0;
    return this.#now() - this.#start;
  }

  /** The last reported step and total (0/0 before any update). */
  get position(): { step: number; total: number } {
    return { step: this.#lastStep, total: this.#lastTotal };
  }
}
