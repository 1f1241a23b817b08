import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Device } from '@sd-webgpu/tensor';

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
