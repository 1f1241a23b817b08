import { describe, expect, it } from 'vitest';
import { LimitError, ParameterError, ShapeError, UnsupportedError, roundToF16, type Device } from '@sd-webgpu/tensor';
import { GROUP_NORM_TUNING, groupNorm, layerNorm } from '../../packages/kernels/src/norm';
import { groupNormRef, layerNormRef } from '../../packages/kernels/src/reference/norm';
import { createDevice, testDevice } from '../helpers/device';
import { expectClose, loadCase } from '../helpers/fixtures';
import { normal } from '../helpers/random';

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

async function runGroupNorm(
  dev: Device, shape: number[], groups: number, eps: number, silu: boolean, dtype: 'f32' | 'f16', offset = 0, std = 1,
): Promise<{ got: Float32Array; want: Float32Array }> {
  const c = shape[1]!;
  let x = normal(numel(shape), 7 + shape.length + c, offset, std);
  let w = normal(c, 11, 1, 0.5);
  let b = normal(c, 13, 0, 0.5);
  if (dtype === 'f16') [x, w, b] = [roundToF16(x), roundToF16(w), roundToF16(b)];
  const tx = dev.tensor(x, shape, dtype);
  const tw = dev.tensor(w, [c], dtype);
  const tb = dev.tensor(b, [c], dtype);
  const y = groupNorm(tx, tw, tb, { groups, eps, silu });
  const got = (await y.data()) as Float32Array;
  for (const t of [tx, tw, tb, y]) t.dispose();
  return { got, want: groupNormRef(x, shape, w, b, { groups, eps, silu }) };
}

describe('groupNorm', () => {
  // [shape, groups]: 1 and 2 channels per group, a 3-D input, odd spatial sizes (scalar path), single-chunk
  // (fused) and multi-chunk (stats + apply) groups, and 1x1x1.
  const shapes: [number[], number][] = [
    [[1, 1, 1, 1], 1],
    [[1, 32, 1, 1], 32],
    [[2, 64, 5, 7], 32],
    [[1, 96, 3, 3], 32],
    [[3, 12, 10], 4],
    [[2, 64, 48, 48], 32], // 2 channels x 2304 = 4608 values per group: 2 chunks
    [[1, 32, 67, 61], 32], // 4087 values, odd: one scalar chunk
    [[1, 32, 130, 131], 8], // 4 x 17030 values per group, scalar loads, 17 chunks
  ];
  for (const dtype of ['f32', 'f16'] as const) {
    for (const [shape, groups] of shapes) {
      for (const silu of [false, true]) {
        it(`${dtype} [${shape}] g${groups}${silu ? ' +silu' : ''}`, async () => {
          const dev = await testDevice();
          if (dtype === 'f16' && !dev.features.f16) return;
          const { got, want } = await runGroupNorm(dev, shape, groups, 1e-5, silu, dtype);
          // f32: f32 accumulation over ≤ 70k values relative to an f64 reference, outputs |y| ≲ 6: 2e-5.
          // f16: inputs pre-rounded so only the f16 output rounding (≤ 2^-11 relative) remains, plus f32 error.
          const tol = dtype === 'f32' ? { atol: 2e-5, rtol: 1e-5 } : { atol: 1e-3, rtol: 1e-3 };
          expectClose(got, want, { ...tol, shape }, `groupNorm ${dtype} [${shape}]`);
        });
      }
    }
  }

  it('keeps precision with a large common offset (mean 1000, std 1e-3), multi-chunk', async () => {
    const dev = await testDevice();
    const { got, want } = await runGroupNorm(dev, [1, 32, 64, 64], 32, 1e-6, false, 'f32', 1000, 1e-3);
    // Inputs near 1000 are quantised to 6e-5 = 0.06 std; the shift keeps the result within the f32 error of
    // (x - mean)·rstd, ~1e-4 of |y| ≲ 5. A one-pass E[x²]-E[x]² would be off by O(1).
    expectClose(got, want, { atol: 2e-4, rtol: 1e-4 }, 'groupNorm offset');
  });

  it('caps the chunks per group (larger chunks) and still combines them exactly', async () => {
    const dev = await testDevice();
    const saved = { ...GROUP_NORM_TUNING };
    try {
      // 3 x 10000 values per group at chunks of 1000 would be 30 chunks; the cap of 4 makes chunks of 7500.
      Object.assign(GROUP_NORM_TUNING, { chunk: 1000, maxChunks: 4 });
      const { got, want } = await runGroupNorm(dev, [2, 12, 100, 100], 4, 1e-6, true, 'f32', 3, 0.5);
      expectClose(got, want, { atol: 2e-5, rtol: 1e-5 }, 'groupNorm chunk cap');
    } finally {
      Object.assign(GROUP_NORM_TUNING, saved);
    }
  });

  it('splits tensors above the binding limit into windows of whole groups', async () => {
    const dev = await createDevice({ maxStorageBufferBindingSize: 4096 });
    const big = await createDevice({ maxStorageBufferBindingSize: 65536 });
    try {
      // [2,8,16,16] f32 is 16 KiB in groups of 2 KiB: 2 groups per window (fused path).
      let r = await runGroupNorm(dev, [2, 8, 16, 16], 4, 1e-5, true, 'f32');
      expectClose(r.got, r.want, { atol: 2e-5, rtol: 1e-5 }, 'groupNorm windows (fused)');
      // [1,8,64,64] f32 is 128 KiB in 2 groups of 64 KiB (4 chunks each): one group per window (stats + apply).
      r = await runGroupNorm(big, [1, 8, 64, 64], 2, 1e-5, false, 'f32');
      expectClose(r.got, r.want, { atol: 2e-5, rtol: 1e-5 }, 'groupNorm windows (chunked)');
      // [1,4,32,33] has 4 groups of 4224 bytes, which fit no 4096-byte window.
      await expect(runGroupNorm(dev, [1, 4, 32, 33], 4, 1e-5, true, 'f32')).rejects.toBeInstanceOf(LimitError);
    } finally {
      dev.dispose();
      big.dispose();
    }
  });

  it('matches the group_norm fixtures', async () => {
    const dev = await testDevice();
    for (const name of [
      'group_norm_1x32x8x8_g32_eps1e-05',
      'group_norm_1x64x4x4_g32_eps1e-05_offset0_std0.001',
      'group_norm_1x64x8x8_g32_eps1e-06_offset50_std0.01',
      'group_norm_1x96x5x7_g32_eps1e-05',
      'group_norm_2x320x8x8_g32_eps1e-05',
      'group_norm_2x64x16x16_g32_eps1e-06',
    ]) {
      const fx = await loadCase(`ops/${name}`);
      const { x, } = fx.inputs;
      const { weight, bias } = fx.weights;
      const tx = dev.tensor(x!.data as Float32Array, x!.shape);
      const tw = dev.tensor(weight!.data as Float32Array, weight!.shape);
      const tb = dev.tensor(bias!.data as Float32Array, bias!.shape);
      const y = groupNorm(tx, tw, tb, { groups: fx.attrs.num_groups, eps: fx.attrs.eps });
      // test/fixtures/README.md section 2: 1e-5, 1e-4 for the offset50 case (x itself is quantised to 3.8e-6
      // = 4e-4 std there, so f32 evaluation of (x - mean)·rstd·γ carries a few 1e-5).
      const atol = name.includes('offset50') ? 1e-4 : 1e-5;
      expectClose(await y.data(), fx.outputs.y!.data as Float32Array, { atol, shape: x!.shape }, name);
      for (const t of [tx, tw, tb, y]) t.dispose();
    }
  });

  it('throws typed errors for bad input', async () => {
    const dev = await testDevice();
    const x = dev.tensor(new Float32Array(2 * 6 * 4), [2, 6, 4]);
    const w = dev.tensor(new Float32Array(6), [6]);
    const w5 = dev.tensor(new Float32Array(5), [5]);
    expect(() => groupNorm(x, w, w, { groups: 4, eps: 1e-5 })).toThrow(ParameterError);
    expect(() => groupNorm(x, w, w, { groups: 0, eps: 1e-5 })).toThrow(/groups/);
    expect(() => groupNorm(x, w5, w, { groups: 3, eps: 1e-5 })).toThrow(ShapeError);
    expect(() => groupNorm(x, w, w, { groups: 3, eps: -1 })).toThrow(/eps/);
    expect(() => groupNorm(x.reshape([48]), w, w, { groups: 3, eps: 1e-5 })).toThrow(ShapeError);
    const xi = dev.tensor(new Int32Array(48), [2, 6, 4], 'i32');
    expect(() => groupNorm(xi, w, w, { groups: 3, eps: 1e-5 })).toThrow(UnsupportedError);
    if (dev.features.f16) {
      const wh = dev.tensor(new Float32Array(6), [6], 'f16');
      expect(() => groupNorm(x, wh, w, { groups: 3, eps: 1e-5 })).toThrow(/weight is f16/);
      wh.dispose();
    }
    for (const t of [x, w, w5, xi]) t.dispose();
  });
});

describe('layerNorm', () => {
  const shapes = [[1], [1, 1, 1], [3, 7, 40], [2, 77, 64], [5, 13], [4, 320], [2, 3, 768], [1, 1030], [2, 9, 1280]];
  for (const dtype of ['f32', 'f16'] as const) {
    for (const shape of shapes) {
      it(`${dtype} [${shape}]`, async () => {
        const dev = await testDevice();
        if (dtype === 'f16' && !dev.features.f16) return;
        const d = shape[shape.length - 1]!;
        let x = normal(numel(shape), 3 + d, 2, 3);
        let w = normal(d, 5, 1, 0.5);
        let b = normal(d, 9, 0, 0.5);
        if (dtype === 'f16') [x, w, b] = [roundToF16(x), roundToF16(w), roundToF16(b)];
        const tx = dev.tensor(x, shape, dtype);
        const tw = dev.tensor(w, [d], dtype);
        const tb = dev.tensor(b, [d], dtype);
        const y = layerNorm(tx, tw, tb, { eps: 1e-5 });
        // Same reasoning as group norm: f32 accumulation over ≤ 1280 values; f16 adds its output rounding.
        const tol = dtype === 'f32' ? { atol: 2e-5, rtol: 1e-5 } : { atol: 1e-3, rtol: 1e-3 };
        expectClose(await y.data(), layerNormRef(x, d, w, b, { eps: 1e-5 }), { ...tol, shape }, `layerNorm ${dtype}`);
        for (const t of [tx, tw, tb, y]) t.dispose();
      });
    }
  }

  it('matches the layer_norm fixtures', async () => {
    const dev = await testDevice();
    for (const name of ['layer_norm_1x5x768_offset20', 'layer_norm_2x77x64', 'layer_norm_3x7x40']) {
      const fx = await loadCase(`ops/${name}`);
      const x = fx.inputs.x!;
      const tx = dev.tensor(x.data as Float32Array, x.shape);
      const tw = dev.tensor(fx.weights.weight!.data as Float32Array, fx.weights.weight!.shape);
      const tb = dev.tensor(fx.weights.bias!.data as Float32Array, fx.weights.bias!.shape);
      const y = layerNorm(tx, tw, tb, { eps: fx.attrs.eps });
      // test/fixtures/README.md section 2: 1e-5.
      expectClose(await y.data(), fx.outputs.y!.data as Float32Array, { atol: 1e-5, shape: x.shape }, name);
      for (const t of [tx, tw, tb, y]) t.dispose();
    }
  });

  it('throws typed errors for bad input', async () => {
    const dev = await testDevice();
    const x = dev.tensor(new Float32Array(12), [3, 4]);
    const w3 = dev.tensor(new Float32Array(3), [3]);
    const w4 = dev.tensor(new Float32Array(4), [4]);
    expect(() => layerNorm(x, w3, w4, { eps: 1e-5 })).toThrow(ShapeError);
    expect(() => layerNorm(x, w4, w3, { eps: 1e-5 })).toThrow(/bias must be \[4\]/);
    expect(() => layerNorm(x, w4, w4, { eps: Number.NaN })).toThrow(ParameterError);
    for (const t of [x, w3, w4]) t.dispose();
  });
});
