// `npm run bench -- attention [--quick] [--dtype f32|f16] [--tune] [--full]`
// SD 1.5 attention shapes: UNet self-attention at 512² (batch 2, 8 heads x 4096 tokens x D 40), cross-attention
// (4096 x 77), the VAE mid-block (1 head, 4096 tokens, D 512). GFLOP/s counts 4·B·H·Sq·Sk·D (two matmuls).
// Default: reduced token counts (the full self-attention is ~43 GFLOP, ~10 s per run here); --full runs SD sizes
// once each; --quick runs only the smallest cases; --tune compares launch shapes side by side on the reduced sizes.
import { Device, type Tensor } from '@sd-webgpu/tensor';
import { type AttentionTuning, attention, attentionTuning } from '../packages/kernels/src/attention';
import { type BenchCase, type BenchResult, benchCases, writeResults } from './harness';

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

function shapes(mode: 'quick' | 'default' | 'full'): Shape[] {
  const n = mode === 'full' ? 4096 : mode === 'default' ? 2048 : 1024;
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
  const t = `${tuning.lanes}x${tuning.rows} k${tuning.keys}${tuning.chunk !== s.d ? ` c${tuning.chunk}` : ''}`;
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

/** Launch shapes compared by --tune (the default from attentionTuning() is always included). */
function candidates(d: number): AttentionTuning[] {
  const chunk = attentionTuning(d).chunk;
  const list: AttentionTuning[] = [
    { lanes: 8, rows: 1, keys: 1, chunk }, // the naive baseline: one row per lane, max update per key
    { lanes: 8, rows: 1, keys: 8, chunk },
    { lanes: 8, rows: 2, keys: 8, chunk },
    { lanes: 8, rows: 4, keys: 8, chunk },
    { lanes: 8, rows: 2, keys: 16, chunk },
    { lanes: 16, rows: 2, keys: 8, chunk },
    { lanes: 32, rows: 1, keys: 8, chunk },
  ];
  if (d > 160) list.push({ lanes: 8, rows: 1, keys: 8, chunk: 64 }, { lanes: 8, rows: 1, keys: 8, chunk: 256 }, { lanes: 8, rows: 1, keys: 8, chunk: d });
  return list;
}

export async function main(args: Record<string, string | true>): Promise<void> {
  const device = await Device.create();
  const dtypes = (args.dtype ? [args.dtype] : device.features.f16 ? ['f32', 'f16'] : ['f32']) as ('f32' | 'f16')[];
  const mode = args.full ? 'full' : args.quick ? 'quick' : 'default';
  const results: BenchResult[] = [];
  console.log(`adapter: ${device.adapterInfo.description || device.adapterInfo.vendor}; mode ${mode}`);
  for (const s of shapes(args.tune ? 'quick' : mode)) {
    for (const dtype of dtypes) {
      const tunings = args.tune ? candidates(s.d) : [attentionTuning(s.d)];
      for (const tuning of tunings) {
        // Compile outside the timing: one run of the same variant on a tiny shape.
        const warm = makeCase(device, { ...s, b: 1, sq: 8, sk: 8 }, dtype, tuning);
        device.scope(warm.run);
        await device.sync();
        warm.dispose();
        const c = makeCase(device, s, dtype, tuning);
        const iters = mode === 'full' ? 1 : 3;
        results.push(...(await benchCases(device, [c], { warmup: mode === 'full' ? 0 : 1, iters })));
        c.dispose();
      }
    }
  }
  writeResults(args.tune ? 'attention-tune' : 'attention', device, results);
  device.dispose();
}
