import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Device } from '@sd-webgpu/tensor';

export interface BenchCase {
  /** e.g. 'matmul 4096x320x320 f32' */
  name: string;
  /** Records the work once (inside a scope: outputs are freed). */
  run: () => void;
  /** Floating-point operations of one run (for GFLOP/s). */
  flops?: number;
  /** Bytes moved by one run (for GB/s). */
  bytes?: number;
}

export interface BenchResult {
  name: string;
  ms: number;
  msWall: number;
  gflops?: number;
  gbps?: number;
  iters: number;
  timing: 'timestamp-query' | 'wall';
  peakPoolBytes: number;
}

export interface BenchOptions {
  warmup?: number;
  iters?: number;
}

/**
 * Times each case: warm-up runs (pipeline compile), then `iters` runs, each measured with timestamp queries when the
 * device has them (wall time otherwise). Reports the median. Prints one line per case.
 */
export async function benchCases(device: Device, cases: BenchCase[], opts: BenchOptions = {}): Promise<BenchResult[]> {
  const { warmup = 1, iters = 5 } = opts;
  const results: BenchResult[] = [];
  for (const c of cases) {
    for (let i = 0; i < warmup; i++) device.scope(c.run);
    await device.sync();
    device.pool.resetPeak();
    const gpu: number[] = [];
    const wall: number[] = [];
    for (let i = 0; i < iters; i++) {
      const timer = device.timer();
      const t0 = performance.now();
      timer?.begin();
      device.scope(c.run);
      timer?.end();
      await device.sync();
      wall.push(performance.now() - t0);
      if (timer) {
        gpu.push(await timer.ms());
        timer.destroy();
      }
    }
    const ms = median(gpu.length ? gpu : wall);
    const r: BenchResult = {
      name: c.name, ms, msWall: median(wall), iters, timing: gpu.length ? 'timestamp-query' : 'wall',
      peakPoolBytes: device.pool.stats.peakLiveBytes,
    };
    if (c.flops) r.gflops = c.flops / ms / 1e6;
    if (c.bytes) r.gbps = c.bytes / ms / 1e6;
    results.push(r);
    console.log(formatResult(r));
  }
  return results;
}

export function formatResult(r: BenchResult): string {
  const rate = [r.gflops !== undefined ? `${r.gflops.toFixed(2)} GFLOP/s` : '', r.gbps !== undefined ? `${r.gbps.toFixed(2)} GB/s` : '']
    .filter(Boolean).join('  ');
  return `${r.name.padEnd(44)} ${r.ms.toFixed(2).padStart(10)} ms  ${rate.padEnd(28)} peak ${(r.peakPoolBytes / 2 ** 20).toFixed(1)} MiB`;
}

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Writes `bench/results/<family>.json` with the device description. */
export function writeResults(family: string, device: Device, results: unknown): string {
  const dir = resolve(process.env.SD_WEBGPU_ROOT ?? '.', 'bench/results');
  mkdirSync(dir, { recursive: true });
  const file = resolve(dir, `${family}.json`);
  writeFileSync(file, JSON.stringify({ family, date: new Date().toISOString(), adapter: device.adapterInfo, results }, null, 2));
  console.log(`wrote ${file}`);
  return file;
}

/** Parses `--key value` and `--flag` arguments. */
export function parseArgs(argv: string[]): Record<string, string | true> {
  const out: Record<string, string | true> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) continue;
    const next = argv[i + 1];
    if (next !== undefined && !next.startsWith('--')) {
      out[a.slice(2)] = next;
      i++;
    } else out[a.slice(2)] = true;
  }
  return out;
}
