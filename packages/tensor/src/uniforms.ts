/**
 * Uniform values of one batch: CPU mirrors of 64 KiB uniform buffers, filled in place by each dispatch and uploaded
 * once per submit (one writeBuffer per chunk used). Kernels bind their chunk at offset 0 with a dynamic offset, so
 * the bind group does not depend on where a dispatch's values sit and can be cached (./bindgroups.ts).
 *
 * A dispatch graph (./graph.ts) has an arena of its own that is never rewound: `sync()` uploads what was written
 * since the last sync and keeps it, so the graph's recorded dynamic offsets stay valid for every replay.
 */
import { type Kernel, uniformBytes, writeUniforms } from './kernel.js';
import { BufferUsage } from './gpu_flags.js';

const CHUNK = 64 * 1024;

export interface UniformChunk {
  readonly buffer: GPUBuffer;
  /** Stable small integer: part of bind-group cache keys. */
  readonly id: number;
}

interface Chunk extends UniformChunk {
  readonly mirror: Uint8Array;
  readonly view: DataView;
}

/** Chunk ids are unique across arenas: a graph's chunks and the batch's never share a bind-group key. */
let nextChunkId = 0;

export class UniformArena {
  readonly #device: GPUDevice;
  readonly #align: number;
  readonly #chunks: Chunk[] = [];
  #chunk = 0;
  #cursor = 0;
  /** `sync()`: chunk index and byte position up to which the mirrors are uploaded. */
  #syncedChunk = 0;
  #synced = 0;

  constructor(device: GPUDevice, align: number) {
    this.#device = device;
    this.#align = Math.max(256, align);
  }

  /** Largest struct a kernel may declare (a chunk). */
  static readonly maxBytes = CHUNK;

  /** Writes `kernel`'s uniform values into this batch; returns the chunk and the dynamic offset. */
  push(kernel: Kernel, values: Readonly<Record<string, number>>): { chunk: UniformChunk; offset: number } {
    const bytes = uniformBytes(kernel);
    if (this.#cursor + bytes > CHUNK) {
      this.#chunk++;
      this.#cursor = 0;
    }
    if (this.#chunk === this.#chunks.length) {
      const buffer = this.#device.createBuffer({ size: CHUNK, usage: BufferUsage.UNIFORM | BufferUsage.COPY_DST, label: 'uniforms' });
      const mirror = new Uint8Array(CHUNK);
      this.#chunks.push({ buffer, id: nextChunkId++, mirror, view: new DataView(mirror.buffer) });
    }
    const c = this.#chunks[this.#chunk]!;
    const offset = this.#cursor;
    writeUniforms(kernel, values, c.view, offset);
    this.#cursor += Math.ceil(bytes / this.#align) * this.#align;
    return { chunk: c, offset };
  }

  /** Uploads what this batch used; must run before the submit. Queue order makes reuse after it safe. */
  upload(queue: GPUQueue): void {
    for (let i = 0; i <= this.#chunk && i < this.#chunks.length; i++) {
      const used = i < this.#chunk ? CHUNK : this.#cursor;
      if (used) queue.writeBuffer(this.#chunks[i]!.buffer, 0, this.#chunks[i]!.mirror, 0, used);
    }
    this.#chunk = 0;
    this.#cursor = 0;
  }

  /** Uploads what was written since the last sync without rewinding (a graph's arena: its offsets stay valid). */
  sync(queue: GPUQueue): void {
    for (let i = this.#syncedChunk; i <= this.#chunk && i < this.#chunks.length; i++) {
      const from = i === this.#syncedChunk ? this.#synced : 0;
      const to = i < this.#chunk ? CHUNK : this.#cursor;
      if (to > from) queue.writeBuffer(this.#chunks[i]!.buffer, from, this.#chunks[i]!.mirror, from, to - from);
    }
    this.#syncedChunk = this.#chunk;
    this.#synced = this.#cursor;
  }

  /** The GPU buffers of this arena (a graph hands them to the device to destroy after its last use). */
  get buffers(): GPUBuffer[] {
    return this.#chunks.map((c) => c.buffer);
  }

  destroy(): void {
    for (const c of this.#chunks) c.buffer.destroy();
  }
}
