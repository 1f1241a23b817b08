/**
 * Reused MAP_READ staging buffers (a fresh one per readback costs 3-5x more on lavapipe). Up to two buffers per
 * power-of-two size up to 64 MiB are kept; concurrent readbacks of the same size get their own; larger readbacks use
 * an exact-size buffer that is destroyed afterwards.
 */
import { BufferUsage } from './gpu_flags.js';
const KEEP_MAX = 64 * 2 ** 20;
export class StagingPool {
  readonly #device: GPUDevice;
  readonly #free = new Map<number, GPUBuffer[]>();

  constructor(device: GPUDevice) {
    this.#device = device;
  }

  acquire(bytes: number): GPUBuffer {
    const pow2 = 2 ** Math.ceil(Math.log2(Math.max(256, bytes)));
    const size = pow2 <= KEEP_MAX ? pow2 : Math.ceil(bytes / 4) * 4;
    const buf = this.#free.get(size)?.pop();
    return buf ?? this.#device.createBuffer({ size, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST, label: 'staging' });
  }

  release(buf: GPUBuffer): void {
    let list = this.#free.get(buf.size);
    if (!list) this.#free.set(buf.size, (list = []));
    if (list.length < 2 && buf.size <= KEEP_MAX && (buf.size & (buf.size - 1)) === 0) list.push(buf);
    else buf.destroy();
  }

  destroy(): void {
    for (const list of this.#free.values()) for (const b of list) b.destroy();
    this.#free.clear();
  }
}
