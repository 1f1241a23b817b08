// `npm run bench -- elementwise [--quick] [--f16-only|--f32-only]`: memory-bound ops at SD 1.5 shapes, in GB/s
// (bytes read + written per run). `--quick` runs fewer iterations and skips the largest shapes.
import { type DType, Device, type Tensor } from '@sd-webgpu/tensor';
import { add, geglu, linearCombination, silu } from '../packages/kernels/src/elementwise';
import { concat, permute, upsampleNearest } from '../packages/kernels/src/layout';
import { type BenchCase, benchCases, writeResults } from './harness';

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const BYTES: Record<string, number> = { f32: 4, f16: 2 };

export async function main(args: Record<string, string | true>): Promise<void> {
  const quick = args.quick === true;
  const device = await Device.create();
  const dtypes: DType[] = args['f16-only'] ? ['f16'] : args['f32-only'] || !device.features.f16 ? ['f32'] : ['f32', 'f16'];
  const results = [];
  for (const dtype of dtypes) {
    const eb = BYTES[dtype]!;
    const live: Tensor[] = [];
    const t = (shape: number[]) => {
      const x = device.empty(shape, dtype);
      live.push(x);
      return x;
    };
    const cases: BenchCase[] = [];
    const big = quick ? [] : [[2, 4096, 2560]];
    for (const shape of [[2, 320, 64, 64], ...big]) {
      const n = numel(shape);
      const a = t(shape);
      const b = t(shape);
      const s = shape.join('x');
      cases.push({ name: `add ${s} ${dtype}`, run: () => void add(a, b), bytes: 3 * n * eb });
      cases.push({ name: `silu ${s} ${dtype}`, run: () => void silu(a), bytes: 2 * n * eb });
      cases.push({ name: `geglu ${s} ${dtype}`, run: () => void geglu(a), bytes: 1.5 * n * eb });
    }
    // Bias / time-embedding broadcast ([B,C,1,1] splat) and CFG guidance (3-term combination).
    const h = t([2, 320, 64, 64]);
    const bias = t([2, 320, 1, 1]);
    const hn = numel(h.shape);
    cases.push({ name: `add bcast [2,320,1,1] ${dtype}`, run: () => void add(h, bias), bytes: 2 * hn * eb });
    const [e0, e1, e2] = [t([1, 4, 64, 64]), t([1, 4, 64, 64]), t([1, 4, 64, 64])];
    cases.push({
      name: `linearCombination 3x[1,4,64,64] ${dtype}`, run: () => void linearCombination([[e0, -6.5], [e1, 7.5], [e2, 0.3]]),
      bytes: 4 * numel(e0.shape) * eb,
    });
    for (const [shape, size] of [[[2, 1280, 16, 16], [32, 32]], [[2, 640, 32, 32], [64, 64]]] as const) {
      const x = t([...shape]);
      const outN = shape[0] * shape[1] * size[0] * size[1];
      cases.push({
        name: `upsample2x ${shape.join('x')} ${dtype}`, run: () => void upsampleNearest(x, size), bytes: (numel(shape) + outN) * eb,
      });
    }
    const c1 = t([2, 640, 64, 64]);
    const c2 = t([2, 320, 64, 64]);
    const cn = numel(c1.shape) + numel(c2.shape);
    cases.push({ name: `concat ch [2,640+320,64,64] ${dtype}`, run: () => void concat([c1, c2], 1), bytes: 2 * cn * eb });
    cases.push({ name: `permute NCHW->NHWC [2,320,64,64] ${dtype}`, run: () => void permute(h, [0, 2, 3, 1]), bytes: 2 * hn * eb });
    const q = t([2, 4096, 8, 40]);
    cases.push({
      name: `permute BSHD->BHSD [2,4096,8,40] ${dtype}`, run: () => void permute(q, [0, 2, 1, 3]), bytes: 2 * numel(q.shape) * eb,
    });
    results.push(...(await benchCases(device, cases, { warmup: 1, iters: quick ? 2 : 5 })));
    for (const x of live) x.dispose();
  }
  writeResults('elementwise', device, results);
  device.dispose();
}
