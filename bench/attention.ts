// `npm run bench -- attention [--quick] [--dtype f32|f16] [--tune] [--row NAME|all]`
// SD 1.5 attention shapes: UNet self-attention at 512² (batch 2, 8 heads x 4096 tokens x D 40, ~43 GFLOP, ~3.7 s
// here), cross-attention (4096 x 77), the VAE mid-block (1 head, 4096 tokens, D 512), CLIP's causal 77 x 77.
// GFLOP/s counts 4·B·H·Sq·Sk·D (two matmuls). --quick uses 1024 tokens (batch 1); --tune compares launch shapes
// side by side at the --quick sizes; --row times another kernel-table row's choice (./rows.ts; `all`: every row that
// runs here). compileMs is the wall time of the first (tiny) run, pipeline compilation included. Writes
// bench/results/attention-<adapter class>.json.
import { Device, type Tensor } from '@sd-webgpu/tensor';
import { type AttentionTuning, attention, attentionTuning } from '../packages/kernels/src/attention';
import { type BenchCase, type BenchResult, benchCases, writeResults } from './harness';
import { benchRows, resultsName, withBenchRow } from './rows';

interface Shape {
  label: string;
  b: number;
  sq: number;
  sk: number;
  heads: number;
  d: number;
  causal?: boolean;
}

const flops = (s: Shape) => 4 * s.b * s.heads * s.sq * s.sk * s.d;

function shapes(mode: 'quick' | 'full'): Shape[] {
  const n = mode === 'full' ? 4096 : 1024;
  const b = mode === 'full' ? 2 : 1;
  return [
    { label: `self ${b}x8x${n}x${n} d40`, b, sq: n, sk: n, heads: 8, d: 40 },
    { label: `cross ${b}x8x${n}x77 d40`, b, sq: n, sk: 77, heads: 8, d: 40 },
    { label: `vae 1x1x${n}x${n} d512`, b: 1, sq: n, sk: n, heads: 1, d: 512 },
    { label: 'clip causal 2x12x77x77 d64', b: 2, sq: 77, sk: 77, heads: 12, d: 64, causal: true },
  ];
}

function makeCase(device: Device, s: Shape, dtype: 'f32' | 'f16', tuning: AttentionTuning, tag = ''): BenchCase & { dispose(): void } {
  const c = s.heads * s.d;
  const fill = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) * 0.5);
  const q = device.tensor(fill(s.b * s.sq * c), [s.b, s.sq, c], dtype);
  const kv = device.tensor(fill(s.b * s.sk * c), [s.b, s.sk, c], dtype);
  const t = `${tuning.mode} ${tuning.lanes}x${tuning.rows} k${tuning.keys}${tuning.chunk !== s.d ? ` c${tuning.chunk}` : ''}`;
  return {
    name: `attn ${s.label} ${dtype} ${t}${tag}`,
    flops: flops(s),
    run: () => {
      attention(q, kv, kv, { heads: s.heads, causal: s.causal }, tuning) satisfies Tensor;
    },
    dispose: () => {
      q.dispose();
      kv.dispose();
    },
  };
}

/** Launch shapes compared by --tune (subgroup mode where the device runs it): rows per lane, keys per block. */
function candidates(device: Device, d: number): AttentionTuning[] {
  const direct = (lanes: number, rows: number, keys: number, chunk = d): AttentionTuning => ({ mode: 'direct', lanes, rows, keys, chunk });
  const list: AttentionTuning[] = [
    direct(8, 1, 1), // naive: one row per lane, a max update and rescale per key
    direct(8, 2, 8),
    direct(8, 4, 8),
    direct(8, 8, 8),
    direct(32, 4, 8),
  ];
  if (d > 160) list.push(direct(8, 4, 8, 128));
  if (attentionTuning(device, d).mode === 'subgroup') {
    for (const rows of [1, 2, 4, 6, 8]) list.push({ mode: 'subgroup', lanes: 8, rows, keys: 8, chunk: d });
  }
  for (const [lanes, rows] of [[64, 1], [32, 2], [16, 4]] as const) {
    const keys = Math.min(32, 2 ** Math.floor(Math.log2(12288 / (8 * d))));
    if (keys >= 4) list.push({ mode: 'flash', lanes, rows, keys, chunk: d });
  }
  return list;
}

export async function main(args: Record<string, string | true>): Promise<void> {
  const device = await Device.create();
  const dtypes = (args.dtype ? [args.dtype] : device.features.f16 ? ['f32', 'f16'] : ['f32']) as ('f32' | 'f16')[];
  const mode = args.quick || args.tune ? 'quick' : 'full';
  const results: BenchResult[] = [];
  console.log(`adapter: ${device.adapterInfo.description || device.adapterInfo.vendor}; mode ${mode}`);
  for (const row of args.tune ? [null] : benchRows(device, args.row)) {
    const measure = async () => {
      for (const s of shapes(mode)) {
        for (const dtype of dtypes) {
          const tunings = args.tune ? candidates(device, s.d) : [attentionTuning(device, s.d)];
          for (const tuning of tunings) results.push(await measureOne(device, s, dtype, tuning, mode, row ? ` [${row.adapter}]` : ''));
        }
      }
    };
    await (row ? withBenchRow(device, row, measure) : measure());
  }
  writeResults(resultsName(args.tune ? 'attention-tune' : 'attention', device, args.row), device, results);
  device.dispose();
}

/** Compiles (timed: compileMs) on a tiny shape, then times `s` with `tuning`. */
async function measureOne(
  device: Device, s: Shape, dtype: 'f32' | 'f16', tuning: AttentionTuning, mode: 'quick' | 'full', tag: string,
): Promise<BenchResult> {
  // Compile outside the timing: one run of the same variant on a tiny shape.
  const t0 = performance.now();
  const warm = makeCase(device, { ...s, b: 1, sq: 8, sk: 8 }, dtype, tuning);
  device.scope(warm.run);
  await device.sync();
  warm.dispose();
  const compileMs = performance.now() - t0;
  const c = makeCase(device, s, dtype, tuning, tag);
  const iters = mode === 'full' ? 2 : 3;
  // CPU time of the process (lavapipe's worker threads) per run, halved for 2 cores: steadier than wall or
  // timestamp time on a machine shared with other jobs.
  const cpu0 = process.cpuUsage();
  const [r] = await benchCases(device, [c], { warmup: 0, iters });
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000 / iters / 2;
  console.log(`${''.padEnd(44)} cpu/2 ${cpuMs.toFixed(2).padStart(9)} ms  ${(c.flops! / cpuMs / 1e6).toFixed(2)} GFLOP/s  compile ${compileMs.toFixed(0)} ms`);
  c.dispose();
  return { ...r!, cpuMsPerCore: cpuMs, compileMs } as BenchResult;
}
