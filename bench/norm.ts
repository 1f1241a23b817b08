// `npm run bench -- norm [--quick] [--dtype f32|f16] [--row NAME|all]`
// Group norm at SD 1.5 shapes (UNet 2x320x64x64 with and without fused SiLU, the VAE decoder's 128 channels at
// 512x512, a small 2x1280x8x8), layer norm 2x4096x320 and CLIP's 2x77x768. GB/s counts one read of x and one
// write of y (the minimum traffic). --row times another kernel-table row's kernels (./rows.ts; `all`: every row
// that runs here, side by side); compileMs is the first run's wall time (pipeline compilation included).
// Writes bench/results/norm-<adapter class>.json.
import type { Device, Tensor } from '@sd-webgpu/tensor';
import { groupNorm, layerNorm } from '../packages/kernels/src/norm';
import { type BenchCase, type BenchResult, benchCases } from './harness';
import { benchEachRow } from './rows';

/** benchCases plus the process CPU time per run halved for 2 cores (steadier than wall time on a shared machine). */
export async function timed(device: Device, c: BenchCase, iters: number): Promise<BenchResult[]> {
  const t0 = performance.now();
  device.scope(c.run); // compile outside the CPU-time window
  await device.sync();
  const compileMs = performance.now() - t0;
  const cpu0 = process.cpuUsage();
  const [r] = await benchCases(device, [c], { warmup: 0, iters });
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000 / iters / 2;
  console.log(`${''.padEnd(44)} cpu/2 ${cpuMs.toFixed(2).padStart(9)} ms  ${(c.bytes! / cpuMs / 1e6).toFixed(2)} GB/s`);
  return [{ ...r!, cpuMsPerCore: cpuMs, compileMs } as BenchResult];
}

const fill = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) * 2 + 0.5);

async function benchGroupNorm(
  device: Device, shape: number[], dtype: 'f32' | 'f16', silu: boolean, tag: string, iters: number,
): Promise<BenchResult[]> {
  const c = shape[1]!;
  const n = shape.reduce((a, b) => a * b, 1);
  const x = device.tensor(fill(n), shape, dtype);
  const w = device.tensor(fill(c), [c], dtype);
  const bytes = 2 * x.byteLength;
  const r = await timed(device, {
    name: `groupNorm ${shape.join('x')}${silu ? '+silu' : ''} ${dtype}${tag}`,
    bytes,
    run: () => {
      groupNorm(x, w, w, { groups: 32, eps: 1e-5, silu }) satisfies Tensor;
    },
  }, iters);
  x.dispose();
  w.dispose();
  return r;
}

async function benchLayerNorm(device: Device, shape: number[], dtype: 'f32' | 'f16', tag: string): Promise<BenchResult[]> {
  const d = shape[shape.length - 1]!;
  const x = device.tensor(fill(shape.reduce((a, b) => a * b, 1)), shape, dtype);
  const w = device.tensor(fill(d), [d], dtype);
  const r = await timed(device, {
    name: `layerNorm ${shape.join('x')} ${dtype}${tag}`,
    bytes: 2 * x.byteLength,
    run: () => {
      layerNorm(x, w, w, { eps: 1e-5 }) satisfies Tensor;
    },
  }, 5);
  x.dispose();
  w.dispose();
  return r;
}

export function main(args: Record<string, string | true>): Promise<void> {
  return benchEachRow('norm', args, async (device, dtype, tag, quick) => [
    ...(await benchGroupNorm(device, [2, 320, 64, 64], dtype, false, tag, 5)),
    ...(await benchGroupNorm(device, [2, 320, 64, 64], dtype, true, tag, 5)),
    ...(await benchGroupNorm(device, [2, 1280, 8, 8], dtype, true, tag, 5)),
    ...(await benchGroupNorm(device, quick ? [1, 128, 256, 256] : [1, 128, 512, 512], dtype, true, tag, quick ? 3 : 2)),
    ...(await benchLayerNorm(device, [2, 4096, 320], dtype, tag)),
    ...(await benchLayerNorm(device, [2, 77, 768], dtype, tag)),
  ]);
}
