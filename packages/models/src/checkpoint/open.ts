/**
 * `openCheckpoint(source)`: detects the layout (diffusers folder or original single file) and opens it.
 */
import { ParameterError } from '@sd-webgpu/tensor';
import { MissingComponentError } from '../weights/errors.js';
import { DiffusersCheckpoint } from './folder.js';
import { SingleFileCheckpoint } from './single-file.js';
import { type FileRef, MapTree } from './tree.js';
import { type Checkpoint, type CheckpointSource, type OpenCheckpointOptions, urlOptions } from './types.js';

const isNode = (): boolean =>
  typeof process !== 'undefined' && typeof (process as { versions?: { node?: string } }).versions?.node === 'string';

export async function openCheckpoint(source: CheckpointSource, opts: OpenCheckpointOptions = {}): Promise<Checkpoint> {
  if (typeof source === 'string') {
    if (/^https?:\/\//i.test(source) || !isNode()) return SingleFileCheckpoint.open(source, source, opts);
    return openPath(source, opts);
  }
  if (source instanceof URL) {
    if (source.protocol === 'file:' && isNode()) {
      const { fileURLToPath } = await import('node:url');
      return openPath(fileURLToPath(source), opts);
    }
    return SingleFileCheckpoint.open(source, source.href, opts);
  }
  if (typeof Blob !== 'undefined' && source instanceof Blob) {
    return SingleFileCheckpoint.open(source, opts.name ?? blobName(source) ?? 'checkpoint', opts);
  }
  if (typeof source === 'object' && source !== null) {
    const entries: [string, FileRef][] =
      source instanceof Map ? [...(source as ReadonlyMap<string, FileRef>)] : Object.entries(source as Record<string, FileRef>);
    return openMap(entries, opts);
  }
  throw new ParameterError('openCheckpoint', 'source', 'must be a path, URL, Blob/File, or a map of relative paths to files');
}

async function openPath(path: string, opts: OpenCheckpointOptions): Promise<Checkpoint> {
  const { NodeTree, pathKind } = await import('./node-tree.js');
  const kind = await pathKind(path);
  if (kind === null) throw new MissingComponentError(path, 'checkpoint', 'no such file or folder');
  if (kind === 'dir') return DiffusersCheckpoint.open(new NodeTree(path), opts);
  return SingleFileCheckpoint.open(path, path, opts);
}

async function openMap(entries: [string, FileRef][], opts: OpenCheckpointOptions): Promise<Checkpoint> {
  const name = opts.name ?? 'checkpoint';
  if (entries.length === 0) throw new ParameterError('openCheckpoint', 'source', 'is an empty file map');
  const tree = new MapTree(entries, name, urlOptions(opts));
  const paths = tree.paths();
  const isFolder = paths.some((p) => p === 'model_index.json' || /^(unet|vae|text_encoder)\//.test(p));
  if (isFolder) return DiffusersCheckpoint.open(tree, opts);
  if (entries.length === 1) {
    const [path, ref] = entries[0]!;
    return SingleFileCheckpoint.open(ref, opts.name ?? path, opts);
  }
  throw new MissingComponentError(name, 'unet', `the file map is neither a diffusers folder nor a single file (has ${paths.slice(0, 5).join(', ')}${paths.length > 5 ? ', ...' : ''})`);
}

function blobName(b: Blob): string | undefined {
  const n = (b as { name?: unknown }).name;
  return typeof n === 'string' && n ? n : undefined;
}
