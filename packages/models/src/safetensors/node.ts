/**
 * Node file source: reads by position through a file handle and never loads the whole file.
 * Import this module only from Node (it pulls in `node:fs/promises`); `openSafetensors` loads it dynamically.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { ByteSourceError } from './errors.js';
import { SafetensorsFile } from './file.js';
import { checkRange, type ByteSource } from './source.js';

/** fs reads are limited to 2 GiB - 1 per call; stay well below. */
const MAX_READ_CALL = 1 << 30;

export class NodeFileSource implements ByteSource {
  readonly size: number;
  readonly name: string;
  private handle: FileHandle | undefined;

  private constructor(handle: FileHandle, size: number, name: string) {
    this.handle = handle;
    this.size = size;
    this.name = name;
  }

  static async open(path: string | URL): Promise<NodeFileSource> {
    const name = typeof path === 'string' ? path : fileURLToPath(path);
    let handle: FileHandle;
    try {
      handle = await open(name, 'r');
    } catch (e) {
      throw new ByteSourceError(name, (e as Error).message);
    }
    try {
      const st = await handle.stat();
      if (!st.isFile()) throw new ByteSourceError(name, 'not a regular file');
      return new NodeFileSource(handle, st.size, name);
    } catch (e) {
      await handle.close();
      if (e instanceof ByteSourceError) throw e;
      throw new ByteSourceError(name, (e as Error).message);
    }
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this, offset, length);
    const handle = this.handle;
    if (!handle) throw new ByteSourceError(this.name, 'file was closed');
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const want = Math.min(length - done, MAX_READ_CALL);
      let bytesRead: number;
      try {
        ({ bytesRead } = await handle.read(out, done, want, offset + done));
      } catch (e) {
        throw new ByteSourceError(this.name, `read of ${want} bytes at ${offset + done} failed: ${(e as Error).message}`);
      }
      if (bytesRead === 0) {
        throw new ByteSourceError(this.name, `unexpected end of file at ${offset + done} (file shrank after opening?)`);
      }
      done += bytesRead;
    }
    return out;
  }

  async close(): Promise<void> {
    const h = this.handle;
    this.handle = undefined;
    if (h) await h.close();
  }
}

/** Opens a safetensors file from a path (or file: URL) and parses its header. Close it with `file.close()`. */
export async function openSafetensorsFile(path: string | URL): Promise<SafetensorsFile> {
  const source = await NodeFileSource.open(path);
  try {
    return await SafetensorsFile.open(source);
  } catch (e) {
    await source.close();
    throw e;
  }
}
