import { LimitError } from './errors.js';
import { BufferUsage } from './gpu_flags.js';

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
  /** Called right before the pool destroys one of its buffers (the recorder drops bind groups naming it). */
  onDestroy?: (buffer: GPUBuffer) => void;
  /** Called when a live buffer is released (dispatch graphs watch the buffers they bind but do not own). */
  onRelease?: (buffer: GPUBuffer) => void;
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
  readonly #onDestroy: (buffer: GPUBuffer) => void;
  readonly #onRelease: (buffer: GPUBuffer) => void;
  /** While a graph is captured: every buffer acquired (./graph.ts adopts those released again by the end). */
  #tracking: Set<GPUBuffer> | null = null;
  readonly #free = new Map<number, GPUBuffer[]>();
  /** Free buffers in release order, for evicting the oldest (a Set: taking one out is O(1)). */
  readonly #freeOrder = new Set<GPUBuffer>();
  /** Released since the last submit, per bucket (sorted like the free lists). */
  #pending = new Map<number, GPUBuffer[]>();
  #pendingDestroy: GPUBuffer[] = [];
  readonly #exact = new WeakSet<GPUBuffer>();
  readonly #sizes = new WeakMap<GPUBuffer, number>();
  /** Creation order of each buffer: free and pending lists hand out the oldest buffer first. */
  readonly #seq = new WeakMap<GPUBuffer, number>();
  #nextSeq = 0;
  readonly #stats: PoolStats = {
    liveBytes: 0, peakLiveBytes: 0, freeBytes: 0, allocatedBytes: 0, peakAllocatedBytes: 0,
    allocations: 0, reuses: 0, evictions: 0, largestBufferBytes: 0,
  };

  constructor(device: GPUDevice, opts: PoolOptions = {}) {
    this.#device = device;
    this.#usage = opts.usage ?? (BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST);
    this.#maxFree = opts.maxFreeBytes ?? 2 * 1024 * MiB;
    this.#maxBufferSize = opts.maxBufferSize ?? Infinity;
    this.#onDestroy = opts.onDestroy ?? (() => {});
    this.#onRelease = opts.onRelease ?? (() => {});
  }

  /** Starts (a set) or stops (null) recording which buffers `acquire` hands out. */
  track(acquired: Set<GPUBuffer> | null): void {
    this.#tracking = acquired;
  }

  /**
   * Takes a released buffer (free, pending or about to be destroyed) back out of the pool's hands: it counts as live
   * and no `acquire` can return it until the caller `release`s it. Returns false (and does nothing) for a live buffer.
   */
  adopt(buf: GPUBuffer): boolean {
    const size = this.#sizes.get(buf);
    if (size === undefined) throw new Error('BufferPool.adopt: buffer not from this pool');
    if (this.#freeOrder.delete(buf)) {
      const list = this.#free.get(size)!;
      list.splice(list.indexOf(buf), 1);
      this.#stats.freeBytes -= size;
    } else {
      const list = this.#pending.get(size);
      const i = list ? list.indexOf(buf) : -1;
      const d = i < 0 ? this.#pendingDestroy.indexOf(buf) : -1;
      if (i >= 0) list!.splice(i, 1);
      else if (d >= 0) this.#pendingDestroy.splice(d, 1);
      else return false;
    }
    this.#stats.liveBytes += size;
    this.#stats.peakLiveBytes = Math.max(this.#stats.peakLiveBytes, this.#stats.liveBytes);
    return true;
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
      this.#seq.set(buf, this.#nextSeq++);
      if (opts.exact) this.#exact.add(buf);
      s.allocations++;
      s.largestBufferBytes = Math.max(s.largestBufferBytes, size);
      s.allocatedBytes += size;
      s.peakAllocatedBytes = Math.max(s.peakAllocatedBytes, s.allocatedBytes);
    }
    s.liveBytes += size;
    s.peakLiveBytes = Math.max(s.peakLiveBytes, s.liveBytes);
    this.#tracking?.add(buf);
    return buf;
  }

  /** Returns a buffer; it becomes reusable by uploads only after the next submit. */
  release(buf: GPUBuffer): void {
    const size = this.#sizes.get(buf);
    if (size === undefined) throw new Error('BufferPool.release: buffer not from this pool');
    this.#stats.liveBytes -= size;
    this.#onRelease(buf);
    if (this.#exact.has(buf)) this.#pendingDestroy.push(buf);
    else this.#insert(this.#pending, size, buf);
  }

  /** Called by the device right after a queue submit. */
  onSubmit(): void {
    const pending = this.#pending;
    this.#pending = new Map();
    for (const list of pending.values()) for (const buf of list) this.#putFree(buf);
    for (const buf of this.#pendingDestroy) {
      this.#stats.allocatedBytes -= this.#sizes.get(buf)!;
      this.#onDestroy(buf);
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
    while (this.#freeOrder.size) this.#destroyOldest();
  }

  /** Destroys everything this pool owns, pending buffers included (the device is going away). */
  destroyAll(): void {
    this.onSubmit();
    this.trim();
  }

  #putFree(buf: GPUBuffer): void {
    const size = this.#sizes.get(buf)!;
    this.#insert(this.#free, size, buf);
    this.#freeOrder.add(buf);
    this.#stats.freeBytes += size;
  }

  #takeFree(size: number): GPUBuffer | undefined {
    const buf = this.#free.get(size)?.pop();
    if (!buf) return undefined;
    this.#freeOrder.delete(buf);
    this.#stats.freeBytes -= size;
    return buf;
  }

  #takePending(size: number): GPUBuffer | undefined {
    return this.#pending.get(size)?.pop();
  }

  /**
   * Adds `buf` to its bucket's list, kept in descending creation order so that `pop()` hands out the oldest buffer.
   * The choice then depends only on which buffers are free, not on the order they were released in: a loop that
   * repeats the same ops gets the same buffers every iteration, and its bind groups stay cached.
   */
  #insert(lists: Map<number, GPUBuffer[]>, size: number, buf: GPUBuffer): void {
    let list = lists.get(size);
    if (!list) lists.set(size, (list = []));
    const seq = this.#seq.get(buf)!;
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.#seq.get(list[mid]!)! > seq) lo = mid + 1;
      else hi = mid;
    }
    list.splice(lo, 0, buf);
  }

  #evict(): void {
    while (this.#stats.freeBytes > this.#maxFree && this.#freeOrder.size) this.#destroyOldest();
  }

  #destroyOldest(): void {
    const buf = this.#freeOrder.values().next().value!;
    this.#freeOrder.delete(buf);
    const size = this.#sizes.get(buf)!;
    const list = this.#free.get(size)!;
    list.splice(list.indexOf(buf), 1);
    this.#stats.freeBytes -= size;
    this.#stats.allocatedBytes -= size;
    this.#stats.evictions++;
    this.#onDestroy(buf);
    buf.destroy();
  }
}
