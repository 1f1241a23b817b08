/**
 * File access for checkpoint folders: a Node directory (./node-tree, loaded on demand so browser bundles never see
 * node:fs) or, in browsers, a map of relative paths to `File`s / `Blob`s / URLs (e.g. from `<input webkitdirectory>`).
 */
import { SafetensorsFile, openByteSource, type SafetensorsInput, type UrlSourceOptions } from '../safetensors/index.js';
import { ByteSourceError } from '../safetensors/errors.js';
import { JsonFileError, NotSafetensorsError } from '../weights/errors.js';

/** A file of a browser folder map: its content or where to fetch it. */
export type FileRef = Blob | string | URL;

export interface FileTree {
  /** The folder, for messages. */
  readonly name: string;
  exists(path: string): Promise<boolean>;
  readText(path: string): Promise<string>;
  /** What the safetensors reader opens for `path`. */
  input(path: string): SafetensorsInput;
  /** `path` as shown in messages. */
  display(path: string): string;
}

/** A folder given as relative path → file. A single common top folder (`sd15/unet/...`) is stripped. */
export class MapTree implements FileTree {
  readonly name: string;
  readonly #files: Map<string, FileRef>;
  readonly #fetch: UrlSourceOptions;

  constructor(files: Iterable<readonly [string, FileRef]>, name: string, fetchOpts: UrlSourceOptions = {}) {
    const entries = [...files].map(([p, f]) => [normalize(p), f] as const);
    const tops = new Set(entries.map(([p]) => (p.includes('/') ? p.slice(0, p.indexOf('/')) : '')));
    const [top] = tops;
    const strip = tops.size === 1 && top !== '' && top !== undefined && !isComponentDir(top) ? top.length + 1 : 0;
    this.#files = new Map(entries.map(([p, f]) => [p.slice(strip), f]));
    this.name = strip ? `${name}/${top}` : name;
    this.#fetch = fetchOpts;
  }

  /** Relative paths of every file. */
  paths(): string[] {
    return [...this.#files.keys()];
  }

  async exists(path: string): Promise<boolean> {
    return this.#files.has(normalize(path));
  }

  async readText(path: string): Promise<string> {
    const f = this.#get(path);
    if (typeof Blob !== 'undefined' && f instanceof Blob) return f.text();
    const fetchFn = this.#fetch.fetch ?? globalThis.fetch;
    const url = String(f);
    let res: Response;
    try {
      res = await fetchFn(url, { headers: this.#fetch.headers });
    } catch (e) {
      throw new ByteSourceError(url, (e as Error).message);
    }
    if (!res.ok) throw new ByteSourceError(url, `HTTP ${res.status} ${res.statusText}`);
    return res.text();
  }

  input(path: string): SafetensorsInput {
    return this.#get(path);
  }

  display(path: string): string {
    return `${this.name}/${normalize(path)}`;
  }

  #get(path: string): FileRef {
    const f = this.#files.get(normalize(path));
    if (f === undefined) throw new ByteSourceError(this.display(path), 'no such file in the folder map');
    return f;
  }
}

function normalize(p: string): string {
  return p.replace(/\\/g, '/').replace(/^(\.\/|\/)+/, '');
}

function isComponentDir(name: string): boolean {
  return ['unet', 'vae', 'text_encoder', 'tokenizer', 'scheduler'].includes(name);
}

/** Reads a JSON file of a tree; malformed JSON names the file. */
export async function readJson(tree: FileTree, path: string): Promise<Record<string, unknown>> {
  const text = await tree.readText(path);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new JsonFileError(tree.display(path), (e as Error).message);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new JsonFileError(tree.display(path), 'not a JSON object');
  return json as Record<string, unknown>;
}

// ---- recognising pickles (a clear NotSafetensorsError instead of a header-length complaint) ----

/**
 * Opens a weights file once: throws `NotSafetensorsError` when its first bytes are a zip (torch.save) or a pickle
 * stream (legacy torch.save), else parses it as safetensors from the same byte source (so a URL whose server ignores
 * Range requests is downloaded once, not once for the sniff and again for the reader).
 */
export async function openCheckedSafetensors(input: SafetensorsInput, file: string, opts: UrlSourceOptions = {}): Promise<SafetensorsFile> {
  const src = await openByteSource(input, { ...opts, name: file });
  try {
    const kind = pickleKind(await src.read(0, Math.min(8, src.size)));
    if (kind) throw new NotSafetensorsError(file, kind);
    return await SafetensorsFile.open(src);
  } catch (e) {
    if (src !== input) await src.close?.();
    throw e;
  }
}

export function pickleKind(head: Uint8Array): string | null {
  if (head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04) {
    return 'it is a zip archive (PyTorch torch.save format, as .ckpt / .pt / .bin files are)';
  }
  if (head.length >= 2 && head[0] === 0x80 && head[1]! >= 2 && head[1]! <= 5) {
    return `it is a Python pickle (protocol ${head[1]}, legacy PyTorch format)`;
  }
  return null;
}
