import { describe, expect, it } from 'vitest';
import type { Device, Kernel, RunArgs, Tensor } from '@sd-webgpu/tensor';
import { matmul } from '../../packages/kernels/src/matmul';
import { conv2d, type Conv2dPadding } from '../../packages/kernels/src/conv2d';
import { KERNEL_ROWS, type KernelRow } from '../../packages/kernels/src/table';
import { matmulRef } from '../../packages/kernels/src/reference/matmul';
import { conv2dRef } from '../../packages/kernels/src/reference/conv2d';
import { testDevice } from '../helpers/device';
import { expectClose } from '../helpers/fixtures';
import { withRow } from '../helpers/rows';
import { cachedPlanByInts } from '../../packages/kernels/src/plans';

// matmul and conv2d memoise their plans (kernel, windows, uniforms) per kernel-row object, dtypes and shapes
// (../../packages/kernels/src/plans.ts). Each test below calls an op twice with inputs that a key missing one of
// those parts would confuse, and checks the second call against the CPU reference (and the kernel it ran).

const rand = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed) * 0.5);
const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
/** f32 storage and accumulation over K ≤ 72 products of values ≤ 0.5: the sum order differs from the reference's. */
const TOL = { atol: 1e-5, rtol: 1e-4 };

/** The kernels `fn` records (wraps `device.run`). */
function kernelsOf(dev: Device, fn: () => void): string[] {
  const names: string[] = [];
  const run = dev.run;
  dev.run = (kernel: Kernel, args: RunArgs) => {
    names.push(kernel.name);
    run.call(dev, kernel, args);
  };
  try {
    fn();
  } finally {
    dev.run = run;
  }
  return names;
}

/** A GEMM-core row other than `default` (same families, another tile): a plan keyed without the row would mix them. */
const OTHER_ROW: KernelRow = {
  ...KERNEL_ROWS.default, matmul: { wgX: 8, wgY: 8, rm: 4, rn: 4, tk: 8 }, conv2d: { wgX: 8, wgY: 8, rm: 4, rn: 4, tk: 8 },
};

async function checkMatmul(dev: Device, aShape: number[], bShape: number[], opts: { transB?: boolean; bias?: boolean } = {}, seed = 1) {
  const a = dev.tensor(rand(numel(aShape), seed), aShape);
  const b = dev.tensor(rand(numel(bShape), seed + 1), bShape);
  const n = bShape[bShape.length - (opts.transB ? 2 : 1)]!;
  const bias = opts.bias ? dev.tensor(rand(n, seed + 2), [n]) : undefined;
  let y!: Tensor;
  const kernels = kernelsOf(dev, () => void (y = matmul(a, b, { transB: opts.transB, bias })));
  const want = matmulRef(rand(numel(aShape), seed), aShape, rand(numel(bShape), seed + 1), bShape,
    { transB: opts.transB, bias: bias ? rand(n, seed + 2) : undefined });
  expect(y.shape).toEqual(want.shape);
  expectClose(await y.float32(), want.data, { ...TOL, shape: want.shape }, `matmul ${aShape}·${bShape}`);
  for (const t of [a, b, y, bias]) t?.dispose();
  return kernels;
}

async function checkConv(dev: Device, xShape: number[], wShape: number[], stride: 1 | 2, padding: number | Conv2dPadding, bias: boolean) {
  const x = dev.tensor(rand(numel(xShape), 3), xShape);
  const w = dev.tensor(rand(numel(wShape), 4), wShape);
  const bt = bias ? dev.tensor(rand(wShape[0]!, 5), [wShape[0]!]) : null;
  let y!: Tensor;
  const kernels = kernelsOf(dev, () => void (y = conv2d(x, w, bt, { stride, padding })));
  const want = conv2dRef(rand(numel(xShape), 3), xShape, rand(numel(wShape), 4), wShape, bias ? rand(wShape[0]!, 5) : null,
    { stride, padding });
  expect(y.shape).toEqual(want.shape);
  expectClose(await y.float32(), want.data, { ...TOL, shape: want.shape }, `conv2d ${xShape} ${wShape} s${stride} p${padding}`);
  for (const t of [x, w, y, bt]) t?.dispose();
  return kernels;
}

describe('plan memos of matmul and conv2d', () => {
  it('matmul: same element counts in other shapes, bias or not, transB or not each get their own plan', async () => {
    const dev = await testDevice();
    await checkMatmul(dev, [2, 3, 8], [8, 5]);
    await checkMatmul(dev, [3, 2, 8], [8, 5]); // same numel, other batch/rows split
    await checkMatmul(dev, [2, 3, 8], [2, 8, 5]); // batched B: no fold of A's batch into M
    await checkMatmul(dev, [2, 3, 8], [8, 5], { bias: true });
    await checkMatmul(dev, [2, 3, 8], [5, 8], { transB: true });
    await checkMatmul(dev, [2, 3, 8], [8, 5], {}, 7); // a hit: new values, same plan
  });

  it('matmul and conv2d: a plan made under one kernel row is never served under another', async (ctx) => {
    const dev = await testDevice();
    const mm: string[][] = [];
    const conv: string[][] = [];
    for (const row of [KERNEL_ROWS.default, OTHER_ROW, KERNEL_ROWS.default]) {
      await withRow(ctx, dev, row, async () => {
        mm.push(await checkMatmul(dev, [16, 24], [24, 8]));
        conv.push(await checkConv(dev, [1, 4, 6, 6], [8, 4, 3, 3], 1, 1, true));
      });
    }
    for (const runs of [mm, conv]) {
      expect(runs[1]).not.toEqual(runs[0]);
      expect(runs[2]).toEqual(runs[0]);
    }
  });

  it('conv2d: stride, padding and bias are part of the plan', async () => {
    const dev = await testDevice();
    const x = [1, 4, 7, 7];
    const w = [8, 4, 3, 3];
    await checkConv(dev, x, w, 1, 1, true);
    await checkConv(dev, x, w, 1, 0, true);
    await checkConv(dev, x, w, 2, 1, true);
    await checkConv(dev, x, w, 2, [0, 1, 0, 1], true);
    await checkConv(dev, x, w, 1, 1, false);
    await checkConv(dev, [2, 4, 7, 7], w, 1, 1, true); // batch 2: other windows and grid
  });

  it('dtype is part of the plan (f16 after f32 at the same shapes)', async (ctx) => {
    const dev = await testDevice();
    if (!dev.features.f16) ctx.skip('the adapter has no shader-f16');
    const a32 = dev.tensor(rand(48, 1), [6, 8]);
    const b32 = dev.tensor(rand(40, 2), [8, 5]);
    const a16 = dev.tensor(rand(48, 1), [6, 8], 'f16');
    const b16 = dev.tensor(rand(40, 2), [8, 5], 'f16');
    const k32 = kernelsOf(dev, () => void matmul(a32, b32).dispose());
    let y16!: Tensor;
    const k16 = kernelsOf(dev, () => void (y16 = matmul(a16, b16)));
    expect(k16).not.toEqual(k32);
    expect(y16.dtype).toBe('f16');
    const want = matmulRef(rand(48, 1), [6, 8], rand(40, 2), [8, 5]);
    // f16 storage: inputs and the output rounded to f16 (relative 2^-11 each)
    expectClose(await y16.float32(), want.data, { atol: 2e-3, rtol: 4e-3, shape: want.shape }, 'matmul f16');
    for (const t of [a32, b32, a16, b16, y16]) t.dispose();
  });

  it('numeric plan keys: only the first n numbers count, and every one of them counts', async () => {
    const dev = await testDevice();
    let builds = 0;
    const get = (key: number[], n: number) => cachedPlanByInts(dev, 'test_ints', key, n, () => ({ id: ++builds }));
    const a = get([1, 2, 3, 99], 3);
    expect(get([1, 2, 3, -5], 3)).toBe(a); // the scratch tail past n is ignored
    expect(get([1, 2, 3, 0], 4)).not.toBe(a); // a longer key is another plan, even with a zero
    expect(get([1, 2, 4], 3)).not.toBe(a);
    expect(get([3, 2, 1], 3)).not.toBe(a);
    expect(get([1, 2, 3 + 2 ** 32], 3)).not.toBe(a); // same low 32 bits (same hash), other key
    expect(builds).toBe(5);
  });
});
