/**
 * The subgroup-matrix GEMM core (packages/kernels/src/gemm/matrix.ts). No adapter here offers the extension
 * (lavapipe and SwiftShader list no subgroup-matrix configs), so the kernels run with the builtins emulated in plain
 * WGSL: tiling, f16 staging, fragment offsets and the epilogue are checked against the CPU references for matmul,
 * linear and every convolution shape SD uses, for the GPU rows' tiles and for non-square matrix shapes. The native
 * source, the choice logic and the compile-probe fallback are checked without the extension.
 */
import { describe, expect, it, vi } from 'vitest';
import { type Device, ShaderCompileError, UnsupportedError, kernelSource, roundToF16 } from '@sd-webgpu/tensor';
import { conv2d } from '../../packages/kernels/src/conv2d';
import { matmul } from '../../packages/kernels/src/matmul';
import { gemmMatmulHooks } from '../../packages/kernels/src/gemm/matmul';
import { type MatrixTile, matrixKernel } from '../../packages/kernels/src/gemm/matrix';
import {
  KERNEL_ROWS, type KernelRow, matrixTile, matrixTileProblem, probeMatrixGemm, setKernelRow,
} from '../../packages/kernels/src/table';
import { conv2dRef } from '../../packages/kernels/src/reference/conv2d';
import { matmulRef } from '../../packages/kernels/src/reference/matmul';
import { testDevice } from '../helpers/device';
import { expectClose } from '../helpers/fixtures';

function rand(n: number, seed: number): Float32Array {
  let s = (seed * 2654435761) >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2147483648 - 1;
  }
  return roundToF16(out);
}

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const maxAbs = (x: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]!));
  return m;
};
/** Exact f16 products accumulated in f32, one f16 rounding of the output: one f16 ulp of the largest output. */
const f16Tol = (want: Float32Array) => ({ atol: 2 ** -10 * Math.max(maxAbs(want), 1e-3) });

const emulated = (t: MatrixTile, lanes: number): MatrixTile => ({ ...t, lanes, emulate: true });
/** The GPU rows' candidates, emulated with 8-lane virtual subgroups, and two non-square matrix shapes. */
const TILES: [string, MatrixTile][] = [
  ...KERNEL_ROWS.nvidia.matrix!.map((t): [string, MatrixTile] => [`gpu ${t.m}x${t.n}x${t.k}`, emulated(t, 8)]),
  ['16x8x16 1x2 subgroups of 1x3', { kind: 'matrix', m: 16, n: 8, k: 16, sgX: 1, sgY: 2, fm: 1, fn: 3, tk: 16, lanes: 4, emulate: true }],
  ['8x16x8 3x1 subgroups of 2x1', { kind: 'matrix', m: 8, n: 16, k: 8, sgX: 3, sgY: 1, fm: 2, fn: 1, tk: 8, lanes: 4, emulate: true }],
];

interface MatmulCase { a: number[]; b: number[]; transB?: boolean; bias?: boolean }
const MATMUL_CASES: MatmulCase[] = [
  { a: [1, 1], b: [1, 1] },
  { a: [7, 13], b: [5, 13], transB: true, bias: true }, // K not a multiple of 4
  { a: [77, 64], b: [192, 64], transB: true, bias: true }, // CLIP-like, partial tiles
  { a: [70, 36], b: [36, 100], bias: true }, // plain B, partial tiles both ways
  { a: [2, 3, 17, 40], b: [40, 77] }, // batch folded into M
  { a: [3, 17, 40], b: [3, 40, 77] }, // batched
  { a: [2, 8, 64, 40], b: [2, 8, 64, 40], transB: true }, // attention-like q·kᵀ
];

interface ConvCase { x: number[]; w: number[]; stride?: 1 | 2; padding?: number | [number, number, number, number] }
const CONV_CASES: [string, ConvCase][] = [
  ['3x3 s1 p1, batch 2', { x: [2, 5, 9, 11], w: [12, 5, 3, 3], padding: 1 }],
  ['3x3 s2 VAE padding (0, 1, 0, 1)', { x: [1, 8, 10, 10], w: [8, 8, 3, 3], stride: 2, padding: [0, 1, 0, 1] }],
  ['3x3 s2 p1', { x: [1, 6, 9, 7], w: [10, 6, 3, 3], stride: 2, padding: 1 }],
  ['1x1 pointwise', { x: [2, 20, 6, 6], w: [33, 20, 1, 1] }],
];

async function checkMatmul(dev: Device, c: MatmulCase, tile: MatrixTile | undefined, seed: number, label: string) {
  const a = rand(numel(c.a), seed);
  const b = rand(numel(c.b), seed + 1);
  const N = c.b[c.b.length - (c.transB ? 2 : 1)]!;
  const bias = c.bias ? rand(N, seed + 2) : undefined;
  const ta = dev.tensor(a, c.a, 'f16');
  const tb = dev.tensor(b, c.b, 'f16');
  const tbias = bias ? dev.tensor(bias, [N], 'f16') : undefined;
  const y = matmul(ta, tb, { transB: c.transB, bias: tbias, tile: tile ? { gemm: tile } : undefined });
  const want = matmulRef(a, c.a, b, c.b, { transB: c.transB, bias });
  expect(y.shape).toEqual(want.shape);
  expectClose(await y.float32(), want.data, { ...f16Tol(want.data), shape: want.shape }, `${label} [${c.a}]x[${c.b}]${c.transB ? 'ᵀ' : ''}`);
  for (const t of [ta, tb, tbias, y]) t?.dispose();
}

async function checkConv(dev: Device, c: ConvCase, tile: MatrixTile | undefined, seed: number, label: string) {
  const x = rand(numel(c.x), seed);
  const w = rand(numel(c.w), seed + 1);
  const b = rand(c.w[0]!, seed + 2);
  const tx = dev.tensor(x, c.x, 'f16');
  const tw = dev.tensor(w, c.w, 'f16');
  const tb = dev.tensor(b, [c.w[0]!], 'f16');
  const opts = { stride: c.stride, padding: c.padding };
  const y = conv2d(tx, tw, tb, { ...opts, gemm: tile });
  const want = conv2dRef(x, c.x, w, c.w, b, opts);
  expect(y.shape).toEqual(want.shape);
  expectClose(await y.float32(), want.data, { ...f16Tol(want.data), shape: want.shape }, label);
  for (const t of [tx, tw, tb, y]) t.dispose();
}

// One device for both groups (testDevice's afterAll belongs to the scope that first calls it).
const dev = await testDevice();

describe('subgroup-matrix GEMM (emulated builtins) vs CPU reference', () => {
  const noF16 = !dev.features.f16;
  for (const [name, tile] of TILES) {
    it.skipIf(noF16)(`matmul/linear f16, ${name}`, async () => {
      for (const [i, c] of MATMUL_CASES.entries()) await checkMatmul(dev, c, tile, 31 * i + 5, `matmul ${name}`);
    });
    it.skipIf(noF16)(`conv2d f16, ${name}`, async () => {
      for (const [i, [label, c]] of CONV_CASES.entries()) await checkConv(dev, c, tile, 17 * i + 3, `conv2d ${label} ${name}`);
    });
  }

  it.skipIf(noF16)('a row with a usable matrix tile runs f16 GEMMs on it and keeps f32 on the scalar tile', async () => {
    const tile = TILES[0]![1];
    const row: KernelRow = { ...KERNEL_ROWS.intel, adapter: 'intel', matrix: [tile] };
    const names: string[] = [];
    const run = dev.run.bind(dev);
    const spy = vi.spyOn(dev, 'run').mockImplementation((k, a) => { names.push(k.name); return run(k, a); });
    setKernelRow(dev, row);
    try {
      expect(matrixTile(dev)).toBe(tile);
      await checkMatmul(dev, MATMUL_CASES[2]!, undefined, 1, 'matmul by row');
      await checkConv(dev, CONV_CASES[0]![1], undefined, 2, 'conv2d by row');
      const a = dev.tensor(rand(12, 3), [3, 4]);
      matmul(a, a, { transB: true }).dispose();
      a.dispose();
    } finally {
      setKernelRow(dev, null);
      spy.mockRestore();
    }
    expect(names).toEqual([
      'gemm_matmul_f16_k4_tb_bias_sm16x16x16_g2x2_f2x2_k32_l8_emu',
      'gemm_conv2d_f16_k3x3_s1_bias_sm16x16x16_g2x2_f2x2_k32_l8_emu',
      'gemm_matmul_f32_k4_tb_w8x8_r4x4_k16',
    ]);
  });

  it('refuses a matrix tile for f32 operands', async () => {
    const a = dev.tensor(rand(12, 3), [3, 4]);
    try {
      expect(() => matmul(a, a, { transB: true, tile: { gemm: TILES[0]![1] } })).toThrow(UnsupportedError);
    } finally {
      a.dispose();
    }
  });
});

describe('subgroup-matrix GEMM: native kernels and their choice', () => {
  const native = KERNEL_ROWS.nvidia.matrix![0]!;
  const hooks = gemmMatmulHooks({ dtype: 'f16', kVec: true, transB: true, bias: true, accumulate: false });

  it('writes the extension builtins in the native kernel and shares every other line with the emulated one', () => {
    const src = kernelSource(matrixKernel(hooks, native));
    expect(src).toContain('enable chromium_experimental_subgroup_matrix;');
    expect(src).toContain('diagnostic(off, chromium_experimental.subgroup_matrix_uniformity);');
    expect(src).toContain('alias SmA = subgroup_matrix_left<f16, 16, 16>;'); // <T, columns, rows>
    expect(src).toContain('subgroupMatrixLoad<SmA>(&sa, off, false, TK)'); // row-major, stride in elements
    const tall = kernelSource(matrixKernel(hooks, { ...TILES[2]![1], lanes: 32, emulate: false })); // m 16, n 8, k 16
    expect(tall).toContain('alias SmB = subgroup_matrix_right<f16, 8, 16>;');
    expect(tall).toContain('alias SmC = subgroup_matrix_result<f32, 8, 16>;');
    expect(src).toContain('subgroupMatrixMultiplyAccumulate(a, b, c)');
    expect(src).toContain('@builtin(subgroup_id) sg_id: u32');
    expect(src).toContain('const WG_X: u32 = 128u;'); // 4 subgroups of 32: a multiple of the subgroup size
    // Outside the sm_* wrappers and the subgroup id, the two kernels are the same text.
    const emu = kernelSource(matrixKernel(hooks, { ...native, emulate: true }));
    const body = (s: string) => s.slice(s.indexOf('@compute')).replace(', @builtin(subgroup_id) sg_id: u32', '').replace(/sg_id|li \/ SG_LANES/g, 'SG');
    expect(body(src)).toBe(body(emu));
  });

  it('is not chosen where the adapter lists no configs; the probe says why', async () => {
    expect(dev.features.subgroupMatrix).toEqual([]);
    expect(matrixTile(dev, KERNEL_ROWS.nvidia)).toBeNull();
    const r = await probeMatrixGemm(dev, KERNEL_ROWS.nvidia);
    expect(r.tile).toBeNull();
    expect(r.skipped.join('\n')).toMatch(dev.features.f16 ? /offers no f16 -> f32 16x16x16 subgroup matrix \(configs: none\)/ : /no shader-f16/);
  });

  // A stand-in for an adapter that lists a 16x16x16 config: the choice and the compile-probe fallback.
  const listed = (tryCompile: (k: never) => Promise<Error | null>, lanes = 32) => ({
    features: { f16: true, subgroups: true, timestamps: false, subgroupMatrix: [{ componentType: 'f16', resultComponentType: 'f32', M: 16, N: 16, K: 16 }] },
    adapterInfo: { vendor: 'nvidia', architecture: '', device: '', description: '', subgroupMinSize: lanes, subgroupMaxSize: lanes },
    limits: dev.limits,
    tryCompile,
  }) as unknown as Device;

  it('falls back to the scalar GEMM when the driver rejects the kernel', async () => {
    // The real compiler here rejects the kernel (the extension; on SwiftShader already f16), as a broken driver would.
    const fake = listed((k) => dev.tryCompile(k));
    const r = await probeMatrixGemm(fake, KERNEL_ROWS.nvidia);
    expect(r.tile).toBeNull();
    expect(r.skipped[0]).toMatch(/16x16x16: does not compile: .*extension '(chromium_experimental_subgroup_matrix|f16)' is not allowed/);
    expect(r.skipped[1]).toMatch(/8x8x8: the device offers no f16 -> f32 8x8x8/);
    expect(matrixTile(fake, KERNEL_ROWS.nvidia)).toBeNull();
  });

  it('takes the first candidate that compiles, and only for subgroups of the tile size', async () => {
    const compiled: string[] = [];
    const fake = listed(async (k: { name: string }) => { compiled.push(k.name); return null; });
    expect(matrixTile(fake, KERNEL_ROWS.nvidia)).toBeNull(); // not before the probe
    const r = await probeMatrixGemm(fake, KERNEL_ROWS.nvidia);
    expect(r.tile).toBe(native);
    expect(compiled).toEqual([
      'gemm_matmul_f16_k4_tb_bias_sm16x16x16_g2x2_f2x2_k32_l32', 'gemm_conv2d_f16_k3x3_s1_bias_sm16x16x16_g2x2_f2x2_k32_l32',
    ]);
    expect(matrixTile(fake, KERNEL_ROWS.nvidia)).toBe(native);
    expect(matrixTileProblem(listed(async () => null, 16), native)).toMatch(/exactly 32 invocations \(this device: 16-16\)/);
  });

  it.skipIf(!dev.features.f16)('tryCompile returns the compile error instead of failing the device', async () => {
    const err = await dev.tryCompile(matrixKernel(hooks, native));
    expect(err).toBeInstanceOf(ShaderCompileError);
    expect(err!.message).toMatch(/chromium_experimental_subgroup_matrix/);
    expect(await dev.tryCompile(matrixKernel(hooks, { ...native, emulate: true }))).toBeNull();
    await dev.sync(); // nothing was reported to the device
  });
});
