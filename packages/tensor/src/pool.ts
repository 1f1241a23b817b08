import { LimitError } from './errors.js';

/**
 * Bucketed, capped pool of storage buffers. Sizes are rounded up to a bucket (powers of two up to 1 MiB, then four
 * buckets per octave, so at most 25 % waste), released buffers are kept on per-bucket free lists up to a byte cap
 * (oldest evicted first) and handed out again.
 *
 * Buffers released while unsubmitted GPU work may still read them go to a pending list. Compute outputs may take
 * them at once (later dispatches in the same encoder are ordered after earlier ones), but host uploads must not
 * (a queue.writeBuffer would land before the pending reads), so `acquire(size, {forUpload: true})` skips them.
 * `onSubmit()` moves pending buffers to the free lists.
 *
 * Long-lived tensors (model weights) ask for `exact` buffers: sized to the 256-byte multiple instead of a bucket (no
 * up-to-25 % bucket waste on gigabytes of weights), never pooled, destroyed after the submit that follows release.
 */
export interface PoolStats {
  /** Bytes (bucket sizes) held by live tensors. */
  liveBytes: number;
  peakLiveBytes: number;
  /** Bytes sitting on free lists. */
  freeBytes: number;
  /** Bytes of all GPU buffers this pool owns (live + free + pending). */
  allocatedBytes: number;
  peakAllocatedBytes: number;
  /** createBuffer calls. */
  allocations: number;
  /** Bytes of the largest GPU buffer ever created (checked against the device's maxBufferSize). */
  largestBufferBytes: number;
  /** acquisitions served from a free list. */
  reuses: number;
  /** buffers destroyed to stay under the cap. */
  evictions: number;
}

export interface PoolOptions {
  /** Upper bound on bytes kept on free lists (default 2 GiB). */
  maxFreeBytes?: number;
  /** The device's maxBufferSize (default: unlimited). */
  maxBufferSize?: number;
  usage?: number;
}

const MiB = 1 << 20;

export function bucketSize(bytes: number): number {
  const n = Math.max(256, Math.ceil(bytes));
  if (n <= MiB) return 2 ** Math.ceil(Math.log2(n));
  const step = 2 ** (Math.floor(Math.log2(n)) - 2);
  return Math.ceil(n / step) * step;
}

export class BufferPool {
  readonly #device: GPUDevice;
  readonly #usage: number;
  readonly #maxFree: number;
  readonly #maxBufferSize: number;
  readonly #free = new Map<number, GPUBuffer[]>();
  /** Free buffers in release order, for evicting the oldest. */
  readonly #freeOrder: GPUBuffer[] = [];
  #pending: GPUBuffer[] = [];
  #pendingDestroy: GPUBuffer[] = [];
  readonly #exact = new WeakSet<GPUBuffer>();
  readonly #sizes = new WeakMap<GPUBuffer, number>();
  readonly #stats: PoolStats = {
    liveBytes: 0, peakLiveBytes: 0, freeBytes: 0, allocatedBytes: 0, peakAllocatedBytes: 0,
    allocations: 0, reuses: 0, evictions: 0, largestBufferBytes: 0,
  };

  constructor(device: GPUDevice, opts: PoolOptions = {}) {
    this.#device = device;
    this.#usage = opts.usage ?? (GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST);
    this.#maxFree = opts.maxFreeBytes ?? 2 * 1024 * MiB;
    this.#maxBufferSize = opts.maxBufferSize ?? Infinity;
  }

  get stats(): Readonly<PoolStats> {
    return { ...this.#stats };
  }

  resetPeak(): void {
    this.#stats.peakLiveBytes = this.#stats.liveBytes;
    this.#stats.peakAllocatedBytes = this.#stats.allocatedBytes;
  }

  acquire(bytes: number, opts: { forUpload?: boolean; exact?: boolean } = {}): GPUBuffer {
    const exact = Math.max(256, Math.ceil(bytes / 256) * 256);
    // a bucket above the device's buffer limit falls back to the exact size (no pooling for such giants)
    const size = opts.exact || bucketSize(bytes) > this.#maxBufferSize ? exact : bucketSize(bytes);
    if (size > this.#maxBufferSize) {
      throw new LimitError('BufferPool', `a ${bytes}-byte buffer exceeds the device's maxBufferSize ${this.#maxBufferSize}`);
    }
    const s = this.#stats;
    let buf = opts.exact ? undefined : this.#takeFree(size);
    if (!buf && !opts.forUpload && !opts.exact) buf = this.#takePending(size);
    if (buf) s.reuses++;
    else {
      buf = this.#device.createBuffer({ size, usage: this.#usage, label: `${opts.exact ? 'exact' : 'pool'}:${size}` });
      this.#sizes.set(buf, size);
      if (opts.exact) this.#exact.add(buf);
      s.allocations++;
      s.largestBufferBytes = Math.max(s.largestBufferBytes, size);
      s.allocatedBytes += size;
      s.peakAllocatedBytes = Math.max(s.peakAllocatedBytes, s.allocatedBytes);
    }
    s.liveBytes += size;
    s.peakLiveBytes = Math.max(s.peakLiveBytes, s.liveBytes);
    return buf;
  }

  /** Returns a buffer; it becomes reusable by uploads only after the next submit. */
  release(buf: GPUBuffer): void {
    const size = this.#sizes.get(buf);
    if (size === undefined) throw new Error('BufferPool.release: buffer not from this pool');
    this.#stats.liveBytes -= size;
    (this.#exact.has(buf) ? this.#pendingDestroy : this.#pending).push(buf);
  }

  /** Called by the device right after a queue submit. */
  onSubmit(): void {
    const pending = this.#pending;
    this.#pending = [];
    for (const buf of pending) this.#putFree(buf);
    for (const buf of this.#pendingDestroy) {
      this.#stats.allocatedBytes -= this.#sizes.get(buf)!;
      buf.destroy();
    }
    this.#pendingDestroy = [];
    this.#evict();
  }

  /**
   * Destroys every free buffer. Live buffers and buffers released since the last submit (which recorded work may
   * still use) are left alone.
   */
  trim(): void {
    while (this.#freeOrder.length) this.#destroyOldest();
  }

  /** Destroys everything this pool owns, pending buffers included (the device is going away). */
  destroyAll(): void {
    this.onSubmit();
    this.trim();
  }

  #putFree(buf: GPUBuffer): void {
    const size = this.#sizes.get(buf)!;
    let list = this.#free.get(size);
    if (!list) this.#free.set(size, (list = []));
    list.push(buf);
    this.#freeOrder.push(buf);
    this.#stats.freeBytes += size;
  }

  #takeFree(size: number): GPUBuffer | undefined {
    const buf = this.#free.get(size)?.pop();
    if (!buf) return undefined;
    this.#freeOrder.splice(this.#freeOrder.lastIndexOf(buf), 1);
    this.#stats.freeBytes -= size;
    return buf;
  }

  #takePending(size: number): GPUBuffer | undefined {
    for (let i = this.#pending.length - 1; i >= 0; i--) {
      const buf = this.#pending[i]!;
      if (this.#sizes.get(buf) === size) {
        this.#pending.splice(i, 1);
        return buf;
      }
    }
    return undefined;
  }

  #evict(): void {
    while (this.#stats.freeBytes > this.#maxFree && this.#freeOrder.length) this.#destroyOldest();
  }

  #destroyOldest(): void {
    const buf = this.#freeOrder.shift()!;
    const size = this.#sizes.get(buf)!;
    const list = this.#free.get(size)!;
    list.splice(list.indexOf(buf), 1);
    this.#stats.freeBytes -= size;
    this.#stats.allocatedBytes -= size;
    this.#stats.evictions++;
    buf.destroy();
  }
}
