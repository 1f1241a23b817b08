/**
 * Loading the vocabulary that ships with the package: `packages/models/assets/bpe_simple_vocab_16e6.txt.gz`
 * (OpenAI's file, byte for byte).
 */
import { ClipTokenizer } from './clip_tokenizer.js';
import { TokenizerLoadError } from './errors.js';

/**
 * The shipped vocabulary, resolved relative to this module. From the source file
 * `packages/models/src/clip/tokenizer/load_default.ts`, '../../../' is `packages/models/`. A bundle that moves this
 * module to another depth (e.g. `dist/index.js`) must copy the asset accordingly or pass `bytes`/`url` instead;
 * bundlers that understand `new URL(literal, import.meta.url)` (Vite, esbuild with a file loader) emit the asset.
 */
export const DEFAULT_BPE_URL: URL = new URL('../../../assets/bpe_simple_vocab_16e6.txt.gz', import.meta.url);

export interface DefaultTokenizerSource {
  /** The `.txt.gz` bytes, when the caller already has them (e.g. from a file picker or its own cache). */
  bytes?: Uint8Array;
  /** Where to fetch the `.txt.gz` from; `file:` URLs are read from disk in Node. Default: DEFAULT_BPE_URL. */
  url?: string | URL;
  /** fetch implementation for http(s) URLs (default: the global fetch). */
  fetch?: typeof fetch;
}

const isNode = (): boolean =>
  typeof process !== 'undefined' && typeof (process as { versions?: { node?: string } }).versions?.node === 'string';

async function readFileUrl(url: URL): Promise<Uint8Array> {
  // Computed specifier: browser bundles must not try to resolve a Node built-in.
  const fsId = 'node:fs/promises';
  const fs = (await import(/* @vite-ignore */ fsId)) as typeof import('node:fs/promises');
  try {
    return new Uint8Array(await fs.readFile(url));
  } catch (e) {
    throw new TokenizerLoadError(url.href, (e as Error).message);
  }
}

async function fetchBytes(url: URL, fetchImpl: typeof fetch | undefined): Promise<Uint8Array> {
  const f = fetchImpl ?? (typeof fetch === 'function' ? fetch : undefined);
  if (!f) throw new TokenizerLoadError(url.href, 'no fetch implementation available; pass `bytes` or `fetch`');
  let res: Response;
  try {
    res = await f(url);
  } catch (e) {
    throw new TokenizerLoadError(url.href, `fetch failed (${(e as Error).message})`);
  }
  if (!res.ok) throw new TokenizerLoadError(url.href, `HTTP ${res.status} ${res.statusText}`);
  return new Uint8Array(await res.arrayBuffer());
}

/**
 * The CLIP tokenizer with the shipped vocabulary. In Node it reads the asset from disk; in browsers it fetches it
 * (or pass `bytes` / `url`).
 */
export async function loadDefaultTokenizer(source: DefaultTokenizerSource = {}): Promise<ClipTokenizer> {
  if (source.bytes) return ClipTokenizer.fromBpeGz(source.bytes);
  let url: URL;
  try {
    url = source.url === undefined ? DEFAULT_BPE_URL : new URL(source.url, DEFAULT_BPE_URL);
  } catch (e) {
    throw new TokenizerLoadError(String(source.url), `not a valid URL (${(e as Error).message})`);
  }
  if (url.protocol === 'file:' && isNode()) {
    const bytes = await readFileUrl(url).catch(async (e: unknown) => {
      // A bundle (e.g. dist/ or the CLI's esbuild output) moved this module: find the asset through the package.
      const packaged = source.url === undefined ? await packagedAssetUrl() : null;
      if (!packaged) throw e;
      return readFileUrl(packaged);
    });
    return ClipTokenizer.fromBpeGz(bytes);
  }
  return ClipTokenizer.fromBpeGz(await fetchBytes(url, source.fetch));
}

/** The asset resolved through Node's module resolution of `@sd-webgpu/models` (null when not resolvable). */
async function packagedAssetUrl(): Promise<URL | null> {
  const moduleId = 'node:module';
  const urlId = 'node:url';
  try {
    const { createRequire } = (await import(/* @vite-ignore */ moduleId)) as typeof import('node:module');
    const { pathToFileURL } = (await import(/* @vite-ignore */ urlId)) as typeof import('node:url');
    const path = createRequire(import.meta.url).resolve('@sd-webgpu/models/assets/bpe_simple_vocab_16e6.txt.gz');
    return pathToFileURL(path);
  } catch {
    return null;
  }
}
