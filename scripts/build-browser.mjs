#!/usr/bin/env node
// Bundles the browser demo (examples/browser/main.ts) into examples/browser/dist/ (ESM, code splitting) and copies the
// CLIP vocabulary next to it. The build fails when a Node built-in (or Dawn's `webgpu` package) is reachable from the
// entry other than through one of the reviewed, Node-only dynamic imports listed in NODE_ONLY_DYNAMIC_IMPORTS.
//
//   node scripts/build-browser.mjs            build (and check)
//   node scripts/build-browser.mjs --serve    build, then serve examples/browser/ on http://localhost:8000/
import { build, context } from 'esbuild';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = resolve(import.meta.dirname, '..');
const pkg = (name) => resolve(root, `packages/${name}/src/index.ts`);
const alias = Object.fromEntries(['tensor', 'kernels', 'models', 'pipeline'].map((n) => [`@sd-webgpu/${n}`, pkg(n)]));

export const DEFAULT_ENTRY = resolve(root, 'examples/browser/main.ts');
export const DEFAULT_OUTDIR = resolve(root, 'examples/browser/dist');
export const VOCAB_ASSET = resolve(root, 'packages/models/assets/bpe_simple_vocab_16e6.txt.gz');

/**
 * Dynamic imports that may lead to Node built-ins because they only run under Node, as `importer -> target` (paths
 * relative to the repository root; a built-in target by its specifier). Each was checked by hand:
 * - safetensors/open.ts imports ./node only when isNode() holds (a file path or a file: URL);
 * - checkpoint/open.ts imports node:url and ./node-tree only when isNode() holds (a file: URL or a path).
 * A new dynamic import reaching a built-in fails the build until it is reviewed and added here.
 */
export const NODE_ONLY_DYNAMIC_IMPORTS = new Set([
  'packages/models/src/safetensors/open.ts -> packages/models/src/safetensors/node.ts',
  'packages/models/src/checkpoint/open.ts -> node:url',
  'packages/models/src/checkpoint/open.ts -> packages/models/src/checkpoint/node-tree.ts',
]);

/** Specifiers that must never load in a browser: Node built-ins (with or without `node:`) and Dawn's bindings. */
const builtins = new Set(builtinModules.filter((m) => !m.startsWith('_')));
export function isForbiddenSpecifier(spec) {
  if (spec === 'webgpu') return true;
  const bare = spec.startsWith('node:') ? spec.slice(5) : spec;
  return spec.startsWith('node:') || builtins.has(bare) || builtins.has(bare.split('/')[0]);
}

/** The failure of the browser build's Node-isolation check; `violations` are the offending import chains. */
export class BrowserBundleError extends Error {
  constructor(violations) {
    const lines = violations.map((v) => {
      const others = (v.importers ?? []).filter((f) => f !== v.chain[v.chain.length - 2]);
      return `  ${v.chain.join('\n    -> ')}  (${v.kind})${others.length ? `\n    also imported by ${others.join(', ')}` : ''}`;
    });
    super(`browser bundle: ${violations.length} Node-only import${violations.length === 1 ? '' : 's'} reachable from the entry:\n${lines.join('\n')}`);
    this.name = 'BrowserBundleError';
    this.violations = violations;
  }
}

/**
 * Bare Node built-ins (`zlib`, `fs/promises`) are not resolvable for platform 'browser'; mark them external as
 * `node:<name>` so the build completes and the check below can report the import chain instead of esbuild's
 * per-file "could not resolve" errors.
 */
const externalBuiltins = {
  name: 'external-node-builtins',
  setup(b) {
    b.onResolve({ filter: /^[a-z_][a-z0-9_/]*$/ }, (args) =>
      isForbiddenSpecifier(args.path) && args.path !== 'webgpu' ? { path: `node:${args.path}`, external: true } : undefined);
  },
};

/**
 * Node built-ins reachable from `entry` (a metafile input path) without crossing an allow-listed dynamic import.
 * Walks every import edge (static, require, and dynamic ones that are not allow-listed) and returns one violation
 * per forbidden specifier reached: `{ specifier, kind, chain: [entry, ..., importer, specifier] }`.
 */
export function findNodeImports(metafile, entry, allowed = NODE_ONLY_DYNAMIC_IMPORTS) {
  const parent = new Map([[entry, null]]);
  const queue = [entry];
  const found = new Map();
  const chainTo = (file) => {
    const chain = [];
    for (let f = file; f !== null; f = parent.get(f)) chain.unshift(f);
    return chain;
  };
  while (queue.length > 0) {
    const file = queue.shift();
    for (const imp of metafile.inputs[file]?.imports ?? []) {
      if (imp.kind === 'dynamic-import' && allowed.has(`${file} -> ${imp.path}`)) continue;
      if (imp.external) {
        if (!isForbiddenSpecifier(imp.path)) continue;
        const seen = found.get(imp.path);
        if (seen) seen.importers.add(file);
        else found.set(imp.path, { specifier: imp.path, kind: imp.kind, chain: [...chainTo(file), imp.path], importers: new Set([file]) });
        continue;
      }
      if (!parent.has(imp.path)) {
        parent.set(imp.path, file);
        queue.push(imp.path);
      }
    }
  }
  return [...found.values()].map(({ importers, ...v }) => ({ ...v, importers: [...importers] }));
}

/**
 * What the entry chunk loads before any of its code runs: itself and the chunks it imports statically, with every
 * forbidden specifier they import or require. Dynamic imports (lazy chunks) are listed separately.
 */
export function entryChunkClosure(metafile, entryChunk) {
  const chunks = [entryChunk];
  const forbidden = [];
  const lazy = new Set();
  for (let i = 0; i < chunks.length; i++) {
    for (const imp of metafile.outputs[chunks[i]]?.imports ?? []) {
      if (imp.kind === 'dynamic-import') {
        if (!imp.external) lazy.add(imp.path);
      } else if (imp.external) {
        if (isForbiddenSpecifier(imp.path)) forbidden.push({ chunk: chunks[i], specifier: imp.path, kind: imp.kind });
      } else if (!chunks.includes(imp.path)) {
        chunks.push(imp.path);
      }
    }
  }
  return { chunks, forbidden, lazyChunks: [...lazy].filter((c) => !chunks.includes(c)) };
}

function options(entry, outdir, minify) {
  return {
    entryPoints: [entry],
    outdir,
    bundle: true,
    platform: 'browser',
    format: 'esm',
    splitting: true,
    target: 'es2022',
    sourcemap: true,
    minify,
    metafile: true,
    external: ['node:*', 'webgpu'],
    alias,
    plugins: [externalBuiltins],
    absWorkingDir: root,
    logLevel: 'warning',
  };
}

/**
 * Builds the browser bundle and checks it. Returns `{ outdir, entryChunk, chunks, lazyChunks, metafile }` (chunk
 * paths relative to the repository root); throws BrowserBundleError when a Node built-in is reachable. On success
 * `outdir` is replaced by the new bundle and the vocabulary; on failure nothing is written.
 */
export async function buildBrowser({ entry = DEFAULT_ENTRY, outdir = DEFAULT_OUTDIR, minify = false } = {}) {
  // Nothing is written until the check passes, so a failed build leaves no bundle behind.
  const result = await build({ ...options(entry, outdir, minify), write: false });
  const metafile = result.metafile;
  const entryInput = relative(root, entry).replaceAll('\\', '/');
  const violations = findNodeImports(metafile, entryInput);
  const entryChunk = Object.keys(metafile.outputs).find((o) => metafile.outputs[o].entryPoint === entryInput);
  if (!entryChunk) throw new Error(`browser bundle: esbuild produced no chunk for the entry ${entryInput}`);
  const closure = entryChunkClosure(metafile, entryChunk);
  for (const f of closure.forbidden) {
    if (!violations.some((v) => v.specifier === f.specifier)) {
      violations.push({ specifier: f.specifier, kind: f.kind, chain: [entryChunk, f.chunk, f.specifier], importers: [f.chunk] });
    }
  }
  if (violations.length > 0) throw new BrowserBundleError(violations);
  rmSync(outdir, { recursive: true, force: true });
  for (const f of result.outputFiles) {
    mkdirSync(dirname(f.path), { recursive: true });
    writeFileSync(f.path, f.contents);
  }
  copyFileSync(VOCAB_ASSET, resolve(outdir, 'bpe_simple_vocab_16e6.txt.gz'));
  return { outdir, entryChunk, chunks: closure.chunks, lazyChunks: closure.lazyChunks, metafile };
}

/** A bad command-line argument of this script. */
class UsageError extends Error {
  name = 'UsageError';
}

async function main(argv) {
  const serve = argv.includes('--serve');
  const portAt = argv.indexOf('--port');
  const port = portAt < 0 ? 8000 : Number(argv[portAt + 1]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`--port must be an integer in 1..65535 (got ${argv[portAt + 1]})`);
  const out = await buildBrowser({ minify: argv.includes('--minify') });
  const kb = (p) => (out.metafile.outputs[p].bytes / 1024).toFixed(0);
  console.log(`built ${relative(root, out.outdir)}: entry ${out.entryChunk} (${kb(out.entryChunk)} KiB)`);
  for (const c of out.chunks.slice(1)) console.log(`  static chunk ${c} (${kb(c)} KiB)`);
  for (const c of out.lazyChunks) console.log(`  lazy chunk   ${c} (${kb(c)} KiB, loaded on demand)`);
  console.log('  no Node built-in reachable from the entry outside the reviewed Node-only dynamic imports');
  if (serve) {
    // Rebuilds on each request from source (without the check above, which ran once); WebGPU needs localhost or https.
    const ctx = await context(options(DEFAULT_ENTRY, DEFAULT_OUTDIR, false));
    const { port: p } = await ctx.serve({ servedir: resolve(root, 'examples/browser'), port });
    console.log(`serving examples/browser/ on http://localhost:${p}/ (Ctrl-C to stop)`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).catch((e) => {
    console.error(e instanceof BrowserBundleError || e instanceof UsageError ? `build-browser: ${e.message}` : e);
    process.exit(1);
  });
}
