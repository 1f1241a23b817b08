// `npm run bench -- matmul [--quick] [--f32-only|--f16-only] [--naive] [--tiles]`
//
// SD 1.5 matmul shapes as Linear layers (transposed [out, in] weights) plus attention-like batched products, in
// GFLOP/s (2·M·N·K per run). Besides the harness's GPU time, each line's "cpu" figure is FLOPs per CPU second of
// the process times the core count: lavapipe runs on the CPU, and on this shared 2-core machine CPU time is much
// less noisy than elapsed time. `--naive` adds a one-output-per-invocation kernel as the baseline; `--tiles` sweeps
// the tile candidates of ./packages/kernels/src/matmul/tiles.ts side by side (the data behind that table).
import { availableParallelism } from 'node:os';
import { type DType, Device, type Kernel, type Tensor } from '@sd-webgpu/tensor';
import { type MatmulTile, linear, matmul, matmulFlops } from '../packages/kernels/src/matmul';
import { kernelRow } from '../packages/kernels/src/table';
import { type BenchCase, type BenchResult, benchCases, writeResults } from './harness';

const CORES = availableParallelism();

interface Shape {
  name: string;
  /** a [..., M, K]; b [..., N, K] when transB else [..., K, N]. */
  a: number[];
  b: number[];
  transB: boolean;
  linear?: boolean;
}

function shapes(quick: boolean): Shape[] {
  const lin = (m: number, k: number, n: number): Shape => ({ name: `linear ${m}x${k}->${n}`, a: [m, k], b: [n, k], transB: true, linear: true });
  const list: Shape[] = [
    lin(4096, 320, 320), // proj_in / to_q / to_out at 64x64 latents
    lin(4096, 320, 1280),
    lin(1024, 640, 640),
    lin(256, 1280, 1280),
    lin(77, 768, 768), // CLIP projections
    { name: 'attn q·kᵀ [16,1024,40]·[16,1024,40]ᵀ', a: [16, 1024, 40], b: [16, 1024, 40], transB: true },
    { name: 'attn p·v [16,1024,1024]·[16,1024,40]', a: [16, 1024, 1024], b: [16, 1024, 40], transB: false },
    { name: 'xattn q·kᵀ [16,4096,40]·[16,77,40]ᵀ', a: [16, 4096, 40], b: [16, 77, 40], transB: true },
  ];
  return quick ? list.filter((s, i) => i === 0 || i === 4 || i === 5) : list;
}

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const flopsOf = (s: Shape) => {
  const [M, K] = s.a.slice(-2) as [number, number];
  const N = s.transB ? s.b[s.b.length - 2]! : s.b[s.b.length - 1]!;
  return matmulFlops(M, N, K, numel(s.a.slice(0, -2)));
};

/** The starting point: one output element per invocation, 8x8 workgroups, scalar loads (f32, non-transposed B). */
const naiveKernel: Kernel = {
  name: 'bench_matmul_naive',
  bindings: [
    { name: 'a', type: 'array<f32>', access: 'read' },
    { name: 'b', type: 'array<f32>', access: 'read' },
    { name: 'y', type: 'array<f32>', access: 'read_write' },
  ],
  uniforms: [{ name: 'm', type: 'u32' }, { name: 'n', type: 'u32' }, { name: 'k', type: 'u32' }],
  workgroupSize: [8, 8],
  source: /* wgsl */ `
@compute @workgroup_size(WG_X, WG_Y)
fn main(@builtin(global_invocation_id) g: vec3u) {
  if (g.x >= params.n || g.y >= params.m) { return; }
  var s = 0.0;
  for (var k = 0u; k < params.k; k++) { s += a[g.y * params.k + k] * b[k * params.n + g.x]; }
  y[g.y * params.n + g.x] = s;
}`,
};

/**
 * GFLOP per CPU-second × cores, from the fastest of `rounds` interleaved runs of each case (the run least slowed
 * down by other processes on the shared machine).
 */
async function cpuRates(device: Device, cases: BenchCase[], rounds: number): Promise<number[]> {
  const cpu: number[][] = cases.map(() => []);
  for (const c of cases) device.scope(c.run);
  await device.sync();
  for (let r = 0; r < rounds; r++) {
    for (const [i, c] of cases.entries()) {
      const t0 = process.cpuUsage();
      device.scope(c.run);
      await device.sync();
      const t = process.cpuUsage(t0);
      cpu[i]!.push((t.user + t.system) / 1e6);
    }
  }
  return cases.map((c, i) => {
    return ((c.flops ?? 0) * CORES) / Math.min(...cpu[i]!) / 1e9;
  });
}

export async function main(args: Record<string, string | true>): Promise<void> {
  const quick = args.quick === true;
  const device = await Device.create();
  const dtypes: DType[] = args['f16-only'] ? ['f16'] : args['f32-only'] || !device.features.f16 ? ['f32'] : ['f32', 'f16'];
  console.log(`matmul on ${device.adapterInfo.description || device.adapterInfo.device}: kernel row ${kernelRow(device).adapter}, ${CORES} cores`);
  const live: Tensor[] = [];
  const rand = (shape: number[], dtype: DType) => {
    const x = device.tensor(Float32Array.from({ length: numel(shape) }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5), shape, dtype);
    live.push(x);
    return x;
  };
  const results: (BenchResult & { cpuGflops: number })[] = [];
  const run = async (cases: BenchCase[]) => {
    const res = await benchCases(device, cases, { warmup: 1, iters: quick ? 3 : 5 });
    const cpu = await cpuRates(device, cases, quick ? 3 : args.tiles ? 9 : 5);
    res.forEach((r, i) => {
      console.log(`  ${r.name.padEnd(44)} cpu-time rate ${cpu[i]!.toFixed(2)} GFLOP/s (${CORES} cores)`);
      results.push({ ...r, cpuGflops: cpu[i]! });
    });
  };

  if (args.tiles) {
    await tileSweep(device, rand, run);
  } else {
    for (const dtype of dtypes) {
      const cases: BenchCase[] = [];
      for (const s of shapes(quick)) {
        const a = rand(s.a, dtype);
        const b = rand(s.b, dtype);
        const bias = s.linear ? rand([s.b[0]!], dtype) : undefined;
        const runOp = s.linear ? () => void linear(a, b, bias) : () => void matmul(a, b, { transB: s.transB });
        cases.push({ name: `${s.name} ${dtype}`, run: runOp, flops: flopsOf(s) });
        if (args.naive && dtype === 'f32' && s.linear && flopsOf(s) < 1e9) {
          // Baseline (at most ~4 s a run) on the non-transposed layout it needs ([K, N] weight).
          const [M, K] = s.a as [number, number];
          const N = s.b[0]!;
          const bt = rand([K, N], 'f32');
          const y = device.empty([M, N]);
          live.push(y);
          cases.push({
            name: `  naive ${M}x${K}x${N} f32`, flops: flopsOf(s),
            run: () => device.run(naiveKernel, { bindings: { a, b: bt, y }, uniforms: { m: M, n: N, k: K }, workgroups: [Math.ceil(N / 8), Math.ceil(M / 8)] }),
          });
        }
      }
      await run(cases);
    }
  }
  for (const t of live) t.dispose();
  writeResults(args.tiles ? 'matmul_tiles' : 'matmul', device, results);
  device.dispose();
}

/** Every tile candidate of each layout at one representative shape (f32), interleaved. */
async function tileSweep(device: Device, rand: (s: number[], d: DType) => Tensor, run: (c: BenchCase[]) => Promise<void>): Promise<void> {
  const subgroup = kernelRow(device).matmul === 'subgroup';
  // Subgroup kernel: (rows, cols) tiles; GEMM core: (invocations per side, outputs per invocation per side).
  const grids: Record<string, [number, number][]> = subgroup
    ? {
      tb: [[64, 4], [48, 4], [32, 4], [24, 4], [16, 4], [8, 4], [32, 2]],
      n4: [[64, 1], [32, 2], [32, 1], [24, 1], [16, 2], [16, 1], [8, 1]],
      n1: [[64, 4], [32, 4], [16, 4], [8, 4]],
    }
    : { tb: [[16, 4], [8, 4], [8, 2]], n4: [[16, 4], [8, 4], [8, 2]], n1: [[16, 4], [8, 4]] };
  const [M, K, N] = [1024, 320, 320];
  const a = rand([M, K], 'f32');
  for (const [layout, tiles] of Object.entries(grids)) {
    const b = layout === 'tb' ? rand([N, K], 'f32') : rand([K, layout === 'n4' ? N : N - 1], 'f32');
    const n = layout === 'n1' ? N - 1 : N;
    const cases = tiles.map(([rows, cols]): BenchCase => {
      const tile: MatmulTile = subgroup ? { rows, cols } : { gemm: { wgX: rows, wgY: rows, rm: cols, rn: cols, tk: 16 } };
      return {
        name: `${layout} ${M}x${K}x${n} tile ${rows}x${cols}`, flops: matmulFlops(M, n, K),
        run: () => void matmul(a, b, { transB: layout === 'tb', tile }),
      };
    });
    await run(cases);
  }
}
