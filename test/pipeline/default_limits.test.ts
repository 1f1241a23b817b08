/**
 * The engine inside WebGPU's default limits (`Device.create({ limits: 'default' })`: 128 MiB per storage binding,
 * 256 MiB per buffer, 16 KiB workgroup memory): a txt2img of the tiny model and an SD 1.5-sized lookup in the f32
 * CLIP token table (145 MiB, over the binding limit) run there, and the device's records of the largest binding and
 * buffer stay within the limits. The full-size run (SD 1.5 at 512²) is `npm run bench -- txt2img512`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Device } from '@sd-webgpu/tensor';
import { embedding } from '@sd-webgpu/kernels';
import { StableDiffusion } from '@sd-webgpu/pipeline';
import { TINY_PATHS } from '../helpers/tiny';

const MiB = 2 ** 20;
let dev: Device;
beforeAll(async () => {
  dev = await Device.create({ limits: 'default' });
});
afterAll(() => dev?.dispose());

describe('default WebGPU limits', () => {
  it('requests none of the adapter’s raised limits', () => {
    expect(dev.limits.maxStorageBufferBindingSize).toBe(128 * MiB);
    expect(dev.limits.maxBufferSize).toBe(256 * MiB);
    expect(dev.gpu.limits.maxComputeWorkgroupStorageSize).toBe(16384);
  });

  it('runs txt2img and records the largest binding and buffer, both within the limits', async () => {
    const sd = await StableDiffusion.load(TINY_PATHS.folder, { device: dev });
    try {
      const [img] = await sd.txt2img({ prompt: 'a lighthouse', width: 64, height: 64, steps: 2, seed: 1, scheduler: 'ddim' });
      expect(img!.data.length).toBe(64 * 64 * 4);
      await dev.sync(); // any binding over the limits would have been a validation error
    } finally {
      sd.dispose();
    }
    expect(dev.largestBindingBytes).toBeGreaterThan(0);
    expect(dev.largestBindingBytes).toBeLessThanOrEqual(dev.limits.maxStorageBufferBindingSize);
    expect(dev.poolStats().largestBufferBytes).toBeGreaterThan(0);
    expect(dev.poolStats().largestBufferBytes).toBeLessThanOrEqual(dev.limits.maxBufferSize);
  });

  it('looks up rows of a 145 MiB f32 token table through bindings of at most 128 MiB', async () => {
    const [V, D] = [49408, 768]; // SD 1.5's CLIP token embedding, f32: 145 MiB
    const table = new Float32Array(V * D);
    for (let r = 0; r < V; r++) table.fill(r, r * D, r * D + 4); // row r starts with r (a cheap per-row signature)
    const t = dev.tensor(table, [V, D]);
    const ids = [0, 1, 24000, 43690, 49407]; // 43690·768·4 bytes is past the first 128 MiB window
    const idsT = dev.tensor(Int32Array.from(ids), [ids.length], 'i32');
    const y = await embedding(idsT, t).float32();
    for (const [i, id] of ids.entries()) expect(Array.from(y.subarray(i * D, i * D + 4))).toEqual([id, id, id, id]);
    await dev.sync();
    expect(dev.poolStats().largestBufferBytes).toBeGreaterThan(128 * MiB);
    expect(dev.poolStats().largestBufferBytes).toBeLessThanOrEqual(256 * MiB);
    expect(dev.largestBindingBytes).toBeLessThanOrEqual(128 * MiB);
    for (const x of [t, idsT]) x.dispose();
  });
});
