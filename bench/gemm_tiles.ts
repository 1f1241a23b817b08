// `npm run bench -- gemm_tiles [--tiles 8x8r2x2k8,16x16r4x4k16] [--iters 3]`: GEMM-core tile sweep on this adapter
// (one linear and one 3x3 conv at small SD-like shapes, f32), the data behind a kernel-table row's tile
// (packages/kernels/src/table.ts). Tile syntax: <wgX>x<wgY>r<rm>x<rn>k<tk>.
import { Device, type Tensor } from '@sd-webgpu/tensor';
import { type GemmTile, conv2d, conv2dFlops, matmul, matmulFlops } from '@sd-webgpu/kernels';
import { type BenchResult, benchCases, writeResults } from './harness';

const DEFAULT = '8x8r2x2k8,8x8r4x4k16,4x4r4x4k16,16x16r4x4k16,8x8r4x4k8';

function parseTile(s: string): GemmTile {
  const m = /^(\d+)x(\d+)r(\d+)x(\d+)k(\d+)$/.exec(s);
  if (!m) throw new Error(`bad tile '${s}' (want <wgX>x<wgY>r<rm>x<rn>k<tk>)`);
  const [wgX, wgY, rm, rn, tk] = m.slice(1).map(Number) as [number, number, number, number, number];
  return { wgX, wgY, rm, rn, tk };
}

export async function main(args: Record<string, string | true>): Promise<void> {
  const tiles = (typeof args.tiles === 'string' ? args.tiles : DEFAULT).split(',').map((s) => [s, parseTile(s)] as const);
  const iters = Number(args.iters ?? 3);
  const device = await Device.create();
  const v = (n: number) => Float32Array.from({ length: n }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
  const live: Tensor[] = [];
  const t = (shape: number[]) => {
    const x = device.tensor(v(shape.reduce((a, b) => a * b, 1)), shape);
    live.push(x);
    return x;
  };
  const [a, w] = [t([256, 320]), t([320, 320])];
  const [x, cw, cb] = [t([1, 64, 32, 32]), t([64, 64, 3, 3]), t([64])];
  const results: BenchResult[] = [];
  console.log(`GEMM tiles on ${device.adapterInfo.description || device.adapterInfo.device}`);
  for (const [name, gemm] of tiles) {
    const t0 = performance.now();
    results.push(...await benchCases(device, [
      { name: `linear 256x320x320 ${name}`, flops: matmulFlops(256, 320, 320), run: () => void matmul(a, w, { transB: true, tile: { gemm } }) },
      { name: `conv3x3 64@32² ${name}`, flops: conv2dFlops(x.shape, cw.shape, { padding: 1 }), run: () => void conv2d(x, cw, cb, { padding: 1, gemm }) },
    ], { warmup: 1, iters }));
    console.log(`  (${name}: ${((performance.now() - t0) / 1000).toFixed(1)} s with compilation)`);
  }
  for (const l of live) l.dispose();
  writeResults('gemm_tiles', device, results);
  device.dispose();
}
