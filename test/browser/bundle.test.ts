/**
 * The browser build (scripts/build-browser.mjs): the demo page bundles for platform 'browser' and its entry chunk
 * loads no Node built-in; the Node-isolation check itself catches static and unreviewed dynamic paths to built-ins.
 * (headless.test.ts runs the page in chromium.)
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import type { Metafile } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BrowserBundleError, buildBrowser, entryChunkClosure, findNodeImports, isForbiddenSpecifier,
} from '../../scripts/build-browser.mjs';

const ROOT = resolve(import.meta.dirname, '../..');
const tmp = mkdtempSync(join(tmpdir(), 'sd-browser-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Specifiers a chunk loads statically: `import … from "x"`, `import "x"`, `export … from "x"`, `__require("x")`. */
function staticSpecifiers(js: string): string[] {
  const out: string[] = [];
  const patterns = [
    /^\s*import\s*(?:[\w$*{}\s,]+?\s*from\s*)?["']([^"']+)["']/gm,
    /^\s*export\s*[\w$*{}\s,]+?\s*from\s*["']([^"']+)["']/gm,
    /\b__require\(\s*["']([^"']+)["']\s*\)/g,
  ];
  for (const re of patterns) for (const m of js.matchAll(re)) out.push(m[1]!);
  return out;
}

/** Every specifier the emitted entry file and the chunk files it imports (transitively, statically) load. */
function emittedStaticImports(entryFile: string): Map<string, string[]> {
  const byFile = new Map<string, string[]>();
  const queue = [entryFile];
  while (queue.length > 0) {
    const file = queue.shift()!;
    if (byFile.has(file)) continue;
    const specs = staticSpecifiers(readFileSync(file, 'utf8'));
    byFile.set(file, specs);
    for (const s of specs) if (s.startsWith('./') || s.startsWith('../')) queue.push(resolve(dirname(file), s));
  }
  return byFile;
}

function entryFile(name: string, source: string): string {
  const path = join(tmp, name);
  writeFileSync(path, source);
  return path;
}

describe('demo page bundle', () => {
  const outdir = join(tmp, 'page', 'dist');

  it('bundles examples/browser/main.ts with no Node built-in loaded by the entry chunk', async () => {
    // Throws BrowserBundleError (listing each import chain) when the library pulls a Node module into this path.
    const out = await buildBrowser({ outdir });
    expect(basename(out.entryChunk)).toBe('main.js'); // index.html loads ./dist/main.js
    const { forbidden } = entryChunkClosure(out.metafile, out.entryChunk);
    expect(forbidden).toEqual([]);

    // Independently of the metafile: read what was written and follow its static imports.
    const files = emittedStaticImports(join(outdir, 'main.js'));
    expect(files.size).toBe(out.chunks.length);
    const offenders = [...files].flatMap(([f, specs]) => specs.filter(isForbiddenSpecifier).map((s) => `${basename(f)}: ${s}`));
    expect(offenders).toEqual([]);
    // The lazily loaded chunks are the Node-only paths (file system access), never imported statically.
    for (const lazy of out.lazyChunks) expect(files.has(resolve(ROOT, lazy))).toBe(false);

    // The CLIP vocabulary sits next to the bundle, byte for byte.
    const vocab = readFileSync(join(outdir, 'bpe_simple_vocab_16e6.txt.gz'));
    expect(vocab.equals(readFileSync(join(ROOT, 'packages/models/assets/bpe_simple_vocab_16e6.txt.gz')))).toBe(true);
  });

  it('index.html has every element ui.ts looks up, a favicon, and loads ./dist/main.js as a module', () => {
    const html = readFileSync(join(ROOT, 'examples/browser/index.html'), 'utf8');
    const ui = readFileSync(join(ROOT, 'examples/browser/ui.ts'), 'utf8');
    const ids = [...ui.matchAll(/element\('([\w-]+)'/g)].map((m) => m[1]!);
    expect(ids.length).toBeGreaterThan(10);
    for (const id of ids) expect(html, `#${id}`).toContain(`id="${id}"`);
    expect(html).toContain('<script type="module" src="./dist/main.js">');
    expect(html).toMatch(/<input id="model-folder" type="file" webkitdirectory/);
    expect(html).toMatch(/<link rel="icon" href="data:image\/svg\+xml,/); // inline: no favicon.ico request to 404
  });
});

describe('Node-isolation check', () => {
  const meta = (inputs: Record<string, Array<{ path: string; kind: string; external?: boolean }>>): Metafile =>
    ({ inputs: Object.fromEntries(Object.entries(inputs).map(([k, imports]) => [k, { bytes: 0, imports }])), outputs: {} }) as unknown as Metafile;

  it('names forbidden specifiers: node:*, bare built-ins, webgpu; not ordinary packages', () => {
    for (const s of ['node:fs', 'fs', 'fs/promises', 'zlib', 'node:stream/web', 'webgpu']) expect(isForbiddenSpecifier(s), s).toBe(true);
    for (const s of ['pngjs', 'jpeg-js', '@sd-webgpu/tensor', './node', 'fsevents']) expect(isForbiddenSpecifier(s), s).toBe(false);
  });

  it('reports the chain of a static path and skips only allow-listed dynamic imports', () => {
    const m = meta({
      'e.ts': [{ path: 'a.ts', kind: 'import-statement' }, { path: 'lazy.ts', kind: 'dynamic-import' }, { path: 'ok.ts', kind: 'dynamic-import' }],
      'a.ts': [{ path: 'b.js', kind: 'import-statement' }],
      'b.js': [{ path: 'node:zlib', kind: 'require-call', external: true }],
      'lazy.ts': [{ path: 'node:fs', kind: 'import-statement', external: true }],
      'ok.ts': [{ path: 'node:path', kind: 'import-statement', external: true }],
    });
    const v = findNodeImports(m, 'e.ts', new Set(['e.ts -> ok.ts']));
    expect(v.map((x) => x.specifier).sort()).toEqual(['node:fs', 'node:zlib']);
    expect(v.find((x) => x.specifier === 'node:zlib')!.chain).toEqual(['e.ts', 'a.ts', 'b.js', 'node:zlib']);
    expect(v.find((x) => x.specifier === 'node:fs')!.chain).toEqual(['e.ts', 'lazy.ts', 'node:fs']);
    // The allow-list is per importer: the same target imported dynamically from elsewhere is not excused.
    const m2 = meta({ 'e.ts': [{ path: 'x.ts', kind: 'import-statement' }], 'x.ts': [{ path: 'ok.ts', kind: 'dynamic-import' }], 'ok.ts': m.inputs['ok.ts']!.imports });
    expect(findNodeImports(m2, 'e.ts', new Set(['e.ts -> ok.ts'])).map((x) => x.specifier)).toEqual(['node:path']);
  });

  it('fails a real build whose entry imports node:fs, and writes nothing', async () => {
    const entry = entryFile('static_fs.ts', "import { readFileSync } from 'node:fs';\nexport const x = readFileSync;\n");
    const outdir = join(tmp, 'static_fs');
    const err = await buildBrowser({ entry, outdir }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(BrowserBundleError);
    expect((err as Error).message).toMatch(/static_fs\.ts\n\s+-> node:fs/);
    expect(existsSync(outdir)).toBe(false);
  });

  it('fails a build reaching a bare built-in (zlib) through an unreviewed dynamic import', async () => {
    entryFile('uses_zlib.ts', "import { gzipSync } from 'zlib';\nexport const z = gzipSync;\n");
    const entry = entryFile('lazy_zlib.ts', "export const load = () => import('./uses_zlib');\n");
    const err = await buildBrowser({ entry, outdir: join(tmp, 'lazy_zlib') }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(BrowserBundleError);
    const v = (err as BrowserBundleError).violations;
    expect(v.map((x) => x.specifier)).toEqual(['node:zlib']);
    expect(v[0]!.chain.map((p) => basename(p))).toEqual(['lazy_zlib.ts', 'uses_zlib.ts', 'node:zlib']);
  });

  it('passes the models package, whose Node file access sits behind the reviewed dynamic imports', async () => {
    const entry = entryFile('models_only.ts', "export { openCheckpoint, loadDefaultTokenizer } from '@sd-webgpu/models';\n");
    const out = await buildBrowser({ entry, outdir: join(tmp, 'models_only') });
    expect(out.lazyChunks.length).toBeGreaterThanOrEqual(2); // safetensors/node.ts and checkpoint/node-tree.ts
    const files = readdirSync(join(tmp, 'models_only'));
    expect(files).toContain('models_only.js');
  });
});
