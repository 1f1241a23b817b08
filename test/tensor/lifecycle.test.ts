import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Device, DeviceLostError, GpuError, GpuOutOfMemoryError } from '@sd-webgpu/tensor';
import { StableDiffusion } from '@sd-webgpu/pipeline';
import { TINY_PATHS } from '../helpers/tiny';

const openFds = () => readdirSync('/proc/self/fd').length;
const rssMiB = () => process.memoryUsage().rss / 2 ** 20;
const hasProcFs = (() => {
  try {
    return readdirSync('/proc/self/fd').length > 0;
  } catch {
    return false;
  }
})();

describe('device lifecycle', () => {
  it.skipIf(!hasProcFs)('50 create/dispose cycles keep the file-descriptor count and RSS flat', async () => {
    const cycle = async () => {
      const d = await Device.create();
      d.tensor([1, 2, 3, 4], [4]).dispose();
      await d.sync();
      d.dispose();
    };
    for (let i = 0; i < 5; i++) await cycle(); // warm-up: Dawn's instance, lazily mapped driver pages
    const fds = openFds();
    const rss = rssMiB();
    for (let i = 0; i < 45; i++) await cycle();
    expect(openFds()).toBe(fds);
    // A leak of the size once seen (~2.5 MiB a cycle) adds ~110 MiB over 45 cycles; allocator noise is a few MiB.
    expect(rssMiB() - rss).toBeLessThan(25);
  });
});

describe('WebGPU failures become typed errors', () => {
  it('dispose() during a readback rejects with a GpuError that says the Device was disposed', async () => {
    const d = await Device.create();
    const t = d.tensor(new Float32Array(1 << 18), [1 << 18]);
    const read = t.data();
    d.dispose();
    const e = await read.then(() => null, (x: unknown) => x);
    expect(e).toBeInstanceOf(GpuError);
    expect((e as Error).message).toMatch(/readback.*cancelled.*Device was disposed/);
  });

  it('a device destroyed mid-generation is reported as lost (not aborted), and a new Device works afterwards', async () => {
    const d = await Device.create();
    const sd = await StableDiffusion.load(TINY_PATHS.folder, { device: d });
    const run = sd.txt2img({
      prompt: 'x', width: 64, height: 64, steps: 4, seed: 1, scheduler: 'ddim',
      onProgress: (p) => p.step === 2 && d.gpu.destroy(),
    });
    const e = await run.then(() => null, (x: unknown) => x);
    expect(e).toBeInstanceOf(DeviceLostError);
    expect((e as Error).name).not.toBe('AbortError');
    expect((e as Error).message).toMatch(/device was lost \(destroyed.*create a new Device/);
    expect(() => d.tensor([1], [1])).toThrow(DeviceLostError); // every later use says so too
    sd.dispose();
    d.dispose();

    const d2 = await Device.create();
    expect(Array.from(await d2.tensor([1, 2, 3], [3]).data())).toEqual([1, 2, 3]);
    d2.dispose();
  });

  it('uncaptured validation and out-of-memory errors say what happened and what to do', async () => {
    const d = await Device.create();
    try {
      d.gpu.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE }); // invalid usage
      await expect(d.sync()).rejects.toThrow(/WebGPU validation error.*please report it.*MapRead/s);
      // Out of memory cannot be provoked safely on a shared machine: WebGPU's own event carries it.
      const error = new GPUOutOfMemoryError('CreateBuffer of 8 GiB');
      d.gpu.dispatchEvent(new GPUUncapturedErrorEvent('uncapturederror', { error }));
      const e = await d.sync().then(() => null, (x: unknown) => x);
      expect(e).toBeInstanceOf(GpuOutOfMemoryError);
      expect((e as Error).message).toMatch(/ran out of memory \(CreateBuffer of 8 GiB\): use smaller or fewer images/);
      await d.sync(); // reported once, then the device is usable again
    } finally {
      d.dispose();
    }
  });
});
