/**
 * The GPU benchmark (run it through bench/gpu/run.sh): prints the adapter, times every kernel at the SD 1.5 shapes in
 * f32 and f16 (GFLOP/s, GB/s) for the device's kernel-table row (`--rows all`: every runnable row), then one UNet CFG
 * evaluation (batch 2, 64x64 latent), the text encoder, a VAE decode at 512² and a 20-step 512² txt2img on random
 * SD 1.5 weights with peak pool memory, and, where python3 has PyTorch, the same kernel shapes in PyTorch with
 * our/PyTorch time ratios. Table to stdout, JSON to `--out`.
 * `--quick`: the small kernel shapes in f32, a CPU adapter allowed, and the tiny fixture model end to end instead of
 * SD 1.5. Run from the repository root (run.sh does): the tiny model and torch_bench.py are found from there.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Device } from '@sd-webgpu/tensor';
import { kernelRow, matrixTileName, probeMatrixGemm, runnableRows } from '@sd-webgpu/kernels';
import { parseArgs } from '../harness';
import { QUICK_CASES, SD15_CASES } from './cases';
import { BenchSetupError, openGpu } from './gpu';
import { type KernelResult, benchKernels } from './kernels';
import { type ModelResult, benchModels } from './models';

interface TorchResult {
  case: string;
  dtype: string;
  ms?: number;
  error?: string;
}

/**
 * Runs bench/gpu/torch_bench.py with the cases under the first of $SD_WEBGPU_PYTHON, python3, /usr/bin/python3 that
 * has torch (a pyenv python3 may shadow the system one that has it); `{ available: false, reason }` when none has.
 */
function runTorch(cases: unknown[], dtypes: string[], iters: number, script: string, timeoutS: number): Record<string, unknown> {
  const candidates = [process.env.SD_WEBGPU_PYTHON, 'python3', '/usr/bin/python3'].filter((p): p is string => !!p);
  const reasons: string[] = [];
  for (const python of [...new Set(candidates)]) {
    const r = spawnSync(python, [script], { input: JSON.stringify({ cases, dtypes, iters }), encoding: 'utf8', timeout: timeoutS * 1000 });
    let out: Record<string, unknown>;
    if (r.error) out = { available: false, reason: r.error.message };
    else if (r.status !== 0) out = { available: false, reason: `exited ${r.status}: ${r.stderr.trim().split('\n').pop()}` };
    else {
      try {
        out = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
      } catch {
        out = { available: false, reason: `printed no JSON: ${r.stdout.slice(0, 200)}` };
      }
    }
    if (out.available) return { ...out, python };
    reasons.push(`${python}: ${String(out.reason)}`);
  }
  return { available: false, reason: reasons.join('; ') };
}

function table(kernels: KernelResult[], torch: TorchResult[]): string {
  const lines = [
    `${'kernel'.padEnd(58)} ${'ms'.padStart(9)} ${'GFLOP/s'.padStart(9)} ${'GB/s'.padStart(8)} ${'torch ms'.padStart(9)} ${'ours/torch'.padStart(10)}`,
  ];
  for (const k of kernels) {
    const t = torch.find((x) => x.case === k.case && x.dtype === k.dtype);
    const tms = t?.ms !== undefined ? t.ms.toFixed(3) : t?.error ? 'error' : '-';
    const ratio = t?.ms ? (k.ms / t.ms).toFixed(2) : '-';
    lines.push(`${`[${k.row}] ${k.case} ${k.dtype}`.padEnd(58)} ${k.ms.toFixed(3).padStart(9)} ` +
      `${(k.gflops ?? 0).toFixed(1).padStart(9)} ${(k.gbps ?? 0).toFixed(1).padStart(8)} ${tms.padStart(9)} ${ratio.padStart(10)}`);
  }
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<void> {
  const args = parseArgs(argv);
  const quick = args.quick === true;
  const outDir = resolve(typeof args.out === 'string' ? args.out : 'bench/results/gpu');
  const t0 = performance.now();
  const { device, report } = await openGpu(!quick && args['allow-cpu'] !== true);
  try {
    const row = kernelRow(device);
    console.log(`adapter: ${JSON.stringify(report.adapter)}`);
    console.log(`kernel row: ${row.adapter}; subgroups ${JSON.stringify(report.subgroupSizes)}; ${String(report.f16)}`);
    const matrix = await probeMatrixGemm(device);
    const matrixUse = matrix.tile ? `f16 GEMMs run on subgroup matrices, tile ${matrixTileName(matrix.tile)}` : "f16 GEMMs run on the row's own matmul/conv2d kernels";
    console.log(`subgroup matrix: ${JSON.stringify(report.subgroupMatrix)}; ${matrixUse}` +
      `${matrix.skipped.length ? ` (candidates not taken: ${matrix.skipped.join('; ')})` : ''}`);
    console.log(`dawn: ${String(report.dawn)}; limits ${JSON.stringify(report.limits)}`);
    // --quick: f32 only (half the shader compiles; the f16 kernels are checked by the kernel tests).
    const dtypes: ('f32' | 'f16')[] = device.features.f16 && !quick ? ['f32', 'f16'] : ['f32'];
    const cases = quick ? QUICK_CASES : SD15_CASES;
    const iters = typeof args.iters === 'string' ? Number(args.iters) : quick ? 2 : 5;
    if (!Number.isInteger(iters) || iters < 1) throw new BenchSetupError(`--iters must be a positive integer, got ${String(args.iters)}`, 2);
    const opts = { warmup: 1, iters };

    // 1. Kernels, for the device's row (or every runnable row).
    const rows = args.rows === 'all' ? runnableRows(device) : [row];
    const kernels: KernelResult[] = [];
    for (const r of rows) {
      const forced = r === row ? null : r;
      kernels.push(...await benchKernels(device, cases, dtypes, forced, r.adapter, opts));
    }
    // With subgroup matrices in use: the f16 GEMM cases once more on the scalar core, for the comparison.
    if (matrix.tile && dtypes.includes('f16')) {
      const gemmCases = cases.filter((c) => c.op === 'linear' || c.op === 'bmm' || c.op === 'conv2d');
      kernels.push(...await benchKernels(device, gemmCases, ['f16'], { ...row, matrix: [] }, `${row.adapter} scalar`, opts));
    }

    // 2. Models end to end.
    const models: ModelResult[] = args['no-models'] ? [] : await benchModels(device, dtypes, quick);

    // 3. PyTorch at the same shapes.
    const torch = args['no-torch'] ? { available: false, reason: '--no-torch' }
      : runTorch(cases, dtypes, opts.iters, resolve('bench/gpu/torch_bench.py'), quick ? 60 : 180);
    const torchResults = (torch.results as TorchResult[] | undefined) ?? [];
    console.log(`\nPyTorch: ${torch.available ? `${String(torch.torch)} on ${String(torch.device)}${torch.sdpa ? '' : ' (no SDPA: matmul-softmax-matmul)'}` : `not available (${String(torch.reason)})`}`);
    console.log(`\n${table(kernels, torchResults)}`);
    for (const m of models) {
      if (m.hostUsPerDispatch !== undefined) console.log(`${m.name.padEnd(58)} ${m.hostUsPerDispatch.toFixed(2).padStart(9)} µs/dispatch host`);
      else {
        const wall = m.msWall !== undefined ? `  wall ${m.msWall.toFixed(1)} ms` : '';
        console.log(`${m.name.padEnd(58)} ${m.ms.toFixed(1).padStart(9)} ms${wall}  peak ${(m.peakPoolBytes / 2 ** 20).toFixed(0)} MiB`);
      }
    }

    mkdirSync(outDir, { recursive: true });
    const file = resolve(outDir, quick ? 'gpu-quick.json' : 'gpu.json');
    writeFileSync(file, JSON.stringify({
      date: new Date().toISOString(), quick, row: row.adapter, ...report,
      matrixTile: matrix.tile ? matrixTileName(matrix.tile) : null, matrixSkipped: matrix.skipped, kernels, models,
      torch: { ...torch, results: torchResults },
      wallS: (performance.now() - t0) / 1000,
    }, null, 2));
    console.log(`\nwrote ${file} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  } finally {
    device.dispose();
  }
}

export async function run(argv: string[]): Promise<number> {
  try {
    await main(argv);
    return 0;
  } catch (e) {
    if (e instanceof BenchSetupError) {
      console.error(`bench/gpu: ${e.message}`);
      return e.exitCode;
    }
    console.error(e);
    return 1;
  }
}

export type { Device };
