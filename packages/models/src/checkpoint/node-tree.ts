/** A checkpoint folder on a Node file system. Imported on demand only (it pulls in node:fs). */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ByteSourceError } from '../safetensors/errors.js';
import type { FileTree } from './tree.js';

export class NodeTree implements FileTree {
  readonly name: string;

  constructor(root: string) {
    this.name = root.replace(/[\\/]+$/, '');
  }

  async exists(path: string): Promise<boolean> {
    try {
      return (await stat(join(this.name, path))).isFile();
    } catch {
      return false;
    }
  }

  async readText(path: string): Promise<string> {
    try {
      return await readFile(join(this.name, path), 'utf8');
    } catch (e) {
      throw new ByteSourceError(this.display(path), (e as Error).message);
    }
  }

  input(path: string): string {
    return join(this.name, path);
  }

  display(path: string): string {
    return join(this.name, path);
  }
}

/** 'dir', 'file', or null when nothing is at `path`. */
export async function pathKind(path: string): Promise<'dir' | 'file' | null> {
  try {
    const s = await stat(path);
    return s.isDirectory() ? 'dir' : 'file';
  } catch {
    return null;
  }
}
