import { describe, expect, it } from 'vitest';
import { ShapeError, UnsupportedError, roundToF16 } from '@sd-webgpu/tensor';
import { softmax } from '../../packages/kernels/src/softmax';
import { softmaxRef } from '../../packages/kernels/src/reference/softmax';
import { testDevice } from '../helpers/device';
import { expectClose, loadCase } from '../helpers/fixtures';
import { randn } from '../helpers/random';

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

describe('softmax', () => {
  // Rows of 1, odd and vec4 lengths, wide rows (more than the lanes × 4), batches of matrices for causal.
  const shapes = [[1], [1, 1, 1], [7], [2, 8, 77], [3, 5, 12], [4, 1000], [2, 3, 2049], [77, 77], [2, 6, 4]];
  for (const dtype of ['f32', 'f16'] as const) {
    for (const shape of shapes) {
      for (const causal of [false, true]) {
        it(`${dtype} [${shape}]${causal ? ' causal' : ''}`, async () => {
          const dev = await testDevice();
          if (dtype === 'f16' && !dev.features.f16) return;
          let x = randn(numel(shape), shape.length * 31 + numel(shape), 4);
          if (dtype === 'f16') x = roundToF16(x);
          const tx = dev.tensor(x, shape, dtype);
          const y = softmax(tx, { causal });
          const got = await y.data();
          const want = softmaxRef(x, shape, { causal });
          // f32: outputs ≤ 1, f32 exp and sum over ≤ 2049 terms: ~1e-7 relative, 1e-6 abs (fixture tolerance).
          // f16: inputs pre-rounded; the f16 output rounding is ≤ 2^-11 relative, so 1e-3 of a value ≤ 1.
          const tol = dtype === 'f32' ? { atol: 1e-6, rtol: 1e-5 } : { atol: 1e-3, rtol: 1e-3 };
          expectClose(got, want, { ...tol, shape }, `softmax ${dtype}`);
          if (causal) {
            const cols = shape[shape.length - 1]!;
            const mrows = shape.length >= 2 ? shape[shape.length - 2]! : 1;
            for (let i = 0; i < got.length; i++) {
              const j = i % cols;
              const r = Math.floor(i / cols) % mrows;
              if (j > r && got[i] !== 0) throw new Error(`masked entry ${i} (row ${r}, col ${j}) is ${got[i]}, not 0`);
            }
          }
          tx.dispose();
          y.dispose();
        });
      }
    }
  }

  it('handles ±6000, -inf and float32 min, and rows with nothing left', async () => {
    const dev = await testDevice();
    const x = new Float32Array([6000, -6000, 5999, 0, -Infinity, -3.4028234663852886e38, 1, -Infinity, -Infinity, -Infinity]);
    const tx = dev.tensor(x, [2, 5]);
    const y = await softmax(tx).data();
    const e = Math.exp(-1);
    // Row 0: exact e^0 / (1 + e^-1) etc; row 1: -inf and float32 min count as excluded; row 2: all excluded → 0.
    expectClose(y.slice(0, 5), [1 / (1 + e), 0, e / (1 + e), 0, 0], { atol: 1e-7 }, 'softmax large');
    expect(Array.from(y.slice(5))).toEqual([0, 1, 0, 0, 0]);
    tx.dispose();
  });

  it('matches the softmax fixtures', async () => {
    const dev = await testDevice();
    for (const name of ['softmax_normal_2x8x77', 'softmax_large_3x77', 'softmax_large_neg_4x64', 'softmax_wide_2x4x256']) {
      const fx = await loadCase(`ops/${name}`);
      const x = fx.inputs.x!;
      const tx = dev.tensor(x.data as Float32Array, x.shape);
      const y = softmax(tx);
      // test/fixtures/README.md section 2: 1e-6.
      expectClose(await y.data(), fx.outputs.y!.data as Float32Array, { atol: 1e-6, shape: x.shape }, name);
      tx.dispose();
      y.dispose();
    }
  });

  it('matches the causal fixtures, both with the additive mask and with causal: true', async () => {
    const dev = await testDevice();
    for (const name of ['softmax_causal_neginf_77', 'softmax_causal_finfo_min_77']) {
      const fx = await loadCase(`ops/${name}`);
      const x = fx.inputs.x!;
      const mask = fx.inputs.mask!.data as Float32Array;
      const masked = Float32Array.from(x.data as Float32Array, (v, i) => v + mask[i % mask.length]!);
      const want = fx.outputs.y!.data as Float32Array;
      for (const [label, data, causal] of [['mask', masked, false], ['causal', x.data, true]] as const) {
        const tx = dev.tensor(data as Float32Array, x.shape);
        const y = await softmax(tx, { causal }).data();
        // 1e-6 (section 2); masked probabilities must be exactly 0, which toEqual on the masked entries checks.
        expectClose(y, want, { atol: 1e-6, shape: x.shape }, `${name} ${label}`);
        const zeros = Array.from(y).filter((_, i) => want[i] === 0);
        expect(zeros.every((v) => v === 0)).toBe(true);
        tx.dispose();
      }
    }
  });

  it('matches the f16 fixture', async (ctx) => {
    const dev = await testDevice();
    if (!dev.features.f16) ctx.skip('this adapter has no shader-f16');
    const fx = await loadCase('ops/f16_softmax_8x77');
    const x = fx.inputs.x!;
    const tx = dev.tensor(x.data as Float32Array, x.shape, 'f16');
    const y = softmax(tx);
    const got = await y.data();
    // README section 2: f16 softmax 1e-3; within 1 f16 ulp (≤ 2^-11 for values ≤ 1) of y_f16.
    expectClose(got, fx.outputs.y_f32!.data as Float32Array, { atol: 1e-3 }, 'f16_softmax vs y_f32');
    expectClose(got, fx.outputs.y_f16!.data as Float32Array, { atol: 2 ** -11, rtol: 2 ** -10 }, 'f16_softmax vs y_f16');
    tx.dispose();
    y.dispose();
  });

  it('throws typed errors for bad input', async () => {
    const dev = await testDevice();
    const xi = dev.tensor(new Int32Array(4), [4], 'i32');
    expect(() => softmax(xi)).toThrow(UnsupportedError);
    const x = dev.tensor([1], [1]);
    expect(() => softmax(x.reshape([]))).toThrow(ShapeError);
    xi.dispose();
    x.dispose();
  });
});
