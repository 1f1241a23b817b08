/**
 * Atomic output files: each file is written in full to a temporary sibling (same folder, so the rename stays on one
 * file system), flushed to disk, then renamed over the target. A failure while writing leaves no partial file and
 * no temporary behind, and the targets untouched.
 *
 * Several files are committed together: every temporary is written first, then all are renamed. Only a failure of
 * a rename itself (rare: the data is already on disk) can leave the earlier targets replaced and the later ones not.
 */
import * as nodeFs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, extname, join } from 'node:path';
import { SdError } from '@sd-webgpu/tensor';

/** An output file that could not be written. */
export class OutputWriteError extends SdError {
  readonly path: string;
  constructor(path: string, detail: string) {
    super('output_write', `cannot write ${JSON.stringify(path)}: ${detail}`);
    this.path = path;
  }
}

/** The file-system calls used (node:fs; tests substitute failing ones). */
export interface WriteFs {
  openSync(path: string, flags: string, mode?: number): number;
  writeSync(fd: number, data: Uint8Array, offset?: number, length?: number): number;
  fsyncSync(fd: number): void;
  closeSync(fd: number): void;
  renameSync(from: string, to: string): void;
  unlinkSync(path: string): void;
}

const NODE_FS: WriteFs = {
  openSync: (path, flags, mode) => nodeFs.openSync(path, flags, mode),
  writeSync: (fd, data, offset, length) => nodeFs.writeSync(fd, data, offset, length),
  fsyncSync: (fd) => nodeFs.fsyncSync(fd),
  closeSync: (fd) => nodeFs.closeSync(fd),
  renameSync: (from, to) => nodeFs.renameSync(from, to),
  unlinkSync: (path) => nodeFs.unlinkSync(path),
};

export interface OutputFile {
  path: string;
  data: Uint8Array;
}

/** `out.png` for one image; `out-1.png`, `out-2.png`, … for several. */
export function outputPaths(output: string, count: number): string[] {
  if (count === 1) return [output];
  const ext = extname(output);
  const stem = output.slice(0, output.length - ext.length);
  return Array.from({ length: count }, (_, i) => `${stem}-${i + 1}${ext}`);
}

/** A hidden, unique temporary name next to `path`. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
}

function writeFully(fs: WriteFs, path: string, data: Uint8Array): void {
  const fd = fs.openSync(path, 'wx', 0o644); // 'wx': never clobber an existing file with a temporary
  try {
    let off = 0;
    while (off < data.length) off += fs.writeSync(fd, data, off, data.length - off);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function tryUnlink(fs: WriteFs, path: string): void {
  try {
    fs.unlinkSync(path);
  } catch {
    // already gone; nothing else to clean
  }
}

const reason = (e: unknown) => (e instanceof Error ? e.message : String(e));

/**
 * Checks that every path can be written the way writeFilesAtomic will: creates and removes its temporary sibling.
 * Run before the model loads, so `--output /proc/x.png` or a read-only folder fails in a second, not after the run.
 */
export function checkWritable(paths: readonly string[], fs: WriteFs = NODE_FS): void {
  for (const path of paths) {
    const tmp = tempPathFor(path);
    try {
      fs.closeSync(fs.openSync(tmp, 'wx', 0o644));
    } catch (e) {
      throw new OutputWriteError(path, reason(e));
    }
    tryUnlink(fs, tmp);
  }
}

/** Writes all `files` atomically (see the file comment). Throws OutputWriteError naming the file that failed. */
export function writeFilesAtomic(files: readonly OutputFile[], fs: WriteFs = NODE_FS): void {
  const temps: string[] = [];
  let i = 0;
  try {
    for (; i < files.length; i++) {
      const tmp = tempPathFor(files[i]!.path);
      temps.push(tmp);
      writeFully(fs, tmp, files[i]!.data);
    }
  } catch (e) {
    for (const t of temps) tryUnlink(fs, t);
    throw new OutputWriteError(files[i]!.path, reason(e));
  }
  for (i = 0; i < files.length; i++) {
    try {
      fs.renameSync(temps[i]!, files[i]!.path);
    } catch (e) {
      for (const t of temps.slice(i)) tryUnlink(fs, t);
      throw new OutputWriteError(files[i]!.path, reason(e));
    }
  }
}
