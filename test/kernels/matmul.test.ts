import { describe, expect, it } from 'vitest';
import { type Device, ShapeError, type Tensor, UnsupportedError, roundToF16 } from '@sd-webgpu/tensor';
import { type MatmulMode, linear, matmul, matmulFlops, matmulKernel, matmulMode } from '../../packages/kernels/src/matmul';
import { type MatmulVariant, variantName } from '../../packages/kernels/src/matmul/wgsl';
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
const maxAbs = (x: ArrayLike<number>) => Array.prototype.reduce.call(x, (m: number, v) => Math.max(m, Math.abs(v as number)), 0) as number;

interface Case {
  a: number[];
  b: number[];
  transB?: boolean;
  bias?: boolean;
}

/** Runs one case against the CPU reference; inputs are rounded to f16 first on the f16 path. */
async function check(dev: Device, c: Case, dtype: 'f32' | 'f16', mode: MatmulMode, seed: number): Promise<void> {
  const round = (x: Float32Array) => (dtype === 'f16' ? roundToF16(x) : x);
  const a = round(rand(numel(c.a), seed));
  const b = round(rand(numel(c.b), seed + 1));
  const N = c.b[c.b.length - (c.transB ? 2 : 1)]!;
  const bias = c.bias ? round(rand(N, seed + 2)) : undefined;
  const ta = dev.tensor(a, c.a, dtype);
  const tb = dev.tensor(b, c.b, dtype);
  const tbias = bias ? dev.tensor(bias, [N], dtype) : undefined;
  const y = matmul(ta, tb, { transB: c.transB, bias: tbias, tile: { mode } });
  const want = matmulRef(a, c.a, b, c.b, { transB: c.transB, bias });
  expect(y.shape).toEqual(want.shape);
  const got = await y.data();
  const label = `matmul ${dtype} ${mode} [${c.a}]x[${c.b}]${c.transB ? 'ᵀ' : ''}${c.bias ? '+bias' : ''}`;
  if (dtype === 'f32') {
    // Values in [-1, 1), K ≤ 200: f32 accumulation error ~ K·2^-24·|partial sums| stays below 1e-5.
    expectClose(got, want.data, { atol: 2e-5, rtol: 1e-5, shape: want.shape }, label);
  } else {
    // Exact products of the f16 inputs accumulate in f32; the f16 output rounding is ≤ 2^-11 relative, so one f16
    // ulp at the largest output (2^-10·max|y|) bounds the error.
    expectClose(got, want.data, { atol: 2 ** -10 * Math.max(maxAbs(want.data), 1e-3), shape: want.shape }, label);
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
  const modes: MatmulMode[] = dev.features.subgroups && matmulMode(dev) === 'subgroup' ? ['subgroup', 'direct'] : ['direct'];
  for (const mode of modes) {
    for (const dtype of ['f32', 'f16'] as const) {
      it(`${mode} ${dtype}`, async () => {
        if (dtype === 'f16' && !dev.features.f16) return;
        for (const [i, c] of CASES.entries()) await check(dev, c, dtype, mode, 100 * i + 7);
      });
    }
  }

  it('uses the tile table by default and several subgroup tiles agree', async () => {
    if (matmulMode(dev) !== 'subgroup') return;
    for (const rows of [8, 16, 24, 32]) {
      for (const cols of [1, 2, 4]) {
        const a = rand(50 * 44, rows + cols);
        const b = rand(44 * 36, rows * cols);
        const ta = dev.tensor(a, [50, 44]);
        const tb = dev.tensor(b, [36, 44]);
        const y = matmul(ta, tb, { transB: true, tile: { mode: 'subgroup', rows, cols } });
        // Same reasoning as above: K = 44 values in [-1, 1).
        expectClose(await y.data(), matmulRef(a, [50, 44], b, [36, 44], { transB: true }).data, { atol: 2e-5 }, `tile ${rows}x${cols}`);
        for (const t of [ta, tb, y]) t.dispose();
      }
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

  it('f16_matmul_64x40x77 in both modes', async () => {
    const dev = await testDevice();
    if (!dev.features.f16) return;
    const fx = await loadCase('ops/f16_matmul_64x40x77');
    const a = fx.inputs.a!;
    const b = fx.inputs.b!;
    const want = fx.outputs.y_f16!.data as Float32Array;
    for (const mode of matmulMode(dev) === 'subgroup' ? (['subgroup', 'direct'] as const) : (['direct'] as const)) {
      const ta = dev.tensor(a.data as Float32Array, a.shape, 'f16');
      const tb = dev.tensor(b.data as Float32Array, b.shape, 'f16');
      const y = matmul(ta, tb, { tile: { mode } });
      // README: an f16-in / f32-accumulate / f16-out kernel is within about 1 f16 ulp of y_f16; one ulp at the
      // largest output is 2^-10·max|y|.
      expectClose(await y.data(), want, { atol: 2 ** -10 * maxAbs(want), shape: y.shape }, `f16 matmul ${mode}`);
      for (const t of [ta, tb, y]) t.dispose();
    }
  });
});

describe('matmul beyond maxStorageBufferBindingSize', () => {
  // A 64 KiB binding limit makes every case below split (cheaply) while staying small enough for the CPU reference.
  const cases: { name: string; c: Case }[] = [
    { name: 'transposed weight over the limit, output over the limit', c: { a: [100, 96], b: [300, 96], transB: true, bias: true } },
    { name: 'non-transposed B over the limit (K split, accumulate)', c: { a: [40, 200], b: [200, 120], bias: true } },
    { name: 'one row of Bᵀ over the limit (K split with transB)', c: { a: [3, 20000], b: [5, 20000], transB: true, bias: true } },
    { name: 'batched operands over the limit', c: { a: [3, 40, 64], b: [3, 64, 100] } },
    { name: 'batch folded into M, output over the limit', c: { a: [4, 50, 36], b: [36, 90], bias: true } },
    { name: 'odd sizes, no vec4', c: { a: [37, 101], b: [101, 171], bias: true } },
  ];
  it.each(cases)('$name', async ({ c }) => {
    const dev = await createDevice({ maxStorageBufferBindingSize: 64 * 1024 });
    try {
      const modes: MatmulMode[] = matmulMode(dev) === 'subgroup' ? ['subgroup', 'direct'] : ['direct'];
      for (const mode of modes) {
        for (const dtype of dev.features.f16 ? (['f32', 'f16'] as const) : (['f32'] as const)) {
          const before = dev.dispatchCount;
          await check(dev, c, dtype, mode, 11);
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
    expect(() => matmul(keep(t([2, 3])), keep(t([3, 5])), { tile: { mode: 'subgroup', rows: 12 } })).toThrow(UnsupportedError);
    for (const x of live) x.dispose();
  });

  it('memoizes descriptors per variant with unique names', () => {
    const names = new Set<string>();
    for (const mode of ['subgroup', 'direct'] as const) {
      for (const kVec of [false, true]) {
        for (const layout of ['tb', 'n4', 'n1']) {
          for (const extra of [0, 1, 2]) {
            const v: MatmulVariant = {
              dtype: extra === 2 ? 'f16' : 'f32', mode, kVec, transB: layout === 'tb', nVec: layout === 'n4',
              bias: extra === 1, accumulate: extra === 2, rows: 16, cols: 2,
            };
            const k = matmulKernel(v);
            expect(matmulKernel({ ...v })).toBe(k);
            expect(k.name).toBe(variantName(v));
            names.add(k.name);
          }
        }
      }
    }
    expect(names.size).toBe(2 * 2 * 3 * 3);
  });

  it('counts flops', () => {
    expect(matmulFlops(4096, 320, 320)).toBe(2 * 4096 * 320 * 320);
    expect(matmulFlops(2, 3, 4, 5)).toBe(240);
  });
});
