// Types of scripts/build-browser.mjs (imported by test/browser/bundle.test.ts).
import type { Metafile } from 'esbuild';

export declare const DEFAULT_ENTRY: string;
export declare const DEFAULT_OUTDIR: string;
export declare const VOCAB_ASSET: string;
export declare const NODE_ONLY_DYNAMIC_IMPORTS: ReadonlySet<string>;

export declare function isForbiddenSpecifier(spec: string): boolean;

export interface NodeImportViolation {
  /** The forbidden specifier (`node:zlib`, `webgpu`). */
  specifier: string;
  /** esbuild's import kind of the first edge found: 'import-statement', 'require-call', 'dynamic-import', ... */
  kind: string;
  /** The entry, the modules (or chunks) in between, the direct importer, then the specifier. */
  chain: string[];
  /** Every module that imports the specifier on a browser-reachable path. */
  importers: string[];
}

export declare class BrowserBundleError extends Error {
  readonly violations: NodeImportViolation[];
  constructor(violations: NodeImportViolation[]);
}

export declare function findNodeImports(metafile: Metafile, entry: string, allowed?: ReadonlySet<string>): NodeImportViolation[];

export declare function entryChunkClosure(
  metafile: Metafile,
  entryChunk: string,
): { chunks: string[]; forbidden: Array<{ chunk: string; specifier: string; kind: string }>; lazyChunks: string[] };

export interface BrowserBuild {
  outdir: string;
  /** The entry chunk, relative to the repository root. */
  entryChunk: string;
  /** The entry chunk and the chunks it imports statically. */
  chunks: string[];
  /** Chunks only reached through dynamic imports. */
  lazyChunks: string[];
  metafile: Metafile;
}

export declare function buildBrowser(opts?: { entry?: string; outdir?: string; minify?: boolean }): Promise<BrowserBuild>;
