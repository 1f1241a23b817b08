/**
 * Bind groups cached by what they bind: the pipeline and, per entry, the exact buffer, offset and size (and the
 * uniform chunk). The denoising loop records the same ops over the same pooled buffers every step (the pool hands
 * them back in the same order), so after the first step a dispatch finds its bind group here instead of creating one.
 *
 * The key is a list of small integers (pipeline id, then buffer id, offset, size per binding, then the uniform chunk)
 * written by the recorder into a scratch `Uint32Array`-like list, hashed to one number: no string is built per
 * dispatch. A hit compares the whole list with the entry's, so a hash collision can never serve another bind group.
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
  readonly hash: number;
  readonly key: Float64Array;
  readonly group: GPUBindGroup;
  readonly buffers: readonly GPUBuffer[];
}

/** Default cap: a few SD 1.5 UNet evaluations' worth of distinct bind groups (~600 each). */
const DEFAULT_CAP = 16384;

/**
 * Hash of the first `n` integers of `key` (FNV-style multiply-xor over their low 32 bits; offsets past 4 GiB only
 * weaken the hash, never the lookup, which compares whole keys).
 */
export function hashInts(key: ArrayLike<number>, n: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < n; i++) h = Math.imul(h ^ key[i]!, 0x01000193);
  return h >>> 0;
}

/** Whether `a` holds exactly the first `n` numbers of `b`. */
export function sameInts(a: ArrayLike<number>, b: ArrayLike<number>, n: number): boolean {
  if (a.length !== n) return false;
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class BindGroupCache {
  readonly #device: GPUDevice;
  readonly #cap: number;
  /** Entries by hash (a list: collisions are possible, hits compare the whole key). */
  readonly #byHash = new Map<number, Entry[]>();
  /** Every entry in insertion order (the cap drops the oldest). */
  readonly #order = new Set<Entry>();
  /** The entries binding each buffer. */
  readonly #byBuffer = new Map<GPUBuffer, Set<Entry>>();
  readonly #ids = new WeakMap<GPUBuffer, number>();
  #nextId = 1;
  readonly #stats = { hits: 0, misses: 0, forgotten: 0, evicted: 0 };

  constructor(device: GPUDevice, cap = DEFAULT_CAP) {
    this.#device = device;
    this.#cap = cap;
  }

  get stats(): BindGroupStats {
    return { ...this.#stats, size: this.#order.size };
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
   * The bind group for the first `n` integers of `key`, created from `makeEntries()` under `layout` on a miss. The
   * key must identify the pipeline (hence the layout) and every entry's buffer (by `id`), offset and size.
   */
  get(key: ArrayLike<number>, n: number, layout: GPUBindGroupLayout, makeEntries: () => GPUBindGroupEntry[]): GPUBindGroup {
    const hash = hashInts(key, n);
    const bucket = this.#byHash.get(hash);
    if (bucket) {
      for (const e of bucket) {
        if (sameInts(e.key, key, n)) {
          this.#stats.hits++;
          return e.group;
        }
      }
    }
    this.#stats.misses++;
    const entries = makeEntries();
    const group = this.#device.createBindGroup({ layout, entries });
    const buffers = entries.map((e) => (e.resource as GPUBufferBinding).buffer);
    const entry: Entry = { hash, key: Float64Array.from({ length: n }, (_, i) => key[i]!), group, buffers };
    if (bucket) bucket.push(entry);
    else this.#byHash.set(hash, [entry]);
    this.#order.add(entry);
    for (const b of buffers) {
      let set = this.#byBuffer.get(b);
      if (!set) this.#byBuffer.set(b, (set = new Set()));
      set.add(entry);
    }
    if (this.#order.size > this.#cap) this.#drop(this.#order.values().next().value!, 'evicted');
    return group;
  }

  /** Drops every bind group that binds `buffer` (called before the buffer is destroyed). */
  forget(buffer: GPUBuffer): void {
    const set = this.#byBuffer.get(buffer);
    if (!set) return;
    for (const e of [...set]) this.#drop(e, 'forgotten');
    this.#byBuffer.delete(buffer);
  }

  clear(): void {
    this.#byHash.clear();
    this.#order.clear();
    this.#byBuffer.clear();
  }

  #drop(e: Entry, why: 'forgotten' | 'evicted'): void {
    if (!this.#order.delete(e)) return;
    this.#stats[why]++;
    const bucket = this.#byHash.get(e.hash)!;
    if (bucket.length === 1) this.#byHash.delete(e.hash);
    else bucket.splice(bucket.indexOf(e), 1);
    for (const b of e.buffers) {
      const set = this.#byBuffer.get(b);
      set?.delete(e);
      if (set?.size === 0) this.#byBuffer.delete(b);
    }
  }
}
