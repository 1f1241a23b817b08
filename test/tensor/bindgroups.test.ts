import { describe, expect, it } from 'vitest';
import { type Device, Storage, Tensor } from '@sd-webgpu/tensor';
import { axpy, axpyOp as run } from '../helpers/axpy';
import { testDevice } from '../helpers/device';

const delta = (dev: Device, fn: () => void | Promise<void>) => async () => {
  const s0 = dev.bindGroupStats();
  await fn();
  const s1 = dev.bindGroupStats();
  return { hits: s1.hits - s0.hits, misses: s1.misses - s0.misses, forgotten: s1.forgotten - s0.forgotten };
};

describe('bind-group cache', () => {
  it('reuses a bind group for the same buffers while uniforms change through the dynamic offset', async () => {
    const dev = await testDevice();
    const a = dev.tensor([1, 2, 3], [3]);
    const b = dev.tensor([10, 20, 30], [3]);
    const y = dev.empty([3]);
    const d = await delta(dev, () => {
      // same buffers, different uniforms, same batch: one bind group, two different results
      dev.run(axpy, { bindings: { a, b, y }, uniforms: { n: 3, alpha: 1 }, workgroups: [1] });
      dev.run(axpy, { bindings: { a: y, b, y: a }, uniforms: { n: 3, alpha: 0 }, workgroups: [1] });
      dev.run(axpy, { bindings: { a, b, y }, uniforms: { n: 3, alpha: 2 }, workgroups: [1] });
    })();
    // y = a + b = [11, 22, 33]; a = y; y = a + 2b
    expect(Array.from(await y.data())).toEqual([31, 62, 93]);
    expect(d.misses).toBeLessThanOrEqual(2);
    expect(d.hits).toBeGreaterThanOrEqual(1);
    for (const t of [a, b, y]) t.dispose();
  });

  it('never binds a destroyed buffer: trimming the pool drops the bind groups that named it', async () => {
    const dev = await testDevice();
    const b = dev.tensor([1, 1, 1, 1], [4]);
    const a = dev.tensor([1, 2, 3, 4], [4]);
    const y = run(dev, a, b, 1);
    expect(Array.from(await y.data())).toEqual([2, 3, 4, 5]);
    const before = dev.bindGroupStats().size;
    a.dispose();
    y.dispose();
    await dev.sync(); // released buffers become free
    const d = await delta(dev, () => dev.pool.trim())(); // ... and are destroyed here
    expect(d.forgotten).toBeGreaterThanOrEqual(1);
    expect(dev.bindGroupStats().size).toBeLessThan(before);
    // new buffers, new values: the result must come from them (a stale group would bind destroyed memory: an error)
    const a2 = dev.tensor([5, 6, 7, 8], [4]);
    const y2 = run(dev, a2, b, 1);
    expect(Array.from(await y2.data())).toEqual([6, 7, 8, 9]);
    for (const t of [a2, b, y2]) t.dispose();
  });

  it('a buffer handed to another tensor binds that tensor\'s values', async () => {
    const dev = await testDevice();
    const n = 100_000; // a bucket no other test uses
    const b = dev.tensor(new Float32Array(n), [n]);
    const a = dev.tensor(Float32Array.from({ length: n }, (_, i) => i), [n]);
    const y = run(dev, a, b, 1);
    expect((await y.data())[n - 1]).toBe(n - 1);
    const buffer = a.buffer;
    a.dispose();
    y.dispose();
    await dev.sync();
    const a2 = dev.tensor(Float32Array.from({ length: n }, (_, i) => -i), [n]); // the pool hands a's buffer back
    expect(a2.buffer).toBe(buffer);
    let y2!: Tensor;
    const d = await delta(dev, () => void (y2 = run(dev, a2, b, 1)))();
    expect(d.misses).toBe(0); // same buffers as before: the cached group, now meaning a2
    const out = await y2.data();
    expect([out[1], out[2], out[n - 1]]).toEqual([-1, -2, -(n - 1)]);
    for (const t of [a2, b, y2]) t.dispose();
  });

  it('exact (weight) buffers are forgotten when destroyed after their release', async () => {
    const dev = await testDevice();
    const buffer = dev.pool.acquire(16, { exact: true, forUpload: true });
    dev.writeBuffer(buffer, 0, new Uint8Array(new Float32Array([1, 1, 1, 1]).buffer));
    const weight = new Tensor(new Storage(dev, buffer, 16), [4], 'f32'); // as the weight stores make them
    const x = dev.tensor([1, 2, 3, 4], [4]);
    const y = run(dev, x, weight, 1);
    expect(Array.from(await y.data())).toEqual([2, 3, 4, 5]);
    weight.dispose(); // destroyed after the next submit
    const d = await delta(dev, () => dev.sync())();
    expect(d.forgotten).toBe(1);
    for (const t of [x, y]) t.dispose();
  });

  it('a repeated sequence of ops gets the same buffers from the pool and creates no bind groups after warm-up', async () => {
    const dev = await testDevice();
    const x = dev.tensor(Float32Array.from({ length: 1000 }, (_, i) => i), [1000]);
    const step = () =>
      dev.scope(() => {
        let h = run(dev, x, x, 1);
        for (let i = 0; i < 6; i++) {
          const t = run(dev, h, x, -0.5);
          h.dispose();
          h = run(dev, t, t, 0.5);
        }
        return h;
      });
    for (let i = 0; i < 2; i++) {
      step().dispose();
      await dev.sync();
    }
    let out!: Tensor;
    const d = await delta(dev, async () => {
      out = step();
      await dev.sync();
    })();
    expect(d.misses).toBe(0);
    expect(d.hits).toBe(13);
    // 2x, then 6 times (h - x/2)·1.5: stays exact in f32 for these integers
    const expected = Float32Array.from({ length: 1000 }, (_, i) => {
      let h = 2 * i;
      for (let k = 0; k < 6; k++) h = (h - 0.5 * i) * 1.5;
      return h;
    });
    expect(Array.from(await out.data())).toEqual(Array.from(expected));
    out.dispose();
    x.dispose();
  });

  it('windows of the same buffers at other offsets or sizes get their own bind groups', async () => {
    const dev = await testDevice();
    const align = dev.limits.minStorageBufferOffsetAlignment;
    const per = align / 4; // f32 values per aligned step
    const src = dev.tensor(Float32Array.from({ length: 3 * per }, (_, i) => i), [3 * per]);
    const zero = dev.tensor(new Float32Array(3 * per), [3 * per]);
    const y = dev.empty([3 * per]);
    // y[k·per .. k·per + 4) = src[k·per ..] + 0, one dispatch per window; then one over a longer window of the first
    const win = (t: Tensor, k: number, n: number) => ({ tensor: t, offset: k * align, size: n * 4 });
    const d = await delta(dev, () => {
      for (const k of [0, 1, 2]) {
        dev.run(axpy, { bindings: { a: win(src, k, 4), b: win(zero, k, 4), y: win(y, k, 4) }, uniforms: { n: 4, alpha: 1 }, workgroups: [1] });
      }
      dev.run(axpy, { bindings: { a: win(src, 0, 8), b: win(zero, 0, 8), y: win(y, 0, 8) }, uniforms: { n: 8, alpha: 1 }, workgroups: [1] });
    })();
    expect(d.misses).toBe(4); // a key without offsets or sizes would have hit after the first
    const out = await y.data();
    for (const k of [0, 1, 2]) expect(Array.from(out.subarray(k * per, k * per + 4))).toEqual([0, 1, 2, 3].map((i) => k * per + i));
    expect(Array.from(out.subarray(4, 8))).toEqual([4, 5, 6, 7]);
    for (const t of [src, zero, y]) t.dispose();
  });
});
