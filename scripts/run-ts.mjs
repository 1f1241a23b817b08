#!/usr/bin/env node
// Runs a TypeScript entry point under Node: bundles it (bundle-ts.mjs) into node_modules/.cache and imports the
// bundle with the remaining args. The bundle is named after the entry's path, so two entry points never share one.
import { mkdirSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { bundleTs, root } from './bundle-ts.mjs';

const [entry, ...args] = process.argv.slice(2);
if (!entry) {
  console.error('usage: node scripts/run-ts.mjs <entry.ts> [args...]');
  process.exit(2);
}
const outDir = resolve(root, 'node_modules/.cache/sd-webgpu');
mkdirSync(outDir, { recursive: true });
const outfile = resolve(outDir, relative(root, resolve(root, entry)).replace(/\.ts$/, '').replace(/[\\/.]+/g, '_') + '.mjs');
await bundleTs(entry, outfile);
process.argv = [process.argv[0], outfile, ...args];
process.env.SD_WEBGPU_ROOT ??= root;
await import(pathToFileURL(outfile).href);
