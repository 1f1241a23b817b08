import { describe, expect, it } from 'vitest';
import { ProgressBar, formatBar, formatDuration, formatProgress } from '../../packages/pipeline/src/cli/progress';

describe('progress formatting', () => {
  it('formats the example line', () => {
    // 12 steps in 12/3.4 s: 3.4 it/s, 13 steps left → 3.8 s → "4s"
    expect(formatProgress(12, 25, (12 / 3.4) * 1000)).toBe('[=====>    ] 12/25 steps  3.4 it/s  ETA 4s');
  });

  it('draws the bar from empty to full', () => {
    expect(formatBar(0, 25)).toBe('[>         ]');
    expect(formatBar(1, 25)).toBe('[>         ]');
    expect(formatBar(24, 25)).toBe('[=========>]');
    expect(formatBar(25, 25)).toBe('[==========]');
    expect(formatBar(3, 4, 4)).toBe('[===>]');
    expect(formatBar(5, 0)).toBe('[>         ]');
  });

  it('shows -- before time has passed and s/it for slow steps', () => {
    expect(formatProgress(0, 10, 0)).toBe('[>         ] 0/10 steps  -- it/s  ETA --');
    expect(formatProgress(2, 10, 5000)).toBe('[==>       ] 2/10 steps  2.5 s/it  ETA 20s');
    expect(formatProgress(10, 10, 2000)).toBe('[==========] 10/10 steps  5.0 it/s  ETA 0s');
  });

  it('formats durations', () => {
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(59.4)).toBe('59s');
    expect(formatDuration(65)).toBe('1m05s');
    expect(formatDuration(3599)).toBe('59m59s');
    expect(formatDuration(3725)).toBe('1h02m');
    expect(formatDuration(NaN)).toBe('--');
    expect(formatDuration(Infinity)).toBe('--');
  });
});

/** A fake stream + clock. */
function setup(isTTY: boolean) {
  let t = 0;
  const writes: string[] = [];
  const bar = new ProgressBar({ isTTY, write: (s: string) => writes.push(s) }, { now: () => t, minIntervalMs: 1000 });
  return { bar, writes, advance: (ms: number) => (t += ms) };
}

describe('ProgressBar', () => {
  it('redraws in place with \\r on a TTY, padding over a longer previous line, and ends with a newline', () => {
    const { bar, writes, advance } = setup(true);
    bar.start();
    advance(500);
    bar.update(1, 10); // 2.0 it/s
    advance(4500);
    bar.update(2, 10); // 2.5 s/it: a longer line
    advance(100);
    bar.update(3, 10);
    expect(bar.finish()).toBe(5100);
    expect(writes[0]).toBe('\r[=>        ] 1/10 steps  2.0 it/s  ETA 5s');
    expect(writes[1]).toBe('\r[==>       ] 2/10 steps  2.5 s/it  ETA 20s');
    expect(writes[2]!.startsWith('\r[===>      ] 3/10 steps  1.7 s/it  ETA 12s')).toBe(true);
    expect(writes[2]!.length).toBe(writes[1]!.length); // padded (same length here)
    expect(writes[3]).toBe('\n');
    expect(writes.slice(0, 3).every((w) => !w.includes('\n'))).toBe(true);
  });

  it('pads with spaces when the new line is shorter', () => {
    const { bar, writes, advance } = setup(true);
    advance(20000);
    bar.update(1, 100);
    advance(1);
    bar.update(99, 100);
    const first = formatProgress(1, 100, 20000);
    const second = formatProgress(99, 100, 20001);
    expect(first).toBe('[>         ] 1/100 steps  20.0 s/it  ETA 33m00s');
    expect(second.length).toBeLessThan(first.length);
    expect(writes).toEqual([`\r${first}`, `\r${second}${' '.repeat(first.length - second.length)}`]);
  });

  it('writes plain lines off a TTY: first step, at most one per interval, and the last step', () => {
    const { bar, writes, advance } = setup(false);
    bar.start();
    for (let s = 1; s <= 20; s++) {
      advance(300);
      bar.update(s, 20);
    }
    bar.finish();
    // t = 300 (step 1), then the first step ≥ 1000 ms after the last line: t = 1500 (step 5), 2700 (step 9),
    // 3900 (step 13), 5100 (step 17), and the last step at t = 6000
    const steps = writes.map((w) => /\] (\d+)\/20/.exec(w)![1]);
    expect(steps).toEqual(['1', '5', '9', '13', '17', '20']);
    expect(writes.every((w) => w.endsWith('\n') && !w.includes('\r'))).toBe(true);
  });
});
