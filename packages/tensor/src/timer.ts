import type { Device } from './device.js';
import type { Recorder } from './recorder.js';
import { BufferUsage } from './gpu_flags.js';

/**
 * Measures GPU time of the work recorded between begin() and end() with two timestamp-only passes.
 * (Dawn in Node is created with timestamp quantization off, so values are full precision.)
 */
export class GpuTimer {
  readonly #device: Device;
  readonly #recorder: Recorder;
  readonly #querySet: GPUQuerySet;
  readonly #resolve: GPUBuffer;

  constructor(device: Device, recorder: Recorder) {
    this.#device = device;
    this.#recorder = recorder;
    this.#querySet = device.gpu.createQuerySet({ type: 'timestamp', count: 2 });
    this.#resolve = device.gpu.createBuffer({ size: 16, usage: BufferUsage.QUERY_RESOLVE | BufferUsage.COPY_SRC });
  }

  begin(): void {
    this.#recorder.timestamp(this.#querySet, 0);
  }

  end(): void {
    this.#recorder.timestamp(this.#querySet, 1);
    this.#recorder.endPass().resolveQuerySet(this.#querySet, 0, 2, this.#resolve, 0);
  }

  /** Milliseconds between begin() and end(); submits and waits. */
  async ms(): Promise<number> {
    const bytes = await this.#device.readBytes(this.#resolve, 0, 16);
    const t = new BigUint64Array(bytes.buffer, bytes.byteOffset, 2);
    return Number(t[1]! - t[0]!) / 1e6;
  }

  destroy(): void {
    this.#querySet.destroy();
    this.#resolve.destroy();
  }
}
