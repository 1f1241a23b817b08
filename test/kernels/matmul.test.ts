import { describe, expect, it, vi } from 'vitest';
import { type Device, ShapeError, type Tensor, UnsupportedError, roundToF16 } from '@sd-webgpu/tensor';
import {
  type MatmulTile, type MatmulVariant, linear, matmul, matmulFlops, matmulKernel, matmulVariantName,
} from '../../packages/kernels/src/matmul';
import { KERNEL_ROWS, kernelRow } from '../../packages/kernels/src/table';
import { distinctRows, withRow } from '../helpers/rows';
import { planMatmul } from '../../packages/kernels/src/matmul/plan';
import { linearRef, matmulRef } from '../../packages/kernels/src/reference/matmul';
import { createDevice, testDevice } from '../helpers/device';
import { expectClose, loadCase } from '../helpers/fixtures';

/** Deterministic uniform values in [-1, 1) (LCG). */
function rand(n: number, seed: number): Float32Array {
  let s = (seed * 2654435761) >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2147483648 - 1;
  }
  return out;
}

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const maxAbs = (x: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]!));
  return m;
};

interface Case {
  a: number[];
  b: number[];
  transB?: boolean;
  bias?: boolean;
}

/**
 * Small register tiles for the many-variant loops below: large tiles (the tile table's picks, exercised by the
 * fixture and linear tests) take seconds each for lavapipe's LLVM to compile on a cold shader cache.
 */
const SMALL_SUBGROUP: MatmulTile = { rows: 8, cols: 2 };

/** Every row's matmul kernel, forced through the tile option: [label, tile, needs lavapipe's 8-lane subgroups]. */
const CHOICES: [string, MatmulTile, boolean][] = distinctRows('matmul').map(([name, row]) =>
  row.matmul === 'subgroup' ? [`${name} subgroup`, SMALL_SUBGROUP, true] : [`${name} gemm`, { gemm: row.matmul }, false]);

const sg8 = (dev: Device) => dev.features.subgroups && dev.adapterInfo.subgroupMinSize === 8 && dev.adapterInfo.subgroupMaxSize === 8;

/** Runs one case against the CPU reference; inputs are rounded to f16 first on the f16 path. */
async function check(dev: Device, c: Case, dtype: 'f32' | 'f16', mode: string, tile: MatmulTile, seed: number, f16Ulps = 1): Promise<void> {
  const round = (x: Float32Array) => (dtype === 'f16' ? roundToF16(x) : x);
  const a = round(rand(numel(c.a), seed));
  const b = round(rand(numel(c.b), seed + 1));
  const N = c.b[c.b.length - (c.transB ? 2 : 1)]!;
  const bias = c.bias ? round(rand(N, seed + 2)) : undefined;
  const ta = dev.tensor(a, c.a, dtype);
  const tb = dev.tensor(b, c.b, dtype);
  const tbias = bias ? dev.tensor(bias, [N], dtype) : undefined;
  const y = matmul(ta, tb, { transB: c.transB, bias: tbias, tile });
  const want = matmulRef(a, c.a, b, c.b, { transB: c.transB, bias });
  expect(y.shape).toEqual(want.shape);
  const got = await y.data();
  const label = `matmul ${dtype} ${mode} [${c.a}]x[${c.b}]${c.transB ? 'ᵀ' : ''}${c.bias ? '+bias' : ''}`;
  if (dtype === 'f32') {
    // Values in [-1, 1), K ≤ 200: f32 accumulation error ~ K·2^-24·|partial sums| stays below 1e-5.
    expectClose(got, want.data, { atol: 2e-5, rtol: 1e-5, shape: want.shape }, label);
  } else {
    // Exact products of the f16 inputs accumulate in f32; the f16 output rounding is ≤ 2^-11 relative, so one f16
    // ulp at the largest output (2^-10·max|y|) bounds the error (more when a K split rounds partial sums to f16).
    const atol = f16Ulps * 2 ** -10 * Math.max(maxAbs(want.data), 1e-3);
    expectClose(got, want.data, { atol, shape: want.shape }, label);
  }
  for (const t of [ta, tb, tbias, y]) t?.dispose();
}

const CASES: Case[] = [
  { a: [1, 1], b: [1, 1] },
  { a: [7, 13], b: [13, 5] },
  { a: [7, 13], b: [5, 13], transB: true, bias: true },
  { a: [33, 65], b: [65, 17], bias: true },
  { a: [77, 64], b: [192, 64], transB: true, bias: true }, // CLIP-like, M not a multiple of the tile
  { a: [77, 64], b: [64, 192] },
  { a: [70, 36], b: [36, 100], bias: true }, // vec4 along N and K, partial tiles both ways
  { a: [41, 36], b: [37, 36], transB: true }, // vec4 along K, odd N
  { a: [9, 36], b: [36, 10], bias: true }, // vec4 K, N not a multiple of 4
  { a: [2, 3, 17, 40], b: [40, 77] }, // batch folded into M
  { a: [3, 17, 40], b: [3, 40, 77] },
  { a: [2, 1, 5, 7], b: [1, 3, 7, 6] }, // both sides broadcast
  { a: [17, 24], b: [2, 3, 24, 8], bias: true }, // A broadcast over B's batch
  { a: [2, 8, 64, 40], b: [2, 8, 64, 40], transB: true }, // attention-like q·kᵀ
  { a: [2, 3, 4, 5, 12], b: [3, 1, 12, 8] }, // three batch dims, two of them merged
  { a: [3, 1, 6, 9], b: [4, 1, 2, 9, 5] }, // rank 5 out, interleaved broadcasts
];

describe('matmul vs CPU reference', async () => {
  const dev = await testDevice();
  for (const [mode, tile, needs8] of CHOICES) {
    for (const dtype of ['f32', 'f16'] as const) {
      it.skipIf((needs8 && !sg8(dev)) || (dtype === 'f16' && !dev.features.f16))(`${mode} ${dtype}`, async () => {
        for (const [i, c] of CASES.entries()) await check(dev, c, dtype, mode, tile, 100 * i + 7);
      });
    }
  }

  it('follows the kernel table by default and when a row is forced', async (ctx) => {
    const names: string[] = [];
    const run = dev.run.bind(dev);
    const spy = vi.spyOn(dev, 'run').mockImplementation((k, a) => { names.push(k.name); return run(k, a); });
    const ta = dev.tensor(rand(12, 1), [3, 4]);
    const tb = dev.tensor(rand(20, 2), [5, 4]);
    try {
      matmul(ta, tb, { transB: true }).dispose();
      await withRow(ctx, dev, KERNEL_ROWS.nvidia, async () => matmul(ta, tb, { transB: true }).dispose());
    } finally {
      spy.mockRestore();
      for (const t of [ta, tb]) t.dispose();
    }
    expect(names[0]!.startsWith(kernelRow(dev).matmul === 'subgroup' ? 'matmul_f32_subgroup' : 'gemm_matmul')).toBe(true);
    expect(names[1]).toBe('gemm_matmul_f32_k4_tb_w16x16_r4x4_k16');
  });

  it('agrees across subgroup tile sizes', async () => {
    if (!sg8(dev)) return;
    // The default linear tile (32x4) and two others, on a partial tile both ways (M = 50, N = 36).
    for (const [rows, cols] of [[32, 4], [24, 1], [16, 2]] as const) {
      const a = rand(50 * 44, rows + cols);
      const b = rand(44 * 36, rows * cols);
      const ta = dev.tensor(a, [50, 44]);
      const tb = dev.tensor(b, [36, 44]);
      const y = matmul(ta, tb, { transB: true, tile: { rows, cols } });
      // Same reasoning as above: K = 44 values in [-1, 1).
      expectClose(await y.data(), matmulRef(a, [50, 44], b, [36, 44], { transB: true }).data, { atol: 2e-5 }, `tile ${rows}x${cols}`);
      for (const t of [ta, tb, y]) t.dispose();
    }
  });

  it('linear reshapes [..., in] with a [out, in] weight', async () => {
    const x = rand(2 * 5 * 24, 1);
    const w = rand(10 * 24, 2);
    const bias = rand(10, 3);
    const tx = dev.tensor(x, [2, 5, 24]);
    const tw = dev.tensor(w, [10, 24]);
    const tbias = dev.tensor(bias, [10]);
    const y = linear(tx, tw, tbias);
    expect(y.shape).toEqual([2, 5, 10]);
    // K = 24 values in [-1, 1): f32 accumulation error far below 1e-5.
    expectClose(await y.data(), linearRef(x, [2, 5, 24], w, [10, 24], bias).data, { atol: 1e-5 }, 'linear');
    const y1 = linear(dev.tensor(x.slice(0, 24), [24]), tw);
    expect(y1.shape).toEqual([10]);
    expectClose(await y1.data(), linearRef(x.slice(0, 24), [24], w, [10, 24]).data, { atol: 1e-5 }, 'linear 1-D');
    for (const t of [tx, tw, tbias, y, y1]) t.dispose();
  });

  it('K = 0 gives the bias (or zeros)', async () => {
    const ta = dev.tensor([], [3, 0]);
    const tb = dev.tensor([], [0, 4]);
    const tbias = dev.tensor([1, 2, 3, 4], [4]);
    expect(Array.from(await matmul(ta, tb, { bias: tbias }).data())).toEqual([1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4]);
    expect(Array.from(await matmul(ta, tb).data())).toEqual(new Array(12).fill(0));
  });
});

describe('matmul fixtures', () => {
  const names = [
    'matmul_1x1x1', 'matmul_7x13x5', 'matmul_64x64x64', 'matmul_33x65x17', 'matmul_77x64x192',
    'matmul_batched_3x17x40_3x40x77', 'matmul_batched_2x8x64x40_2x8x40x64', 'matmul_batched_2x1x5x7_1x3x7x6',
  ];
  it.each(names)('%s', async (name) => {
    const dev = await testDevice();
    const fx = await loadCase(`ops/${name}`);
    const a = fx.inputs.a!;
    const b = fx.inputs.b!;
    const ta = dev.tensor(a.data as Float32Array, a.shape);
    const tb = dev.tensor(b.data as Float32Array, b.shape);
    const y = matmul(ta, tb);
    expect(y.shape).toEqual(fx.outputs.y!.shape);
    // test/fixtures/README.md section 2: matmul with K ≤ 1000 in f32, 1e-5 abs + 1e-5 rel.
    expectClose(await y.data(), fx.outputs.y!.data as Float32Array, { atol: 1e-5, rtol: 1e-5, shape: y.shape }, name);
    for (const t of [ta, tb, y]) t.dispose();
  });

  it.each(['linear_2x77x64_to192', 'linear_2x320_to128', 'linear_3x7x13_to11', 'linear_2x64x40_to40'])('%s', async (name) => {
    const dev = await testDevice();
    const fx = await loadCase(`ops/${name}`);
    const x = fx.inputs.x!;
    const w = fx.weights.weight!;
    const bias = fx.weights.bias!;
    const tx = dev.tensor(x.data as Float32Array, x.shape);
    const tw = dev.tensor(w.data as Float32Array, w.shape);
    const tbias = dev.tensor(bias.data as Float32Array, bias.shape);
    const y = linear(tx, tw, tbias);
    expect(y.shape).toEqual(fx.outputs.y!.shape);
    // test/fixtures/README.md section 2: linear with K ≤ 1000 in f32, 1e-5 abs + 1e-5 rel.
    expectClose(await y.data(), fx.outputs.y!.data as Float32Array, { atol: 1e-5, rtol: 1e-5, shape: y.shape }, name);
    for (const t of [tx, tw, tbias, y]) t.dispose();
  });

  it('f16_matmul_64x40x77 with every row\'s kernel', async (ctx) => {
    const dev = await testDevice();
    if (!dev.features.f16) ctx.skip('this adapter has no shader-f16');
    const fx = await loadCase('ops/f16_matmul_64x40x77');
    const a = fx.inputs.a!;
    const b = fx.inputs.b!;
    const want = fx.outputs.y_f16!.data as Float32Array;
    for (const [mode, tile, needs8] of CHOICES) {
      if (needs8 && !sg8(dev)) continue;
      const ta = dev.tensor(a.data as Float32Array, a.shape, 'f16');
      const tb = dev.tensor(b.data as Float32Array, b.shape, 'f16');
      const y = matmul(ta, tb, { tile: tile.gemm ? tile : {} });
      // README: an f16-in / f32-accumulate / f16-out kernel is within about 1 f16 ulp of y_f16; one ulp at the
      // largest output is 2^-10·max|y|.
      expectClose(await y.data(), want, { atol: 2 ** -10 * maxAbs(want), shape: y.shape }, `f16 matmul ${mode}`);
      for (const t of [ta, tb, y]) t.dispose();
    }
  });
});

describe('matmul beyond maxStorageBufferBindingSize', () => {
  // A 64 KiB binding limit makes every case below split (cheaply) while staying small enough for the CPU reference.
  const cases: { name: string; c: Case; f16Ulps?: number }[] = [
    { name: 'transposed weight over the limit, output over the limit', c: { a: [100, 96], b: [300, 96], transB: true, bias: true } },
    { name: 'non-transposed B over the limit (K split, accumulate)', c: { a: [40, 200], b: [200, 120], bias: true } },
    // f16 rows of 80 KB split K too; each of its 3 chunks rounds a partial sum (as large as the result) to f16.
    { name: 'one row of Bᵀ over the limit (K split with transB)', c: { a: [2, 40000], b: [3, 40000], transB: true, bias: true }, f16Ulps: 4 },
    { name: 'batched operands over the limit', c: { a: [3, 40, 64], b: [3, 64, 100] } },
    { name: 'batch folded into M, output over the limit', c: { a: [4, 50, 36], b: [36, 90], bias: true } },
    { name: 'odd sizes, no vec4', c: { a: [37, 101], b: [101, 171], bias: true } },
  ];
  it.each(cases)('$name', async ({ c, f16Ulps }) => {
    const dev = await createDevice({ maxStorageBufferBindingSize: 64 * 1024 });
    try {
      // Splitting is the same planner for every GEMM tile, and a K split of a 64x64 tile runs for tens of seconds on
      // lavapipe: the subgroup kernel and the smallest GEMM tile (SwiftShader's) cover it.
      for (const [mode, tile, needs8] of CHOICES.filter(([m]) => m.includes('subgroup') || m.startsWith('swiftshader'))) {
        if (needs8 && !sg8(dev)) continue;
        for (const dtype of dev.features.f16 ? (['f32', 'f16'] as const) : (['f32'] as const)) {
          const before = dev.dispatchCount;
          await check(dev, c, dtype, mode, tile, 11, f16Ulps);
          // Operands over the limit must have been split (f16 halves the bytes, so some f16 cases fit).
          const N = c.b[c.b.length - (c.transB ? 2 : 1)]!;
          const yShape = [...(c.a.length >= c.b.length ? c.a : c.b).slice(0, -2), c.a[c.a.length - 2]!, N];
          const largest = Math.max(numel(c.a), numel(c.b), numel(yShape)) * (dtype === 'f16' ? 2 : 4);
          if (largest > 64 * 1024) expect(dev.dispatchCount - before).toBeGreaterThan(1);
          await dev.sync(); // throws any validation error
        }
      }
    } finally {
      dev.dispose();
    }
  });
});

describe('matmul planner', () => {
  it('splits an f32 [49408, 768] weight (145 MiB) under a 128 MiB binding limit into aligned windows', () => {
    const lim = { maxBinding: 128 * 2 ** 20, offsetAlignment: 256, maxGroups: 65535 };
    const tile = { rowsPerGroup: 32, colsPerGroup: 32, colUnit: 1, kUnit: 4 };
    const plan = planMatmul({ M: 154, N: 49408, K: 768, transB: true, batch: [], bytesPerElement: 4, bias: true }, tile, lim);
    expect(plan.length).toBeGreaterThan(1);
    let covered = 0;
    for (const d of plan) {
      for (const w of [d.a, d.b, d.y, d.bias!]) {
        expect(w.size).toBeLessThanOrEqual(lim.maxBinding);
        expect(w.offset % 256).toBe(0);
      }
      expect(d.accumulate).toBe(false);
      // Each chunk starts where its window says: B rows n0.. of the weight, in vec4 units along K.
      expect((d.b.offset / 4 + d.uniforms.b_off! * 4) % 768).toBe(0);
      covered += d.uniforms.n!;
    }
    expect(covered).toBe(49408);
  });

  it('splits K (with accumulation after the first chunk) when one row is over the limit', () => {
    const lim = { maxBinding: 4096, offsetAlignment: 256, maxGroups: 65535 };
    const tile = { rowsPerGroup: 8, colsPerGroup: 32, colUnit: 1, kUnit: 4 };
    const plan = planMatmul({ M: 2, N: 3, K: 4000, transB: true, batch: [], bytesPerElement: 4, bias: true }, tile, lim);
    // Every (M, N) chunk starts with a non-accumulating dispatch that also adds the bias, then walks all of K.
    const first = plan.filter((d) => !d.accumulate);
    expect(first.length).toBeGreaterThan(0);
    expect(plan.reduce((s, d) => s + d.uniforms.ks! * 4, 0)).toBe(4000 * first.length);
    expect(plan.filter((d) => d.bias).length).toBe(first.length);
    expect(first.every((d) => d.bias)).toBe(true);
    expect(plan.length).toBeGreaterThan(first.length);
    for (const d of plan) for (const w of [d.a, d.b, d.y]) expect(w.size).toBeLessThanOrEqual(4096);
  });
});

describe('matmul errors and descriptors', () => {
  it('throws typed errors naming the problem', async () => {
    const dev = await testDevice();
    const t = (shape: number[], dtype: 'f32' | 'f16' | 'i32' = 'f32') => dev.tensor(new Float32Array(numel(shape)), shape, dtype);
    const live: Tensor[] = [];
    const keep = <T extends Tensor>(x: T) => (live.push(x), x);
    expect(() => matmul(keep(t([2, 3])), keep(t([4, 5])))).toThrow(ShapeError);
    expect(() => matmul(keep(t([2, 3])), keep(t([4, 5])))).toThrow(/K=3.*K=4/);
    expect(() => matmul(keep(t([3])), keep(t([3, 5])))).toThrow(ShapeError);
    expect(() => matmul(keep(t([2, 2, 3])), keep(t([3, 3, 5])))).toThrow(/broadcast/);
    expect(() => matmul(keep(t([2, 3], 'i32')), keep(t([3, 5], 'i32')))).toThrow(UnsupportedError);
    if (dev.features.f16) expect(() => matmul(keep(t([2, 3])), keep(t([3, 5], 'f16')))).toThrow(UnsupportedError);
    expect(() => matmul(keep(t([2, 3])), keep(t([3, 5])), { bias: keep(t([4])) })).toThrow(/bias must be \[5\]/);
    expect(() => linear(keep(t([2, 3])), keep(t([3, 4])))).toThrow(ShapeError);
    expect(() => linear(keep(t([2, 3])), keep(t([3])))).toThrow(ShapeError);
    expect(() => matmul(keep(t([2, 3])), keep(t([3, 5])), { tile: { rows: 12 } })).toThrow(UnsupportedError);
    expect(() => matmul(keep(t([2, 3])), keep(t([3, 5])), { tile: { gemm: { wgX: 8, wgY: 8, rm: 1, rn: 1, tk: 6 } } })).toThrow(/tk a multiple of 4/);
    for (const x of live) x.dispose();
  });

  it('memoizes descriptors per variant with unique names', () => {
    const names = new Set<string>();
    for (const kVec of [false, true]) {
      for (const layout of ['tb', 'n4', 'n1']) {
        for (const extra of [0, 1, 2]) {
          const v: MatmulVariant = {
            dtype: extra === 2 ? 'f16' : 'f32', kVec, transB: layout === 'tb', nVec: layout === 'n4',
            bias: extra === 1, accumulate: extra === 2, rows: 16, cols: 2,
          };
          const k = matmulKernel(v);
          expect(matmulKernel({ ...v })).toBe(k);
          expect(k.name).toBe(matmulVariantName(v));
          names.add(k.name);
        }
      }
    }
    expect(names.size).toBe(2 * 3 * 3);
  });

  it('counts flops', () => {
    expect(matmulFlops(4096, 320, 320)).toBe(2 * 4096 * 320 * 320);
    expect(matmulFlops(2, 3, 4, 5)).toBe(240);
  });
});
