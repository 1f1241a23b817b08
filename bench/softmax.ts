// `npm run bench -- softmax [--quick] [--dtype f32|f16] [--row NAME|all]`
// Softmax over the last dimension at the shapes SD meets outside the fused attention kernel: CLIP-sized score rows
// (2x12x77x77, causal), cross-attention-sized rows (2x8x4096x77) and self-attention-sized rows (2x8x1024x1024; 4096
// wide with --quick off: 2x8x4096x4096 is 1 GiB in f32, so the full mode uses 1x8x2048x2048). GB/s counts one read
// and one write. --row as in ./norm.ts. Writes bench/results/softmax-<adapter class>.json.
import type { Device, Tensor } from '@sd-webgpu/tensor';
import { softmax } from '../packages/kernels/src/softmax';
import type { BenchResult } from './harness';
import { timed } from './norm';
import { benchEachRow } from './rows';

const fill = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) * 4);

async function benchSoftmax(device: Device, shape: number[], dtype: 'f32' | 'f16', causal: boolean, tag: string): Promise<BenchResult[]> {
  const x = device.tensor(fill(shape.reduce((a, b) => a * b, 1)), shape, dtype);
  const r = await timed(device, {
    name: `softmax ${shape.join('x')}${causal ? ' causal' : ''} ${dtype}${tag}`,
    bytes: 2 * x.byteLength,
    run: () => {
      softmax(x, { causal }) satisfies Tensor;
    },
  }, 5);
  x.dispose();
  return r;
}

export function main(args: Record<string, string | true>): Promise<void> {
  return benchEachRow('softmax', args, async (device, dtype, tag, quick) => [
    ...(await benchSoftmax(device, [2, 12, 77, 77], dtype, true, tag)),
    ...(await benchSoftmax(device, [2, 8, quick ? 1024 : 4096, 77], dtype, false, tag)),
    ...(await benchSoftmax(device, quick ? [1, 8, 1024, 1024] : [1, 8, 2048, 2048], dtype, false, tag)),
  ]);
}
