import { describe, expect, it } from 'vitest';
import { markNonFinite } from '@sd-webgpu/kernels';
import { testDevice } from '../helpers/device';

describe('markNonFinite', () => {
  it('keeps the lowest step at which NaN or ±Infinity was seen, f32 and f16', async () => {
    const dev = await testDevice();
    for (const dtype of ['f32', 'f16'] as const) {
      if (!dev.supports(dtype)) continue;
      const flag = dev.tensor([0xffffffff], [1], 'u32');
      const n = 1000;
      const clean = dev.tensor(new Float32Array(n).map((_, i) => (i - 500) * 60), [n], dtype); // up to ±30 000, finite in f16
      markNonFinite(clean, flag, 1);
      expect((await flag.data())[0], dtype).toBe(0xffffffff);
      for (const [bad, step] of [[NaN, 9], [-Infinity, 4], [Infinity, 7]] as const) {
        const v = new Float32Array(n);
        v[n - 1] = bad; // the last element: the bounds of the grid are covered
        const t = dev.tensor(v, [n], dtype);
        markNonFinite(t, flag, step);
        t.dispose();
      }
      expect((await flag.data())[0], dtype).toBe(4);
      for (const t of [flag, clean]) t.dispose();
    }
  });
});
