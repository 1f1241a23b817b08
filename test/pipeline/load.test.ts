// Loading checks every component's file before a device exists or a weight is uploaded; disposing gives the
// weights' memory back to the GPU.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Device } from '@sd-webgpu/tensor';
import { SafetensorsFormatError } from '@sd-webgpu/models';
import { SchedulerConfigError, StableDiffusion } from '@sd-webgpu/pipeline';
import { testDevice } from '../helpers/device';
import { TINY_PATHS } from '../helpers/tiny';

let dir: string;
let broken: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sd-load-'));
  broken = join(dir, 'tiny-sd');
  cpSync(TINY_PATHS.folder, broken, { recursive: true });
  const vae = join(broken, 'vae/diffusion_pytorch_model.safetensors');
  const bytes = readFileSync(vae);
  writeFileSync(vae, bytes.subarray(0, bytes.length - 1000)); // the last tensors run past the end
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('StableDiffusion.load', () => {
  it('a broken VAE file fails before any component is uploaded', async () => {
    const dev = await testDevice();
    await dev.sync();
    const allocations = dev.pool.stats.allocations;
    const e = await StableDiffusion.load(broken, { device: dev }).then(() => null, (x: unknown) => x);
    expect(e).toBeInstanceOf(SafetensorsFormatError);
    expect((e as Error).message).toMatch(/vae.diffusion_pytorch_model\.safetensors/);
    expect(dev.pool.stats.allocations).toBe(allocations); // no text encoder or UNet weights were uploaded first
  });

  it('a broken checkpoint fails before a device is created', async () => {
    const create = vi.spyOn(Device, 'create');
    try {
      await expect(StableDiffusion.load(broken)).rejects.toBeInstanceOf(SafetensorsFormatError);
      expect(create).not.toHaveBeenCalled();
    } finally {
      create.mockRestore();
    }
  });

  it('a scheduler config out of range fails at load, before a device is created', async () => {
    const bad = join(dir, 'bad-scheduler');
    cpSync(TINY_PATHS.folder, bad, { recursive: true });
    const path = join(bad, 'scheduler/scheduler_config.json');
    const cfg = JSON.parse(readFileSync(path, 'utf8'));
    const create = vi.spyOn(Device, 'create');
    try {
      for (const [field, value] of [['beta_end', 2], ['num_train_timesteps', 1e9]] as const) {
        writeFileSync(path, JSON.stringify({ ...cfg, [field]: value }));
        const e = await StableDiffusion.load(bad).then(() => null, (x: unknown) => x);
        expect(e).toBeInstanceOf(SchedulerConfigError);
        expect((e as SchedulerConfigError).field).toBe(field);
      }
      expect(create).not.toHaveBeenCalled();
    } finally {
      create.mockRestore();
    }
  });

  it('dispose() gives the weights back to the GPU, not to the pool of a device that lives on', async () => {
    const dev = await testDevice();
    dev.trim();
    const before = dev.pool.stats.allocatedBytes;
    const sd = await StableDiffusion.load(TINY_PATHS.folder, { device: dev });
    await sd.txt2img({ prompt: 'x', width: 64, height: 64, steps: 1, seed: 1, scheduler: 'ddim' });
    expect(dev.pool.stats.allocatedBytes).toBeGreaterThan(before + 20e6); // ~44 MB of tiny-model weights
    sd.dispose();
    expect(dev.pool.stats.freeBytes).toBe(0);
    expect(dev.pool.stats.allocatedBytes).toBe(before);
  });
});
