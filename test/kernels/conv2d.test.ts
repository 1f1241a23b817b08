import { describe, expect, it } from 'vitest';
import {
  type Device, LimitError, ParameterError, ShapeError, UnsupportedError, roundToF16,
} from '@sd-webgpu/tensor';
import {
  type Conv2dOptions, type Conv2dTile, conv2d, conv2dKernel, conv2dOutputShape, planConv2d,
} from '../../packages/kernels/src/conv2d';
import { conv2dRef } from '../../packages/kernels/src/reference/conv2d';
import { createDevice, testDevice } from '../helpers/device';
import { expectClose, loadCase } from '../helpers/fixtures';

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
const maxAbs = (a: ArrayLike<number>) => Array.prototype.reduce.call(a, (m: number, v) => Math.max(m, Math.abs(v as number)), 0) as number;

interface Case {
  x: number[];
  w: number[];
  opts: Conv2dOptions;
  bias?: boolean;
  tile?: Conv2dTile;
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
  const y = conv2d(tx, tw, tb, { ...c.opts, tile: c.tile });
  const got = await y.float32();
  const want = conv2dRef(x, c.x, w, c.w, b, c.opts);
  expect(y.shape).toEqual(want.shape);
  for (const t of [tx, tw, tb, y]) t?.dispose();
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
    ['1x1 1x70x9x9 -> 67 no bias', { x: [1, 70, 9, 9], w: [67, 70, 1, 1], opts: {}, bias: false }],
    ['1x1 s2 p1 (generic path)', { x: [1, 5, 7, 6], w: [4, 5, 1, 1], opts: { stride: 2, padding: 1 } }],
    ['1x3 and 5x5 kernels', { x: [1, 3, 9, 10], w: [5, 3, 1, 3], opts: { padding: [0, 0, 1, 1] } }],
    ['5x5 s2 p2', { x: [2, 4, 11, 12], w: [6, 4, 5, 5], opts: { stride: 2, padding: 2 } }],
    ['3x3 tile 2 rows x 5 cols x 3 vec4', { x: [2, 9, 7, 11], w: [13, 9, 3, 3], opts: { padding: 1 }, tile: { tileX: 5, tileY: 2, vec: 3 } }],
  ];
  for (const dtype of ['f32', 'f16'] as const) {
    for (const [name, c] of cases) {
      it(`${name} ${dtype}`, async () => {
        const dev = await testDevice();
        if (dtype === 'f16' && !dev.features.f16) return;
        const { got, want, shape } = await runCase(dev, c, dtype, name.length * 7 + 3);
        expectClose(got, want, { ...tol(dtype, want), shape }, `conv2d ${name} ${dtype}`);
      });
    }
  }
});

describe('conv2d fixtures', () => {
  const names = [
    'conv1x1_1x7x5x3_to9', 'conv1x1_1x8x8x8_to8', 'conv1x1_2x64x8x8_to32',
    'conv3x3_s1p1_1x3x7x9_to5', 'conv3x3_s1p1_1x4x8x8_to32', 'conv3x3_s1p1_1x64x5x6_to4',
    'conv3x3_s1p1_1x96x6x10_to32', 'conv3x3_s1p1_2x32x16x16_to32',
    'conv3x3_s2_vaepad_1x32x16x16_to32', 'conv3x3_s2_vaepad_2x16x9x7_to8',
    'conv3x3_s2p1_1x32x16x16_to32', 'conv3x3_s2p1_2x16x9x7_to8',
  ];
  for (const dtype of ['f32', 'f16'] as const) {
    for (const name of names) {
      it(`${name} ${dtype}`, async () => {
        const dev = await testDevice();
        if (dtype === 'f16' && !dev.features.f16) return;
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
      });
    }
  }
});
