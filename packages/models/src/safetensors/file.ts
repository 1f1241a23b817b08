/**
 * A parsed safetensors file over any ByteSource: the header is read once at open, tensor data on demand.
 */
import { UnsupportedError, ParameterError } from '@sd-webgpu/tensor';
import {
  DTYPE_SIZES,
  bf16ArrayToF16,
  bf16ArrayToF32,
  f16ArrayToF32,
  f32ArrayToF16,
  f64ArrayToF16,
  f64ArrayToF32,
  type SafetensorsDtype,
} from './dtype.js';
import { ByteSourceError, SafetensorsFormatError, SafetensorsKeyError } from './errors.js';
import { HEADER_PREFIX_BYTES, parseHeader, readHeaderLength, type SafetensorsHeader } from './header.js';
import type { ByteSource } from './source.js';

export interface TensorInfo {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Absolute offset of the tensor's first byte in the file. */
  byteOffset: number;
  byteLength: number;
}

/** The typed array `readTyped` returns for each dtype (F16/BF16 as raw 16-bit patterns). */
export type TypedArrayOf<D extends SafetensorsDtype> = D extends 'F64'
  ? Float64Array
  : D extends 'F32'
    ? Float32Array
    : D extends 'F16' | 'BF16' | 'U16'
      ? Uint16Array
      : D extends 'I64'
        ? BigInt64Array
        : D extends 'U64'
          ? BigUint64Array
          : D extends 'I32'
            ? Int32Array
            : D extends 'U32'
              ? Uint32Array
              : D extends 'I16'
                ? Int16Array
                : D extends 'I8'
                  ? Int8Array
                  : Uint8Array;

export type SafetensorsTypedArray = TypedArrayOf<SafetensorsDtype>;

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export class SafetensorsFile {
  readonly source: ByteSource;
  readonly header: SafetensorsHeader;
  /** name → location, in header order. */
  readonly entries: ReadonlyMap<string, TensorInfo>;
  /** `__metadata__` (empty object when the file has none). */
  readonly metadata: Readonly<Record<string, string>>;

  private constructor(source: ByteSource, header: SafetensorsHeader) {
    this.source = source;
    this.header = header;
    this.metadata = header.metadata;
    const entries = new Map<string, TensorInfo>();
    for (const e of header.entries) {
      entries.set(e.name, {
        name: e.name,
        dtype: e.dtype,
        shape: e.shape,
        byteOffset: header.dataStart + e.dataOffsets[0],
        byteLength: e.dataOffsets[1] - e.dataOffsets[0],
      });
    }
    this.entries = entries;
  }

  /** Reads and validates the header of `source`. Throws SafetensorsFormatError for malformed files. */
  static async open(source: ByteSource): Promise<SafetensorsFile> {
    if (!LITTLE_ENDIAN_HOST) throw new UnsupportedError('safetensors', 'big-endian hosts are not supported');
    const size = source.size;
    if (size < HEADER_PREFIX_BYTES) readHeaderLength(new Uint8Array(0), size, source.name); // throws
    const prefix = await source.read(0, HEADER_PREFIX_BYTES);
    const n = readHeaderLength(prefix, size, source.name);
    const headerBytes = await source.read(HEADER_PREFIX_BYTES, n);
    return new SafetensorsFile(source, parseHeader(headerBytes, size, source.name));
  }

  get name(): string {
    return this.source.name;
  }

  keys(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** Location, dtype and shape of `name`; throws SafetensorsKeyError when absent. */
  info(name: string): TensorInfo {
    const e = this.entries.get(name);
    if (!e) throw new SafetensorsKeyError(this.name, name, this.keys());
    return e;
  }

  /** The tensor's raw little-endian bytes (a fresh, aligned array). */
  async readRaw(name: string): Promise<Uint8Array> {
    const e = this.info(name);
    return this.readSpan(e, e.byteOffset, e.byteLength);
  }

  /** The tensor as its natural typed array (F16/BF16 as 16-bit patterns, BOOL as bytes). */
  async readTyped<D extends SafetensorsDtype = SafetensorsDtype>(name: string): Promise<TypedArrayOf<D>> {
    const e = this.info(name);
    return viewAs(await this.readRaw(name), e.dtype) as TypedArrayOf<D>;
  }

  /** Any float tensor as f32 (F16, BF16 exactly; F64 rounded to nearest). */
  async readFloat32(name: string): Promise<Float32Array> {
    const e = this.info(name);
    const raw = await this.readRaw(name);
    switch (e.dtype) {
      case 'F32':
        return viewAs(raw, 'F32') as Float32Array;
      case 'F16':
        return f16ArrayToF32(viewAs(raw, 'F16') as Uint16Array);
      case 'BF16':
        return bf16ArrayToF32(viewAs(raw, 'BF16') as Uint16Array);
      case 'F64':
        return f64ArrayToF32(viewAs(raw, 'F64') as Float64Array);
      default:
        throw new UnsupportedError('readFloat32', `tensor '${name}' in '${this.name}' has dtype ${e.dtype}, not a float`);
    }
  }

  /** Any float tensor as f16 bit patterns (F32, BF16, F64 rounded to nearest even). */
  async readFloat16Bits(name: string): Promise<Uint16Array> {
    const e = this.info(name);
    const raw = await this.readRaw(name);
    switch (e.dtype) {
      case 'F16':
        return viewAs(raw, 'F16') as Uint16Array;
      case 'F32':
        return f32ArrayToF16(viewAs(raw, 'F32') as Float32Array);
      case 'BF16':
        return bf16ArrayToF16(viewAs(raw, 'BF16') as Uint16Array);
      case 'F64':
        return f64ArrayToF16(viewAs(raw, 'F64') as Float64Array);
      default:
        throw new UnsupportedError('readFloat16Bits', `tensor '${name}' in '${this.name}' has dtype ${e.dtype}, not a float`);
    }
  }

  /**
   * Streams a tensor in chunks of at most `maxBytes` (rounded down to whole elements, at least one element).
   * `cb(chunk, byteOffsetInTensor)` is awaited before the next read, so only one chunk is in memory at a time.
   */
  async readChunks(
    name: string,
    maxBytes: number,
    cb: (chunk: Uint8Array, byteOffsetInTensor: number) => void | Promise<void>,
  ): Promise<void> {
    const e = this.info(name);
    if (!Number.isFinite(maxBytes) || maxBytes <= 0) {
      throw new ParameterError('readChunks', 'maxBytes', `must be a positive number, got ${maxBytes}`);
    }
    const elem = DTYPE_SIZES[e.dtype];
    const step = Math.max(elem, Math.floor(maxBytes / elem) * elem);
    for (let done = 0; done < e.byteLength; done += step) {
      const len = Math.min(step, e.byteLength - done);
      await cb(await this.readSpan(e, e.byteOffset + done, len), done);
    }
  }

  async close(): Promise<void> {
    await this.source.close?.();
  }

  private async readSpan(e: TensorInfo, offset: number, length: number): Promise<Uint8Array> {
    let bytes: Uint8Array;
    try {
      bytes = await this.source.read(offset, length);
    } catch (err) {
      if (err instanceof ByteSourceError && offset + length > this.source.size) {
        throw new SafetensorsFormatError(this.name, `tensor '${e.name}' extends past the end of the file`);
      }
      throw err;
    }
    if (bytes.length !== length) {
      throw new SafetensorsFormatError(this.name, `short read of tensor '${e.name}': got ${bytes.length} of ${length} bytes`);
    }
    return bytes;
  }
}

/** Views raw little-endian bytes as the dtype's typed array (copying when the bytes are not aligned). */
export function viewAs(raw: Uint8Array, dtype: SafetensorsDtype): SafetensorsTypedArray {
  const size = DTYPE_SIZES[dtype];
  const bytes = raw.byteOffset % size === 0 ? raw : raw.slice();
  const n = bytes.length / size;
  const b = bytes.buffer;
  const o = bytes.byteOffset;
  switch (dtype) {
    case 'F64':
      return new Float64Array(b, o, n);
    case 'F32':
      return new Float32Array(b, o, n);
    case 'F16':
    case 'BF16':
    case 'U16':
      return new Uint16Array(b, o, n);
    case 'I64':
      return new BigInt64Array(b, o, n);
    case 'U64':
      return new BigUint64Array(b, o, n);
    case 'I32':
      return new Int32Array(b, o, n);
    case 'U32':
      return new Uint32Array(b, o, n);
    case 'I16':
      return new Int16Array(b, o, n);
    case 'I8':
      return new Int8Array(b, o, n);
    case 'U8':
    case 'BOOL':
      return new Uint8Array(b, o, n);
  }
}
