#!/usr/bin/env node
// Bundles bench/gpu/entry.ts and everything it imports (workspace packages from source, pngjs, jpeg-js) into one
// ES module that needs only Node and a dawn.node (SD_WEBGPU_DAWN_NODE), so it runs on a machine without node_modules.
// Usage: node bench/gpu/bundle.mjs <outfile>
import { build } from 'esbuild';
import { resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');
const outfile = resolve(process.argv[2] ?? resolve(root, 'node_modules/.cache/sd-webgpu/gpu-bench.mjs'));
const pkg = (name) => resolve(root, `packages/${name}/src/index.ts`);
await build({
  entryPoints: [resolve(root, 'bench/gpu/entry.ts')],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // Loaded only when SD_WEBGPU_DAWN_NODE is unset (a checkout with node_modules).
  external: ['webgpu'],
  alias: {
    '@sd-webgpu/tensor': pkg('tensor'),
    '@sd-webgpu/kernels': pkg('kernels'),
    '@sd-webgpu/models': pkg('models'),
    '@sd-webgpu/pipeline': pkg('pipeline'),
    '@sd-webgpu/pipeline/node': resolve(root, 'packages/pipeline/src/node.ts'),
  },
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  logLevel: 'warning',
});
console.log(outfile);
