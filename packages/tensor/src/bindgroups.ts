/**
 * Bind groups cached by what they bind: the layout and, per entry, the exact buffer, offset and size. The denoising
 * loop records the same ops over the same pooled buffers every step (the pool hands them back in the same order), so
 * after the first step a dispatch finds its bind group here instead of creating one (the dominant host cost).
 *
 * Safety: a bind group names GPU buffers, not tensors, so a buffer handed to another tensor is still bound exactly as
 * the key says. A destroyed buffer must never be bound again: the pool calls `forget(buffer)` before it destroys a
 * buffer, which drops every bind group naming it. Buffer ids are never reused, so a new buffer cannot match an old
 * key. The cache is also capped (oldest entries dropped first).
 */
export interface BindGroupStats {
  hits: number;
  misses: number;
  /** Entries dropped because a buffer they bind was destroyed. */
  forgotten: number;
  /** Entries dropped by the size cap. */
  evicted: number;
  size: number;
}

interface Entry {
  readonly group: GPUBindGroup;
  readonly buffers: readonly GPUBuffer[];
}

/** Default cap: a few SD 1.5 UNet evaluations' worth of distinct bind groups (~2 000 each). */
const DEFAULT_CAP = 16384;

export class BindGroupCache {
  readonly #device: GPUDevice;
  readonly #cap: number;
  readonly #entries = new Map<string, Entry>();
  /** Keys of the entries binding each buffer. */
  readonly #byBuffer = new Map<GPUBuffer, Set<string>>();
  readonly #ids = new WeakMap<GPUBuffer, number>();
  #nextId = 1;
  readonly #stats = { hits: 0, misses: 0, forgotten: 0, evicted: 0 };

  constructor(device: GPUDevice, cap = DEFAULT_CAP) {
    this.#device = device;
    this.#cap = cap;
  }

  get stats(): BindGroupStats {
    return { ...this.#stats, size: this.#entries.size };
  }

  /** A per-buffer id that is never reused (keys must not survive their buffer). */
  id(buffer: GPUBuffer): number {
    let id = this.#ids.get(buffer);
    if (id === undefined) {
      id = this.#nextId++;
      this.#ids.set(buffer, id);
    }
    return id;
  }

  /**
   * The bind group for `key`, created from `entries()` under `layout` on a miss; `key` must identify the layout and
   * every entry's buffer (by `id`), offset and size.
   */
  get(key: string, layout: GPUBindGroupLayout, makeEntries: () => GPUBindGroupEntry[]): GPUBindGroup {
    const hit = this.#entries.get(key);
    if (hit) {
      this.#stats.hits++;
      return hit.group;
    }
    this.#stats.misses++;
    const entries = makeEntries();
    const group = this.#device.createBindGroup({ layout, entries });
    const buffers = entries.map((e) => (e.resource as GPUBufferBinding).buffer);
    this.#entries.set(key, { group, buffers });
    for (const b of buffers) {
      let keys = this.#byBuffer.get(b);
      if (!keys) this.#byBuffer.set(b, (keys = new Set()));
      keys.add(key);
    }
    if (this.#entries.size > this.#cap) this.#drop(this.#entries.keys().next().value!, 'evicted');
    return group;
  }

  /** Drops every bind group that binds `buffer` (called before the buffer is destroyed). */
  forget(buffer: GPUBuffer): void {
    const keys = this.#byBuffer.get(buffer);
    if (!keys) return;
    for (const key of [...keys]) this.#drop(key, 'forgotten');
    this.#byBuffer.delete(buffer);
  }

  clear(): void {
    this.#entries.clear();
    this.#byBuffer.clear();
  }

  #drop(key: string, why: 'forgotten' | 'evicted'): void {
    const e = this.#entries.get(key);
    if (!e) return;
    this.#entries.delete(key);
    this.#stats[why]++;
    for (const b of e.buffers) {
      const keys = this.#byBuffer.get(b);
      keys?.delete(key);
      if (keys?.size === 0) this.#byBuffer.delete(b);
    }
  }
}
