import { afterAll } from 'vitest';
import { Device, type DeviceOptions } from '@sd-webgpu/tensor';

let shared: Promise<Device> | null = null;

/** One WebGPU device per test file (each vitest file runs in its own process), disposed after the file. */
export function testDevice(): Promise<Device> {
  if (!shared) {
    shared = Device.create();
    afterAll(async () => {
      const d = await shared!;
      d.dispose();
      shared = null;
    });
  }
  return shared;
}

/** A separate device with custom options (e.g. a small binding limit); the caller disposes it. */
export function createDevice(opts: DeviceOptions): Promise<Device> {
  return Device.create(opts);
}
