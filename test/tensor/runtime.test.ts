import { describe, expect, it } from 'vitest';
import { DeviceLostError, DisposedTensorError, GpuError, type Kernel, ShaderCompileError, LimitError, roundToF16 } from '@sd-webgpu/tensor';
import { axpy as addKernel } from '../helpers/axpy';
import { createDevice, testDevice } from '../helpers/device';

describe('tensor runtime', () => {
  it('uploads, dispatches and reads back', async () => {
    const dev = await testDevice();
    const a = dev.tensor([1, 2, 3, 4, 5], [5]);
    const b = dev.tensor([10, 20, 30, 40, 50], [5]);
    const y = dev.empty([5]);
    dev.run(addKernel, { bindings: { a, b, y }, uniforms: { n: 5, alpha: 0.5 }, workgroups: [1] });
    expect(Array.from(await y.data())).toEqual([6, 12, 18, 24, 30]);
    for (const t of [a, b, y]) t.dispose();
  });

  it('folds grids beyond the per-dimension limit', async () => {
    const dev = await createDevice({});
    const n = 65536 * 64 + 100; // 65538 workgroups of 64
    const a = dev.tensor(new Float32Array(n).map((_, i) => i % 1000), [n]);
    const y = dev.empty([n]);
    dev.run(addKernel, { bindings: { a, b: a, y }, uniforms: { n, alpha: 1 }, workgroups: [Math.ceil(n / 64)] });
    const out = await y.data();
    expect(out[n - 1]).toBe(2 * ((n - 1) % 1000));
    expect(out[12345]).toBe(2 * (12345 % 1000));
    dev.dispose();
  });

  it('round-trips i32', async () => {
    const dev = await testDevice();
    const ids = dev.tensor([49406, 1, -3], [3], 'i32');
    expect(Array.from(await ids.data())).toEqual([49406, 1, -3]);
    ids.dispose();
  });

  it('round-trips f16', async (ctx) => {
    const dev = await testDevice();
    if (!dev.features.f16) ctx.skip('this adapter has no shader-f16');
    const vals = [0.1, -2.5, 65504, 1e-6, 3.14159];
    const t = dev.tensor(vals, [5], 'f16');
    expect(Array.from(await t.data())).toEqual(Array.from(roundToF16(vals)));
    t.dispose();
  });

  it('scope frees everything but the result, and the pool does not grow in a loop', async () => {
    const dev = await testDevice();
    await dev.sync();
    const before = dev.poolStats().liveBytes;
    const x = dev.tensor(new Float32Array(1000).fill(1), [1000]);
    const kept = dev.scope(() => {
      let acc = x;
      for (let i = 0; i < 5; i++) {
        const y = dev.empty([1000]);
        dev.run(addKernel, { bindings: { a: acc, b: x, y }, uniforms: { n: 1000, alpha: 1 }, workgroups: [16] });
        acc = y;
      }
      return acc;
    });
    expect((await kept.data())[999]).toBe(6);
    kept.dispose();
    x.dispose();
    expect(dev.poolStats().liveBytes).toBe(before);

    const a = dev.tensor(new Float32Array(4096).fill(1), [4096]);
    const loop = () => {
      for (let i = 0; i < 1000; i++) {
        dev.scope(() => {
          const y = dev.empty([4096]);
          dev.run(addKernel, { bindings: { a, b: a, y }, uniforms: { n: 4096, alpha: 1 }, workgroups: [64] });
        });
      }
    };
    loop();
    await dev.sync();
    const allocated = dev.poolStats().allocatedBytes;
    loop();
    await dev.sync();
    expect(dev.poolStats().allocatedBytes).toBe(allocated);
    a.dispose();
  });

  it('throws typed errors for disposed tensors, bad WGSL and oversized bindings', async () => {
    const dev = await createDevice({ maxStorageBufferBindingSize: 1024 });
    const a = dev.tensor([1], [1]);
    a.dispose();
    expect(() => dev.run(addKernel, { bindings: { a, b: a, y: a }, uniforms: { n: 1, alpha: 1 }, workgroups: [1] }))
      .toThrow(DisposedTensorError);
    const big = dev.empty([1000]);
    expect(() => dev.run(addKernel, { bindings: { a: big, b: big, y: big }, uniforms: { n: 1000, alpha: 1 }, workgroups: [16] }))
      .toThrow(LimitError);
    const bad: Kernel = { ...addKernel, name: 'test_bad', source: 'fn main() { let x: u32 = 1.5; }' };
    const b = dev.empty([4]);
    dev.run(bad, { bindings: { a: b, b, y: b }, uniforms: { n: 1, alpha: 1 }, workgroups: [1] });
    await expect(dev.sync()).rejects.toBeInstanceOf(ShaderCompileError);
    dev.dispose();
  });

  it('measures GPU time with timestamp queries', async () => {
    const dev = await testDevice();
    const timer = dev.timer();
    if (!timer) return;
    const a = dev.tensor(new Float32Array(1 << 16).fill(1), [1 << 16]);
    const y = dev.empty([1 << 16]);
    timer.begin();
    dev.run(addKernel, { bindings: { a, b: a, y }, uniforms: { n: 1 << 16, alpha: 1 }, workgroups: [1024] });
    timer.end();
    const ms = await timer.ms();
    expect(ms).toBeGreaterThan(0);
    expect(ms).toBeLessThan(10_000);
    timer.destroy();
  });
});

describe('buffer pool', () => {
  it('sizes exact (weight) buffers to 256 bytes and destroys them after release instead of pooling', async () => {
    const dev = await createDevice({});
    const before = dev.poolStats();
    const buf = dev.pool.acquire(1000, { forUpload: true, exact: true });
    expect(buf.size).toBe(1024);
    expect(dev.poolStats().allocatedBytes - before.allocatedBytes).toBe(1024);
    dev.pool.release(buf);
    dev.flush();
    expect(dev.poolStats().allocatedBytes).toBe(before.allocatedBytes);
    expect(dev.poolStats().freeBytes).toBe(before.freeBytes);
    // bucketed buffers waste at most 25 % above 1 MiB
    const big = dev.pool.acquire(5 * 2 ** 20 + 1);
    expect(big.size).toBeLessThanOrEqual(1.25 * (5 * 2 ** 20 + 1));
    dev.pool.release(big);
    dev.dispose();
  });
});

describe('runtime error paths', () => {
  it('closes a scope whose fn returned a Promise', async () => {
    const dev = await createDevice({});
    let outer!: ReturnType<typeof dev.tensor>;
    dev.scope(() => {
      outer = dev.tensor([1], [1]);
      expect(() => dev.scope(() => Promise.resolve())).toThrow(/scopeAsync/);
      return 0;
    });
    expect(outer.disposed).toBe(true);
    const top = dev.tensor([2], [1]);
    expect(top.disposed).toBe(false); // no stale scope left to collect top-level tensors
    dev.dispose();
  });

  it('trim() leaves buffers that recorded work still uses', async () => {
    const dev = await createDevice({});
    const x = dev.tensor([1, 2, 3], [3]);
    const y = dev.empty([3]);
    dev.run(addKernel, { bindings: { a: x, b: x, y }, uniforms: { n: 3, alpha: 1 }, workgroups: [1] });
    x.dispose();
    dev.pool.trim();
    expect(Array.from(await y.data())).toEqual([2, 4, 6]);
    dev.dispose();
  });

  it('flush() reports a failed compile, and a lost device keeps failing', async () => {
    const dev = await createDevice({});
    const bad: Kernel = { ...addKernel, name: 'test_bad_flush', source: 'fn main() { let x: u32 = 1.5; }' };
    const b = dev.empty([4]);
    dev.run(bad, { bindings: { a: b, b, y: b }, uniforms: { n: 1, alpha: 1 }, workgroups: [1] });
    expect(dev.pipelines.requested).toBe(1);
    await dev.pipelines.settle();
    expect(dev.pipelines.compiled).toBe(1); // finished checks count failed compiles too
    expect(() => dev.flush()).toThrow(ShaderCompileError);
    expect(dev.lost).toBe(null);
    dev.gpu.destroy();
    await new Promise((r) => setTimeout(r, 50));
    // A typed loss naming WebGPU's reason, thrown by every later call (it is a GpuError too).
    expect(dev.lost).toBeInstanceOf(DeviceLostError);
    expect(() => dev.flush()).toThrow(/^the GPU device was lost \(destroyed/);
    expect(() => dev.flush()).toThrow(DeviceLostError);
    expect(() => dev.flush()).toThrow(GpuError);
    dev.dispose();
  });
});
