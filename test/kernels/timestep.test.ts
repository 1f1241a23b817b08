import { describe, expect, it } from 'vitest';
import { ParameterError, UnsupportedError, roundToF16 } from '@sd-webgpu/tensor';
import { timestepEmbedding, timestepEmbeddingHost, timestepFrequencies } from '../../packages/kernels/src/timestep';
import { testDevice } from '../helpers/device';
import { expectClose, loadCase } from '../helpers/fixtures';

const CASES = ['timestep_embedding_int_dim32', 'timestep_embedding_int_dim320', 'timestep_embedding_float_dim32', 'timestep_embedding_float_dim320'];

describe('timestepEmbedding', () => {
  for (const name of CASES) {
    it(name, async () => {
      const c = await loadCase(`ops/${name}`);
      const dim = c.attrs.dim as number;
      const ts = c.inputs.timesteps!.toNumbers();
      // The f32 frequency table must be torch's bit for bit: 1 ulp in a frequency is ~6e-5 of argument at t = 999.
      expectClose(timestepFrequencies(dim), c.outputs.freqs!.data as Float32Array, { atol: 0 }, `${name} freqs`);
      const dev = await testDevice();
      const t = timestepEmbedding(dev, ts, dim, 'f32');
      expect(t.shape).toEqual([ts.length, dim]);
      const got = await t.float32();
      t.dispose();
      // README: atol 2e-4 vs out.emb. With the argument rounded to f32 as diffusers does, what remains is torch's
      // f32 sin/cos (≤ a few ulp of values ≤ 1): 1e-6.
      expectClose(got, c.outputs.emb!.data as Float32Array, { atol: 1e-6, shape: [ts.length, dim] }, `${name} emb`);
      // f16 storage: one rounding of values ≤ 1, ≤ 2^-12 = 2.4e-4; README's f16 column allows 1e-3.
      if (dev.features.f16) {
        const h = timestepEmbedding(dev, ts, dim, 'f16');
        expect(h.dtype).toBe('f16');
        const gh = await h.float32();
        h.dispose();
        expectClose(gh, roundToF16(got), { atol: 0 }, `${name} f16 storage`);
        expectClose(gh, c.outputs.emb!.data as Float32Array, { atol: 1e-3 }, `${name} f16 vs diffusers`);
      }
    });
  }

  it('puts cos first and sin second', () => {
    const e = timestepEmbeddingHost([0, 3], 4);
    // t = 0: cos = 1, sin = 0; t = 3: freq [1, 0.01]
    expect(Array.from(e.slice(0, 4))).toEqual([1, 1, 0, 0]);
    expect(e[4]).toBeCloseTo(Math.cos(3), 6);
    expect(e[6]).toBeCloseTo(Math.sin(3), 6);
    expect(e[7]).toBeCloseTo(Math.sin(0.03), 6);
  });

  it('throws typed errors for bad input', async () => {
    const dev = await testDevice();
    expect(() => timestepEmbedding(dev, [1], 7)).toThrow(ParameterError);
    expect(() => timestepEmbedding(dev, [1], 0)).toThrow(/dim/);
    expect(() => timestepEmbedding(dev, [], 32)).toThrow(ParameterError);
    expect(() => timestepEmbedding(dev, [NaN], 32)).toThrow(/entry 0/);
    expect(() => timestepEmbedding(dev, [1], 32, 'i32' as 'f32')).toThrow(UnsupportedError);
  });
});
