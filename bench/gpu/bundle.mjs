#!/usr/bin/env node
// Bundles bench/gpu/entry.ts and everything it imports (workspace packages from source, pngjs, jpeg-js) into one
// ES module that needs only Node and a dawn.node (SD_WEBGPU_DAWN_NODE), so it runs on a machine without node_modules.
// Usage: node bench/gpu/bundle.mjs <outfile>
import { resolve } from 'node:path';
import { bundleTs, root } from '../../scripts/bundle-ts.mjs';

const outfile = resolve(process.argv[2] ?? resolve(root, 'node_modules/.cache/sd-webgpu/gpu-bench.mjs'));
// webgpu is loaded only when SD_WEBGPU_DAWN_NODE is unset (a checkout with node_modules).
await bundleTs('bench/gpu/entry.ts', outfile, { external: ['webgpu'], sourcemap: false });
console.log(outfile);
