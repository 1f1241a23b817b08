import type { Device } from './device.js';
import { BYTES_PER_ELEMENT, type DType, type HostArray, fromF16Array, toF16Array } from './dtype.js';
import { DisposedTensorError, ShapeError, shapeStr } from './errors.js';

/** A pooled GPU buffer shared by a tensor and its views; returned to the pool when the last user disposes. */
export class Storage {
  refs = 1;
  constructor(
    readonly device: Device,
    readonly buffer: GPUBuffer,
    /** Bytes in use (the buffer itself is a pool bucket, often larger). */
    readonly byteLength: number,
  ) {}

  retain(): void {
    this.refs++;
  }

  release(): void {
    if (--this.refs === 0) this.device.pool.release(this.buffer);
  }
}

export const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

let nextId = 1;

/**
 * An n-dimensional array on the GPU, row-major and contiguous. Views made by `reshape` share the storage. Every
 * tensor belongs to whoever created it; `dispose()` (or the enclosing `scope()`) gives its memory back.
 */
export class Tensor {
  readonly id = nextId++;
  readonly size: number;
  #storage: Storage | null;

  constructor(
    storage: Storage,
    readonly shape: readonly number[],
    readonly dtype: DType,
  ) {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) throw new ShapeError('Tensor', `invalid dimension ${d}`, [shape]);
    }
    this.#storage = storage;
    this.size = numel(shape);
    storage.device.track(this);
  }

  get device(): Device {
    return this.storage.device;
  }

  get storage(): Storage {
    if (!this.#storage) throw new DisposedTensorError(this.describe());
    return this.#storage;
  }

  get buffer(): GPUBuffer {
    return this.storage.buffer;
  }

  get byteLength(): number {
    return this.size * BYTES_PER_ELEMENT[this.dtype];
  }

  get disposed(): boolean {
    return this.#storage === null;
  }

  get rank(): number {
    return this.shape.length;
  }

  describe(): string {
    return `Tensor#${this.id} ${this.dtype}${shapeStr(this.shape)}`;
  }

  /** A view with another shape of the same number of elements (`-1` infers one dimension). */
  reshape(shape: readonly number[]): Tensor {
    const s = [...shape];
    const hole = s.indexOf(-1);
    if (hole >= 0) s[hole] = this.size / numel(s.filter((_, i) => i !== hole));
    if (numel(s) !== this.size || s.some((d) => !Number.isInteger(d) || d < 0)) {
      throw new ShapeError('reshape', `cannot view ${this.size} elements as ${shapeStr(shape)}`, [this.shape]);
    }
    const storage = this.storage;
    storage.retain();
    return new Tensor(storage, s, this.dtype);
  }

  dispose(): void {
    if (!this.#storage) return;
    this.#storage.release();
    this.#storage = null;
  }

  /** Reads the tensor back (f16 is widened to f32). Submits pending work. */
  async data(): Promise<HostArray> {
    const bytes = await this.device.readBytes(this.buffer, 0, this.byteLength);
    if (this.dtype === 'f16') return fromF16Array(new Uint16Array(bytes.buffer, bytes.byteOffset, this.size));
    if (this.dtype === 'i32') return new Int32Array(bytes.buffer, bytes.byteOffset, this.size);
    if (this.dtype === 'u32') return new Uint32Array(bytes.buffer, bytes.byteOffset, this.size);
    return new Float32Array(bytes.buffer, bytes.byteOffset, this.size);
  }

  /** Reads a float tensor as Float32Array. */
  async float32(): Promise<Float32Array> {
    const d = await this.data();
    return d instanceof Float32Array ? d : Float32Array.from(d);
  }
}

/** Encodes host values as the bytes of `dtype` (f16 rounds to nearest even). */
export function encodeHost(data: ArrayLike<number>, dtype: DType): Uint8Array {
  let typed: ArrayBufferView;
  if (dtype === 'f16') typed = data instanceof Uint16Array ? data : toF16Array(data);
  else if (dtype === 'f32') typed = data instanceof Float32Array ? data : Float32Array.from(data);
  else if (dtype === 'i32') typed = data instanceof Int32Array ? data : Int32Array.from(data);
  else typed = data instanceof Uint32Array ? data : Uint32Array.from(data);
  return new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
}
