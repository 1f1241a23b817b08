import { describe, expect, it, vi } from 'vitest';
import {
  type Device, LimitError, ParameterError, ShapeError, UnsupportedError, roundToF16,
} from '@sd-webgpu/tensor';
import {
  type Conv2dOptions, type Conv2dTile, conv2d, conv2dKernel, conv2dOutputShape, conv2dPackWeight, conv2dPointwiseKernel,
  chooseConv2dTile, conv2dSubgroupKernel, conv2dSubgroupSource, planConv2d,
} from '../../packages/kernels/src/conv2d';
import { adapterClass, deviceFacts, kernelRow } from '../../packages/kernels/src/table';
import { conv2dRef } from '../../packages/kernels/src/reference/conv2d';
import { createDevice, testDevice } from '../helpers/device';
import { expectClose, loadCase } from '../helpers/fixtures';
import { distinctRows, withRow } from '../helpers/rows';

/** Whether the device has lavapipe's 8-lane subgroups (the subgroup kernels run only there). */
const sg8 = (dev: Device) => kernelRow(dev).conv2d === 'subgroup' ||
  (dev.features.subgroups && dev.adapterInfo.subgroupMinSize === 8 && dev.adapterInfo.subgroupMaxSize === 8);

/** Deterministic uniform values in [-1, 1) (LCG). */
function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

interface Case {
  x: number[];
  w: number[];
  opts: Conv2dOptions;
  bias?: boolean;
  tile?: Conv2dTile;
  /** Pass the weight packed by conv2dPackWeight. */
  prepack?: boolean;
  pointwiseTile?: Conv2dOptions['pointwiseTile'];
}

/** Runs conv2d on random data in `dtype` and returns the GPU result with the f64 reference of the same inputs. */
async function runCase(dev: Device, c: Case, dtype: 'f32' | 'f16', seed: number) {
  let x = rand(numel(c.x), seed);
  let w = rand(numel(c.w), seed + 1);
  let b = c.bias === false ? null : rand(c.w[0]!, seed + 2);
  // f16: the reference sees exactly the values the GPU holds.
  if (dtype === 'f16') [x, w, b] = [roundToF16(x), roundToF16(w), b && roundToF16(b)];
  const tx = dev.tensor(x, c.x, dtype);
  const tw = dev.tensor(w, c.w, dtype);
  const tb = b ? dev.tensor(b, [c.w[0]!], dtype) : null;
  const packed = c.prepack ? conv2dPackWeight(tw) : null;
  const y = conv2d(tx, packed ?? tw, tb, { ...c.opts, tile: c.tile, pointwiseTile: c.pointwiseTile });
  const got = await y.float32();
  const want = conv2dRef(x, c.x, w, c.w, b, c.opts);
  expect(y.shape).toEqual(want.shape);
  for (const t of [tx, tw, tb, y, packed?.tensor]) t?.dispose();
  return { got, want: want.data, shape: want.shape };
}

/**
 * f32: the sum of K = I·kh·kw ≤ 300 products of values in [-1, 1) accumulated in f32 is off by a few ulp of the
 * running sum (|y| ≤ ~10 here): 1e-5 of max|y| plus 1e-5 relative, as test/fixtures/README.md section 2.
 * f16: inputs are exactly representable, accumulation is f32, and the single rounding of the output to f16 costs at
 * most half an ulp = 2^-11 relative (4.9e-4): rtol 1e-3, plus the f32 term above.
 */
const tol = (dtype: 'f32' | 'f16', want: Float32Array) =>
  dtype === 'f32' ? { atol: 1e-5 * Math.max(1, maxAbs(want)), rtol: 1e-5 } : { atol: 1e-5 * Math.max(1, maxAbs(want)), rtol: 1e-3 };

describe('conv2d vs CPU reference', () => {
  // Awkward shapes: odd sizes, batch > 1, channel counts not multiples of 4/32, widths not multiples of the 16-pixel
  // tile, 1x1x1, strides 1/2, symmetric / VAE asymmetric / arbitrary padding, non-square kernels, no bias.
  const cases: [string, Case][] = [
    ['1x1x1x1 1x1', { x: [1, 1, 1, 1], w: [1, 1, 1, 1], opts: {} }],
    ['3x3 p1 on a 1x1 image', { x: [1, 3, 1, 1], w: [5, 3, 3, 3], opts: { padding: 1 } }],
    ['3x3 s1 p1 2x5x9x11 -> 7', { x: [2, 5, 9, 11], w: [7, 5, 3, 3], opts: { padding: 1 } }],
    ['3x3 s1 p1 2x33x17x19 -> 70', { x: [2, 33, 17, 19], w: [70, 33, 3, 3], opts: { padding: 1 } }],
    ['3x3 s1 p1 narrow 2x40x8x8 -> 72', { x: [2, 40, 8, 8], w: [72, 40, 3, 3], opts: { padding: 1 } }],
    ['3x3 s1 p0 1x4x6x7 -> 3', { x: [1, 4, 6, 7], w: [3, 4, 3, 3], opts: {} }],
    ['3x3 s2 p1 3x3x7x13 -> 9', { x: [3, 3, 7, 13], w: [9, 3, 3, 3], opts: { stride: 2, padding: 1 } }],
    ['3x3 s2 vae pad 2x6x10x9 -> 37', { x: [2, 6, 10, 9], w: [37, 6, 3, 3], opts: { stride: 2, padding: [0, 1, 0, 1] } }],
    ['3x3 s2 vae pad 1x8x33x34 -> 12', { x: [1, 8, 33, 34], w: [12, 8, 3, 3], opts: { stride: 2, padding: [0, 1, 0, 1] } }],
    ['3x3 s1 pad [2,0,1,3] no bias', { x: [2, 3, 5, 6], w: [6, 3, 3, 3], opts: { padding: [2, 0, 1, 3] }, bias: false }],
    ['1x1 2x7x5x3 -> 9', { x: [2, 7, 5, 3], w: [9, 7, 1, 1], opts: {} }],
    ['1x1 1x70x9x9 -> 67 no bias (flat path)', { x: [1, 70, 9, 9], w: [67, 70, 1, 1], opts: {}, bias: false }],
    ['1x1 pointwise 2x37x6x6 -> 21', { x: [2, 37, 6, 6], w: [21, 37, 1, 1], opts: {} }],
    ['1x1 pointwise 1x5x4x25 -> 3 prepacked', { x: [1, 5, 4, 25], w: [3, 5, 1, 1], opts: {}, prepack: true }],
    ['3x3 s1 p1 prepacked 2x9x10x12 -> 11', { x: [2, 9, 10, 12], w: [11, 9, 3, 3], opts: { padding: 1 }, prepack: true }],
    ['1x1 s2 p1 (generic path)', { x: [1, 5, 7, 6], w: [4, 5, 1, 1], opts: { stride: 2, padding: 1 } }],
    ['1x3 and 5x5 kernels', { x: [1, 3, 9, 10], w: [5, 3, 1, 3], opts: { padding: [0, 0, 1, 1] } }],
    ['5x5 s2 p2', { x: [2, 4, 11, 12], w: [6, 4, 5, 5], opts: { stride: 2, padding: 2 } }],
    ['3x3 grid folded past 65535 workgroups', { x: [1, 1, 300, 3600], w: [2, 1, 3, 3], opts: { padding: 1 } }],
    ['1x1 pointwise 1x64x8x8 -> 40 (full GEMM tiles)', { x: [1, 64, 8, 8], w: [40, 64, 1, 1], opts: {} }],
    ['3x3 s2 forced channel-lane 1x4x1', { x: [1, 8, 17, 18], w: [12, 8, 3, 3], opts: { stride: 2, padding: 1 }, tile: { tileX: 4, tileY: 1, vec: 1 } }],
  ];
  // Every row's kernels (forced), so the GPU rows' implicit GEMM is checked here too.
  for (const [rowName, row] of distinctRows('conv2d')) {
    for (const dtype of ['f32', 'f16'] as const) {
      for (const [name, c] of cases) {
        // The folded grid runs ~10 s per GEMM tile on lavapipe: the tile-independent flat indexing is checked once.
        const folded = name.includes('folded');
        it.skipIf(folded && row.conv2d !== 'subgroup' && row.adapter !== 'apple')(`[${rowName}] ${name} ${dtype}`, async (ctx) => {
          const dev = await testDevice();
          ctx.skip(dtype === 'f16' && !dev.features.f16, 'no shader-f16');
          ctx.skip(folded && adapterClass(deviceFacts(dev)) === 'swiftshader', 'over 100 s of execution on SwiftShader; lavapipe covers the folding');
          await withRow(ctx, dev, row, async () => {
            const { got, want, shape } = await runCase(dev, c, dtype, name.length * 7 + 3);
            expectClose(got, want, { ...tol(dtype, want), shape }, `conv2d [${rowName}] ${name} ${dtype}`);
          });
        });
      }
    }
  }

  it('runs the uniform-load kernel (SwiftShader\'s row, lavapipe\'s flat 1x1 path) with a forced tile', async (ctx) => {
    const dev = await testDevice();
    const c: Case = { x: [2, 9, 7, 11], w: [13, 9, 3, 3], opts: { padding: 1 }, tile: { tileX: 5, tileY: 2, vec: 3 } };
    ctx.skip(!sg8(dev), 'the uniform-load kernels compile for minutes on SwiftShader; only lavapipe runs them');
    const { got, want, shape } = await runCase(dev, c, 'f32', 41);
    expectClose(got, want, { ...tol('f32', want), shape }, 'conv2d uniform-load 2x5x3');
  });

  it('forces a GEMM tile through the options', async () => {
    const dev = await testDevice();
    const c: Case = { x: [2, 6, 9, 10], w: [11, 6, 3, 3], opts: { stride: 2, padding: [0, 1, 0, 1] } };
    const x = rand(numel(c.x), 3);
    const tx = dev.tensor(x, c.x);
    const tw = dev.tensor(rand(numel(c.w), 4), c.w);
    const y = conv2d(tx, tw, null, { ...c.opts, gemm: { wgX: 4, wgY: 2, rm: 3, rn: 1, tk: 4 } });
    const want = conv2dRef(x, c.x, await tw.float32(), c.w, null, c.opts);
    expectClose(await y.float32(), want.data, { ...tol('f32', want.data), shape: want.shape }, 'conv2d gemm 4x2 r3x1');
    for (const t of [tx, tw, y]) t.dispose();
  });
});

describe('conv2d subgroup-shared kernel (lavapipe-like devices)', () => {
  // Segments shorter than, equal to and longer than the 8 lanes; strides 1/2; padding variants; channel counts not
  // multiples of the 32·vec channels per workgroup; tiles wider than the image.
  const sg = (tileY: number, tileX: number, vec: number): Conv2dTile => ({ tileY, tileX, vec, subgroup: true });
  const cases: [string, Case][] = [
    ['3x3 s1 p1 2x33x17x19 -> 70 1x32x1', { x: [2, 33, 17, 19], w: [70, 33, 3, 3], opts: { padding: 1 }, tile: sg(1, 32, 1) }],
    ['3x3 s1 p1 2x9x10x12 -> 11 2x16x1 prepacked', { x: [2, 9, 10, 12], w: [11, 9, 3, 3], opts: { padding: 1 }, tile: sg(2, 16, 1), prepack: true }],
    ['3x3 s1 p1 narrow 2x40x8x8 -> 72 4x8x1', { x: [2, 40, 8, 8], w: [72, 40, 3, 3], opts: { padding: 1 }, tile: sg(4, 8, 1) }],
    ['3x3 s1 p1 1x7x9x21 -> 40 1x16x2', { x: [1, 7, 9, 21], w: [40, 7, 3, 3], opts: { padding: 1 }, tile: sg(1, 16, 2) }],
    ['3x3 s1 pad [2,0,1,3] no bias 2x8x2', { x: [2, 3, 5, 6], w: [6, 3, 3, 3], opts: { padding: [2, 0, 1, 3] }, bias: false, tile: sg(2, 8, 2) }],
    ['3x3 s1 p0 tile 3 wide', { x: [1, 4, 6, 7], w: [3, 4, 3, 3], opts: {}, tile: sg(2, 3, 1) }],
    ['3x3 s2 p1 3x3x7x13 -> 9 1x16x1', { x: [3, 3, 7, 13], w: [9, 3, 3, 3], opts: { stride: 2, padding: 1 }, tile: sg(1, 16, 1) }],
    ['3x3 s2 vae pad 1x8x33x34 -> 12 2x8x1', { x: [1, 8, 33, 34], w: [12, 8, 3, 3], opts: { stride: 2, padding: [0, 1, 0, 1] }, tile: sg(2, 8, 1) }],
    ['5x5 s2 p2 1x12x1', { x: [2, 4, 11, 12], w: [6, 4, 5, 5], opts: { stride: 2, padding: 2 }, tile: sg(1, 12, 1) }],
    ['vec4 x 3x3 s1 p1 2x33x17x20 -> 70 1x32x1', { x: [2, 33, 17, 20], w: [70, 33, 3, 3], opts: { padding: 1 }, tile: { ...sg(1, 32, 1), x4: true } }],
    ['vec4 x 3x3 s1 p1 2x9x8x8 -> 40 4x8x1 prepacked', { x: [2, 9, 8, 8], w: [40, 9, 3, 3], opts: { padding: 1 }, tile: { ...sg(4, 8, 1), x4: true }, prepack: true }],
    ['vec4 x 3x3 s1 pad [2,0,5,3] 2x4x1', { x: [2, 3, 5, 12], w: [6, 3, 3, 3], opts: { padding: [2, 0, 5, 3] }, tile: { ...sg(2, 4, 1), x4: true } }],
    ['vec4 x 3x3 s1 p0 1x3x1', { x: [1, 4, 6, 8], w: [3, 4, 3, 3], opts: {}, tile: { ...sg(2, 4, 1), x4: true } }],
    ['vec4 x 3x3 s2 vae pad 1x8x33x36 -> 12 1x16x1', { x: [1, 8, 33, 36], w: [12, 8, 3, 3], opts: { stride: 2, padding: [0, 1, 0, 1] }, tile: { ...sg(1, 16, 1), x4: true } }],
    ['vec4 x 3x3 s2 p1 2x5x12x16 -> 9 2x8x2', { x: [2, 5, 12, 16], w: [9, 5, 3, 3], opts: { stride: 2, padding: 1 }, tile: { ...sg(2, 8, 2), x4: true } }],
    ['vec4 x falls back on odd widths', { x: [2, 5, 9, 11], w: [7, 5, 3, 3], opts: { padding: 1 }, tile: { ...sg(1, 16, 1), x4: true } }],
    ['pointwise subgroup 2x37x6x6 -> 21 16x2', { x: [2, 37, 6, 6], w: [21, 37, 1, 1], opts: {}, pointwiseTile: { rows: 16, vec: 2 } }],
    ['pointwise subgroup 1x40x4x25 -> 70 24x3 prepacked no bias', { x: [1, 40, 4, 25], w: [70, 40, 1, 1], opts: {}, bias: false, pointwiseTile: { rows: 24, vec: 3 }, prepack: true }],
    ['shared rows 3x3 s1 p1 2x33x17x19 -> 70 4x8x1', { x: [2, 33, 17, 19], w: [70, 33, 3, 3], opts: { padding: 1 }, tile: { ...sg(4, 8, 1), shareRows: true } }],
    ['shared rows 3x3 s2 vae pad 1x8x33x34 -> 37 2x8x2', { x: [1, 8, 33, 34], w: [37, 8, 3, 3], opts: { stride: 2, padding: [0, 1, 0, 1] }, tile: { ...sg(2, 8, 2), shareRows: true } }],
    ['shared rows 1x3 kernel pad [0,0,1,1] 3x5x1', { x: [1, 3, 9, 10], w: [5, 3, 1, 3], opts: { padding: [0, 0, 1, 1] }, tile: { ...sg(3, 5, 1), shareRows: true } }],
  ];
  for (const dtype of ['f32', 'f16'] as const) {
    for (const [name, c] of cases) {
      it(`${name} ${dtype}`, async () => {
        const dev = await testDevice();
        if (!sg8(dev)) {
          expect(() => conv2d(dev.empty([1, 1, 3, 3]), dev.empty([1, 1, 3, 3]), null, { tile: c.tile, pointwiseTile: c.pointwiseTile }))
            .toThrow(UnsupportedError);
          return;
        }
        if (dtype === 'f16' && !dev.features.f16) return;
        const { got, want, shape } = await runCase(dev, c, dtype, name.length * 5 + 1);
        expectClose(got, want, { ...tol(dtype, want), shape }, `conv2d subgroup ${name} ${dtype}`);
      });
    }
  }

  it('rejects subgroup pointwise tiles whose rows are not a multiple of 8', async () => {
    const dev = await testDevice();
    const x = dev.tensor(rand(16, 1), [1, 4, 2, 2]);
    const w = dev.tensor(rand(8, 2), [2, 4, 1, 1]);
    expect(() => conv2d(x, w, null, { pointwiseTile: { rows: 12, vec: 1 } })).toThrow(UnsupportedError);
    for (const t of [x, w]) t.dispose();
  });

  it('splits a pointwise conv over the binding limit with accumulation (subgroup pointwise kernel)', async () => {
    const dev = await createDevice({ maxStorageBufferBindingSize: 1024 });
    try {
      if (!sg8(dev)) return;
      const c: Case = { x: [2, 22, 4, 9], w: [13, 22, 1, 1], opts: {}, pointwiseTile: { rows: 8, vec: 1 } };
      const geom = { n: 2, cin: 22, h: 1, w: 36, cout: 13, hout: 1, wout: 36, kh: 1, kw: 1 };
      expect(planConv2d(geom, 4, dev.limits, 'native').length).toBeGreaterThan(1);
      const { got, want, shape } = await runCase(dev, c, 'f32', 23);
      expectClose(got, want, { ...tol('f32', want), shape }, 'conv2d pointwise subgroup split');
    } finally {
      dev.dispose();
    }
  });

  it('splits over the binding limit with accumulation (subgroup kernel)', async () => {
    const dev = await createDevice({ maxStorageBufferBindingSize: 2048 });
    try {
      if (!sg8(dev)) return;
      const c: Case = { x: [2, 16, 9, 9], w: [12, 16, 3, 3], opts: { padding: 1 }, tile: sg(2, 16, 1) };
      const geom = { n: 2, cin: 16, h: 9, w: 9, cout: 12, hout: 9, wout: 9, kh: 3, kw: 3 };
      expect(planConv2d(geom, 4, dev.limits, 'packed').length).toBeGreaterThan(1);
      const { got, want, shape } = await runCase(dev, c, 'f32', 17);
      expectClose(got, want, { ...tol('f32', want), shape }, 'conv2d subgroup split');
    } finally {
      dev.dispose();
    }
  });

  it('dispatches the kernels of the device\'s row by default', async () => {
    const dev = await testDevice();
    const names: string[] = [];
    const run = dev.run.bind(dev);
    const spy = vi.spyOn(dev, 'run').mockImplementation((k, a) => { names.push(k.name); return run(k, a); });
    try {
      const x = dev.tensor(rand(2 * 4 * 8 * 8, 5), [2, 4, 8, 8]);
      const w = dev.tensor(rand(6 * 4 * 9, 6), [6, 4, 3, 3]);
      const w1 = dev.tensor(rand(6 * 4, 7), [6, 4, 1, 1]);
      conv2d(x, w1, null).dispose();
      w1.dispose();
      for (const opts of [{ padding: 1 }, { stride: 2 as const, padding: 1 }]) conv2d(x, w, null, opts).dispose();
      for (const t of [x, w]) t.dispose();
    } finally {
      spy.mockRestore();
    }
    const convs = names.filter((n) => !n.startsWith('conv2d_pack'));
    const rowConv = kernelRow(dev).conv2d;
    if (rowConv !== 'subgroup' && 'direct' in rowConv) {
      expect(convs).toEqual(['conv2d_f32_k1x1_s1_t1x4_v1', 'conv2d_f32_k3x3_s1_t1x4_v1', 'conv2d_f32_k3x3_s2_t1x4_v1']);
    } else if (rowConv === 'subgroup') {
      expect(convs).toEqual(['conv2d_pointwise_f32_sg_r16_v2', 'conv2d_sg_f32_k3x3_s1_t4x8_v1', 'conv2d_sg_f32_k3x3_s2_t4x8_v1_x4p1']);
      expect(chooseConv2dTile(false, 1, 64)).toMatchObject({ tileX: 32, subgroup: true });
    } else {
      expect(convs.map((n) => n.replace(/_w\d.*$/, ''))).toEqual([
        'gemm_conv2d_f32_k1x1_s1_pw', 'gemm_conv2d_f32_k3x3_s1', 'gemm_conv2d_f32_k3x3_s2',
      ]);
      // The GEMM core reads plain weights in the PyTorch layout: no packing dispatch.
      expect(names.some((n) => n.startsWith('conv2d_pack'))).toBe(false);
    }
  });

  it('memoizes subgroup descriptors apart from the uniform-load ones', () => {
    const base = { dtype: 'f32', kh: 3, kw: 3, stride: 1, tileX: 16, tileY: 2, vec: 1, bias: true, accumulate: false } as const;
    expect(conv2dSubgroupKernel(base)).toBe(conv2dSubgroupKernel({ ...base }));
    expect(conv2dSubgroupKernel(base).name).not.toBe(conv2dKernel(base).name);
    expect(conv2dSubgroupKernel(base).enables).toContain('subgroups');
    expect(conv2dSubgroupSource(base)).toContain('subgroupBroadcast');
    expect(conv2dSubgroupKernel({ ...base, shareRows: true }).name).not.toBe(conv2dSubgroupKernel(base).name);
    expect(conv2dSubgroupKernel({ ...base, x4: { padL: 1 } }).name).not.toBe(conv2dSubgroupKernel({ ...base, x4: { padL: 0 } }).name);
    const pw = { dtype: 'f32', rows: 16, vec: 2, bias: false, accumulate: false } as const;
    expect(() => conv2dPointwiseKernel({ ...pw, rows: 12 })).toThrow(/multiple of 8/);
  });
});

describe('conv2d fixtures', () => {
  const names = [
    'conv1x1_1x7x5x3_to9', 'conv1x1_1x8x8x8_to8', 'conv1x1_2x64x8x8_to32',
    'conv3x3_s1p1_1x3x7x9_to5', 'conv3x3_s1p1_1x4x8x8_to32', 'conv3x3_s1p1_1x64x5x6_to4',
    'conv3x3_s1p1_1x96x6x10_to32', 'conv3x3_s1p1_2x32x16x16_to32',
    'conv3x3_s2_vaepad_1x32x16x16_to32', 'conv3x3_s2_vaepad_2x16x9x7_to8',
    'conv3x3_s2p1_1x32x16x16_to32', 'conv3x3_s2p1_2x16x9x7_to8',
  ];
  for (const [rowName, row] of distinctRows('conv2d')) for (const dtype of ['f32', 'f16'] as const) {
    for (const name of names) {
      it(`[${rowName}] ${name} ${dtype}`, async (ctx) => {
        const dev = await testDevice();
        ctx.skip(dtype === 'f16' && !dev.features.f16, 'no shader-f16');
        await withRow(ctx, dev, row, () => fixtureCase(dev, name, dtype));
      });
    }
  }
});

async function fixtureCase(dev: Device, name: string, dtype: 'f32' | 'f16'): Promise<void> {
  const fx = await loadCase(`ops/${name}`);
  const a = fx.attrs as { kernel: number; stride: 1 | 2; padding: number; pre_pad_lrtb?: number[] };
  // F.pad order is (left, right, top, bottom); conv2d takes [top, bottom, left, right].
  const [l, r, t, b] = a.pre_pad_lrtb ?? [0, 0, 0, 0];
  const p = a.padding;
  const opts: Conv2dOptions = { stride: a.stride, padding: [t! + p, b! + p, l! + p, r! + p] };
  const x = dev.tensor(fx.inputs.x!.data as Float32Array, fx.inputs.x!.shape, dtype);
  const w = dev.tensor(fx.weights.weight!.data as Float32Array, fx.weights.weight!.shape, dtype);
  const bias = dev.tensor(fx.weights.bias!.data as Float32Array, fx.weights.bias!.shape, dtype);
  const y = conv2d(x, w, bias, opts);
  const want = fx.outputs.y!;
  expect(y.shape).toEqual(want.shape);
  const got = await y.float32();
  const scale = Math.max(1, maxAbs(want.data as Float32Array));
  // README section 2: f32 1e-5 abs + 1e-5 rel (K ≤ 1000); f16 storage 2e-2 of max|y| (inputs rounded to f16,
  // K ≤ 864 products: the input rounding, not the f32 accumulation, dominates).
  const t2 = dtype === 'f32' ? { atol: 1e-5, rtol: 1e-5 } : { atol: 2e-2 * scale };
  expectClose(got, want.data as Float32Array, { ...t2, shape: want.shape }, `${name} ${dtype}`);
  for (const tt of [x, w, bias, y]) tt.dispose();
}

describe('conv2d over tensors larger than one binding', () => {
  // A device that plans with a tiny binding limit: batch chunks, output-channel × input-channel chunks with
  // accumulation, and windows at offsets that are not multiples of 256 bytes (planes of 9x9 / 7x13 values).
  const cases: [string, Case, number][] = [
    ['batch chunks', { x: [5, 4, 8, 8], w: [6, 4, 3, 3], opts: { padding: 1 } }, 2048],
    ['channel chunks 3x3', { x: [2, 16, 9, 9], w: [12, 16, 3, 3], opts: { padding: 1 } }, 2048],
    ['channel chunks s2 vae pad', { x: [2, 19, 13, 12], w: [10, 19, 3, 3], opts: { stride: 2, padding: [0, 1, 0, 1] } }, 1536],
    ['channel chunks 1x1 flat no bias', { x: [3, 21, 7, 13], w: [9, 21, 1, 1], opts: {}, bias: false }, 2048],
    ['channel chunks 1x1 pointwise', { x: [2, 22, 4, 9], w: [13, 22, 1, 1], opts: {} }, 1024],
    ['channel chunks 1x1 pointwise prepacked', { x: [2, 22, 4, 9], w: [13, 22, 1, 1], opts: {}, prepack: true }, 1024],
    ['channel chunks 3x3 prepacked', { x: [1, 18, 9, 7], w: [14, 18, 3, 3], opts: { padding: 1 }, prepack: true }, 1536],
  ];
  // Chunking is the same code for every GEMM tile (and tens of dispatches of a 64x64 tile take ~25 s on lavapipe): the
  // lavapipe row, SwiftShader's channel-lane row and the smallest GEMM tile (Apple/Intel/default's) run it.
  const rows = distinctRows('conv2d').filter(([, r]) => r.conv2d === 'subgroup' || r.adapter === 'swiftshader' || r.adapter === 'apple');
  for (const [rowName, row] of rows) for (const dtype of ['f32', 'f16'] as const) {
    for (const [name, c, limit] of cases) {
      it(`[${rowName}] ${name} ${dtype} (binding limit ${limit} B)`, async (ctx) => {
        const dev = await createDevice({ maxStorageBufferBindingSize: limit });
        try {
          ctx.skip(dtype === 'f16' && !dev.features.f16, 'no shader-f16');
          await withRow(ctx, dev, row, () => splitCase(dev, name, c, limit, dtype));
        } finally {
          dev.dispose();
        }
      });
    }
  }

  it('convolves an input larger than the device binding limit (the VAE decoder at 512x512)', async () => {
    const dev = await testDevice();
    const limit = dev.limits.maxStorageBufferBindingSize;
    if (limit > 256 * 2 ** 20) return; // a device that binds it whole does not need the split (and it would be huge)
    const cin = Math.floor(limit / (512 * 512 * 4)) + 2; // 130 channels of 1 MiB on lavapipe's 128 MiB limit
    const c: Case = { x: [1, cin, 512, 512], w: [3, cin, 3, 3], opts: { padding: 1 } };
    const { got, want, shape } = await runCase(dev, c, 'f32', 99);
    expectClose(got, want, { ...tol('f32', want), shape }, 'conv2d over the binding limit');
  });

  it('plans batch, output-channel and input-channel chunks that cover everything once', () => {
    const limits = { maxStorageBufferBindingSize: 2048, minStorageBufferOffsetAlignment: 256 };
    const g = { n: 2, cin: 16, h: 9, w: 9, cout: 12, hout: 9, wout: 9, kh: 3, kw: 3 };
    const chunks = planConv2d(g, 4, limits, 'native');
    const seen = new Map<string, number>();
    for (const ch of chunks) {
      for (let n = ch.n0; n < ch.n0 + ch.n; n++) {
        for (let o = ch.o0; o < ch.o0 + ch.o; o++) {
          for (let c = ch.c0; c < ch.c0 + ch.c; c++) seen.set(`${n},${o},${c}`, (seen.get(`${n},${o},${c}`) ?? 0) + 1);
        }
      }
      // Each window, with up to 256 bytes lost to alignment, fits the limit.
      expect(ch.c * 81 * 4 + 256).toBeLessThanOrEqual(2048);
      expect(ch.o * 81 * 4 + 256).toBeLessThanOrEqual(2048);
      expect(ch.o * 16 * 9 * 4 + 256).toBeLessThanOrEqual(2048);
    }
    expect(seen.size).toBe(2 * 12 * 16);
    expect([...seen.values()].every((v) => v === 1)).toBe(true);
    expect(planConv2d(g, 4, { ...limits, maxStorageBufferBindingSize: 1 << 27 }, 'native')).toHaveLength(1);
    // Packed weights: output-channel chunks start at multiples of 4 (whole vec4 column groups).
    for (const ch of planConv2d({ ...g, cout: 30 }, 4, limits, 'packed')) expect(ch.o0 % 4).toBe(0);
  });

  it('throws LimitError when one channel plane cannot be bound', async () => {
    const dev = await createDevice({ maxStorageBufferBindingSize: 1024 });
    try {
      const x = dev.tensor(new Float32Array(2 * 20 * 20), [1, 2, 20, 20]);
      const w = dev.tensor(new Float32Array(2 * 2 * 9), [2, 2, 3, 3]);
      expect(() => conv2d(x, w, null, { padding: 1 })).toThrow(LimitError);
      x.dispose();
      w.dispose();
    } finally {
      dev.dispose();
    }
  });
});

async function splitCase(dev: Device, name: string, c: Case, limit: number, dtype: 'f32' | 'f16'): Promise<void> {
  const [n, cin, h, w] = c.x as [number, number, number, number];
  const [o, , kh, kw] = c.w as [number, number, number, number];
  const [, , ho, wo] = conv2dOutputShape(c.x, c.w, c.opts);
  const pointwise = kh === 1 && kw === 1 && Object.keys(c.opts).length === 0;
  const geom = pointwise
    ? { n, cin, h: 1, w: h * w, cout: o, hout: 1, wout: h * w, kh, kw }
    : { n, cin, h, w, cout: o, hout: ho, wout: wo, kh, kw };
  const gemm = kernelRow(dev).conv2d !== 'subgroup';
  const layout = gemm ? (c.prepack ? 'packed' : 'native')
    : pointwise && (h * w) % 4 === 0 && !c.prepack ? 'native' : 'packed';
  const chunks = planConv2d(geom, dtype === 'f16' ? 2 : 4, dev.limits, layout);
  expect(chunks.length).toBeGreaterThan(1);
  const { got, want, shape } = await runCase(dev, c, dtype, limit + cin);
  // f16 with input-channel chunks: each chunk's partial sum is stored in f16 before the next adds to it, one
  // more half-ulp rounding per chunk (of partials up to max|y|): 2e-2 of max|y|, README's f16 conv tolerance.
  const t = dtype === 'f32' ? tol(dtype, want) : { atol: 2e-2 * Math.max(1, maxAbs(want)) };
  expectClose(got, want, { ...t, shape }, `conv2d split ${name} ${dtype}`);
}

describe('conv2dPackWeight', () => {
  // Packing is a copy: exact in both dtypes. The small binding limit forces (channel range x k range) chunks.
  for (const limit of [0, 1024]) {
    it(`packs [O, I, kh, kw] into [I*kh*kw, ceil(O/4)*4] with zero columns${limit ? ` (limit ${limit} B)` : ''}`, async () => {
      const dev = limit ? await createDevice({ maxStorageBufferBindingSize: limit }) : await testDevice();
      try {
        const [o, i, kh, kw] = [10, 7, 3, 3];
        const w = rand(o * i * kh * kw, 5);
        const t = dev.tensor(w, [o, i, kh, kw]);
        const packed = conv2dPackWeight(t);
        expect(packed.tensor.shape).toEqual([i * kh * kw, 12]);
        expect(packed.shape).toEqual([o, i, kh, kw]);
        const got = await packed.tensor.float32();
        const want = new Float32Array(i * kh * kw * 12);
        for (let oo = 0; oo < o; oo++) for (let k = 0; k < i * kh * kw; k++) want[k * 12 + oo] = w[oo * i * kh * kw + k]!;
        expect(Array.from(got)).toEqual(Array.from(want));
        t.dispose();
        packed.tensor.dispose();
      } finally {
        if (limit) dev.dispose();
      }
    });
  }

  it('rejects a packed tensor of the wrong shape', async () => {
    const dev = await testDevice();
    const x = dev.tensor(new Float32Array(3 * 16), [1, 3, 4, 4]);
    const bad = dev.tensor(new Float32Array(27 * 4), [27, 4]);
    const fake = { kind: 'conv2d-packed-weight', tensor: bad, shape: [5, 3, 3, 3] } as const;
    expect(() => conv2d(x, fake, null, { padding: 1 })).toThrow(/packed weight tensor must be \[27, 8\]/);
    x.dispose();
    bad.dispose();
  });
});

describe('conv2d errors and descriptors', () => {
  it('throws typed errors for bad input', async () => {
    const dev = await testDevice();
    const x = dev.tensor(new Float32Array(2 * 3 * 5 * 5), [2, 3, 5, 5]);
    const w = dev.tensor(new Float32Array(4 * 3 * 9), [4, 3, 3, 3]);
    const b = dev.tensor(new Float32Array(4), [4]);
    const x3 = x.reshape([6, 5, 5]);
    const w2 = dev.tensor(new Float32Array(4 * 2 * 9), [4, 2, 3, 3]);
    const b5 = dev.tensor(new Float32Array(5), [5]);
    const xi = dev.tensor(new Int32Array(2 * 3 * 5 * 5), [2, 3, 5, 5], 'i32');
    const w9 = dev.tensor(new Float32Array(4 * 3 * 81), [4, 3, 9, 9]);
    expect(() => conv2d(x3, w, b)).toThrow(ShapeError);
    expect(() => conv2d(x, w.reshape([4, 27]), b)).toThrow(ShapeError);
    expect(() => conv2d(x, w2, b)).toThrow(/expects 2 input channels, x has 3/);
    expect(() => conv2d(x, w, b5)).toThrow(ShapeError);
    expect(() => conv2d(xi, w, b)).toThrow(UnsupportedError);
    expect(() => conv2d(x, w9, null, { padding: 4 })).toThrow(UnsupportedError);
    expect(() => conv2d(x, w, b, { stride: 3 as 1 })).toThrow(ParameterError);
    expect(() => conv2d(x, w, b, { padding: -1 })).toThrow(ParameterError);
    expect(() => conv2d(x, w, b, { padding: [1, 1, 1] as unknown as [number, number, number, number] })).toThrow(ParameterError);
    expect(() => conv2d(x, w, b, { padding: 0.5 })).toThrow(/padding/);
    expect(() => conv2d(x.reshape([2, 3, 1, 25]), w, b)).toThrow(/does not fit the padded input/);
    expect(() => conv2d(x, w, b, { tile: { tileX: 0, tileY: 1, vec: 1 } })).toThrow(ParameterError);
    expect(() => conv2d(x, w, b, { tile: { tileX: 8, tileY: 1, vec: 1, x4: true } })).toThrow(/subgroup tiles only/);
    if (dev.features.f16) {
      const wh = dev.tensor(new Float32Array(4 * 3 * 9), [4, 3, 3, 3], 'f16');
      expect(() => conv2d(x, wh, b)).toThrow(/weight dtype f16 differs from x dtype f32/);
      wh.dispose();
    }
    for (const t of [x, w, b, x3, w2, b5, xi, w9]) t.dispose();
  });

  it('memoizes descriptors per variant with unique names', () => {
    const base = { dtype: 'f32', kh: 3, kw: 3, stride: 1, tileX: 16, tileY: 1, vec: 1, bias: true, accumulate: false } as const;
    expect(conv2dKernel(base)).toBe(conv2dKernel({ ...base }));
    const names = new Set([
      base, { ...base, dtype: 'f16' }, { ...base, stride: 2 }, { ...base, kh: 1, kw: 1 }, { ...base, tileX: 8 },
      { ...base, tileY: 2 }, { ...base, vec: 2 }, { ...base, bias: false }, { ...base, bias: false, accumulate: true },
    ].map((v) => conv2dKernel(v as typeof base).name));
    expect(names.size).toBe(9);
    const pw = { dtype: 'f32', rows: 16, vec: 2, bias: true, accumulate: false } as const;
    expect(conv2dPointwiseKernel(pw)).toBe(conv2dPointwiseKernel({ ...pw }));
    expect(conv2dPointwiseKernel({ ...pw, bias: false }).name).not.toBe(conv2dPointwiseKernel(pw).name);
    expect(names.has(conv2dPointwiseKernel(pw).name)).toBe(false);
  });
});
