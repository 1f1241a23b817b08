/**
 * Reused MAP_READ staging buffers (a fresh one per readback costs 3-5x more on lavapipe). One buffer per size bucket
 * is kept; concurrent readbacks of the same bucket get their own.
 */
export class StagingPool {
  readonly #device: GPUDevice;
  readonly #free = new Map<number, GPUBuffer[]>();

  constructor(device: GPUDevice) {
    this.#device = device;
  }

  acquire(bytes: number): GPUBuffer {
    const size = 2 ** Math.ceil(Math.log2(Math.max(256, bytes)));
    const buf = this.#free.get(size)?.pop();
    return buf ?? this.#device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: 'staging' });
  }

  release(buf: GPUBuffer): void {
    let list = this.#free.get(buf.size);
    if (!list) this.#free.set(buf.size, (list = []));
    if (list.length < 2) list.push(buf);
    else buf.destroy();
  }

  destroy(): void {
    for (const list of this.#free.values()) for (const b of list) b.destroy();
    this.#free.clear();
  }
}
