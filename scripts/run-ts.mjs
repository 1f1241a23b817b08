#!/usr/bin/env node
// Runs a TypeScript entry point under Node: bundles it with esbuild (workspace packages resolved from source,
// Dawn's `webgpu` package left external) into node_modules/.cache and imports the bundle with the remaining args.
import { build } from 'esbuild';
import { mkdirSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [entry, ...args] = process.argv.slice(2);
if (!entry) {
  console.error('usage: node scripts/run-ts.mjs <entry.ts> [args...]');
  process.exit(2);
}
const root = resolve(import.meta.dirname, '..');
const outDir = resolve(root, 'node_modules/.cache/sd-webgpu');
mkdirSync(outDir, { recursive: true });
const outfile = resolve(outDir, basename(entry).replace(/\.ts$/, '') + '.mjs');
const pkg = (name) => resolve(root, `packages/${name}/src/index.ts`);
await build({
  entryPoints: [resolve(root, entry)],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: 'inline',
  external: ['webgpu', 'pngjs', 'jpeg-js', 'bullmq', 'ioredis'],
  alias: {
    '@sd-webgpu/tensor': pkg('tensor'),
    '@sd-webgpu/kernels': pkg('kernels'),
    '@sd-webgpu/models': pkg('models'),
    '@sd-webgpu/pipeline': pkg('pipeline'),
    '@sd-webgpu/pipeline/node': resolve(root, 'packages/pipeline/src/node.ts'),
    '@sd-webgpu/server': pkg('server'),
  },
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  logLevel: 'warning',
});
process.argv = [process.argv[0], outfile, ...args];
process.env.SD_WEBGPU_ROOT ??= root;
await import(pathToFileURL(outfile).href);
