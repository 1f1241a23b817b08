/**
 * One entry point for every kind of input: a path (Node), a URL, a Blob/File, bytes, or a custom ByteSource.
 * The Node file source is imported dynamically, so browser bundles that never pass a path never load `node:fs`.
 * Browser builds: bundle with code splitting and `node:*` external (esbuild `--splitting --external:node:*`); the
 * `./node` chunk is then emitted separately and only fetched when a path is opened under Node.
 */
import { ParameterError } from '@sd-webgpu/tensor';
import { SafetensorsFile } from './file.js';
import { UrlSource, type UrlSourceOptions } from './fetch.js';
import { BlobSource, MemorySource, isByteSource, type ByteSource } from './source.js';

export type SafetensorsInput = string | URL | Blob | Uint8Array | ArrayBuffer | ByteSource;

export interface OpenSafetensorsOptions extends UrlSourceOptions {
  /** Name used in messages for Uint8Array / ArrayBuffer / Blob inputs. */
  name?: string;
}

const isNode = (): boolean =>
  typeof process !== 'undefined' && typeof (process as { versions?: { node?: string } }).versions?.node === 'string';

const isHttpUrl = (s: string): boolean => /^https?:\/\//i.test(s);

/** Opens `input` as a byte source without parsing it. */
export async function openByteSource(input: SafetensorsInput, opts: OpenSafetensorsOptions = {}): Promise<ByteSource> {
  if (typeof input === 'string') {
    if (isHttpUrl(input) || !isNode()) return UrlSource.open(input, opts);
    const { NodeFileSource } = await import('./node.js');
    return NodeFileSource.open(input);
  }
  if (input instanceof URL) {
    if (input.protocol === 'file:' && isNode()) {
      const { NodeFileSource } = await import('./node.js');
      return NodeFileSource.open(input);
    }
    return UrlSource.open(input, opts);
  }
  if (typeof Blob !== 'undefined' && input instanceof Blob) return new BlobSource(input, opts.name);
  if (input instanceof Uint8Array || input instanceof ArrayBuffer) return new MemorySource(input, opts.name);
  if (isByteSource(input)) return input;
  throw new ParameterError('openSafetensors', 'source', 'must be a path, URL, Blob, Uint8Array, ArrayBuffer or ByteSource');
}

/** Opens and parses a safetensors file. Call `close()` on the result when it came from a path. */
export async function openSafetensors(input: SafetensorsInput, opts: OpenSafetensorsOptions = {}): Promise<SafetensorsFile> {
  const source = await openByteSource(input, opts);
  try {
    return await SafetensorsFile.open(source);
  } catch (e) {
    if (source !== input) await source.close?.();
    throw e;
  }
}
