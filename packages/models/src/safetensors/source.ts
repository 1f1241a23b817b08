/**
 * Random-access byte sources: the only thing the safetensors reader needs from a file, a blob or a URL.
 * The Node file source lives in `./node` so that browser bundles never see `node:fs`; the URL source is in `./fetch`.
 */
import { ByteSourceError } from './errors.js';

export interface ByteSource {
  /** Total size in bytes. */
  readonly size: number;
  /** A name for messages (path, URL, file name). */
  readonly name: string;
  /**
   * Reads `length` bytes at `offset`. Resolves to a fresh array of exactly `length` bytes that the caller owns
   * (byteOffset 0, so typed views of it are aligned). Rejects with ByteSourceError when the range is outside the
   * source or the bytes cannot be delivered.
   */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Releases OS resources (file handles). Optional; safe to call twice. */
  close?(): Promise<void>;
}

/** Throws unless [offset, offset + length) is a valid range of a source of `size` bytes. */
export function checkRange(source: { name: string; size: number }, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new ByteSourceError(source.name, `invalid range offset=${offset} length=${length}`);
  }
  if (offset + length > source.size) {
    throw new ByteSourceError(
      source.name,
      `range [${offset}, ${offset + length}) lies beyond the end of the source (${source.size} bytes)`,
    );
  }
}

/** A source backed by bytes already in memory. Reads return copies, so callers can never alias the buffer. */
export class MemorySource implements ByteSource {
  readonly size: number;
  readonly name: string;
  private readonly bytes: Uint8Array;

  constructor(bytes: Uint8Array | ArrayBuffer, name = 'memory') {
    this.bytes = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
    this.size = this.bytes.length;
    this.name = name;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this, offset, length);
    return this.bytes.slice(offset, offset + length);
  }
}

/** A browser `Blob` / `File` (also available in Node ≥ 20). Reads slice the blob, so the file is never loaded whole. */
export class BlobSource implements ByteSource {
  readonly size: number;
  readonly name: string;
  private readonly blob: Blob;

  constructor(blob: Blob, name?: string) {
    this.blob = blob;
    this.size = blob.size;
    this.name = name ?? ((blob as { name?: unknown }).name as string | undefined) ?? 'blob';
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this, offset, length);
    let buf: ArrayBuffer;
    try {
      buf = await this.blob.slice(offset, offset + length).arrayBuffer();
    } catch (e) {
      throw new ByteSourceError(this.name, `blob read of [${offset}, ${offset + length}) failed: ${(e as Error).message}`);
    }
    if (buf.byteLength !== length) {
      throw new ByteSourceError(this.name, `blob read of ${length} bytes at ${offset} returned ${buf.byteLength}`);
    }
    return new Uint8Array(buf);
  }
}

/** True when `x` has the shape of a ByteSource. */
export function isByteSource(x: unknown): x is ByteSource {
  if (typeof x !== 'object' || x === null) return false;
  const s = x as Partial<ByteSource>;
  return typeof s.read === 'function' && typeof s.size === 'number' && typeof s.name === 'string';
}
