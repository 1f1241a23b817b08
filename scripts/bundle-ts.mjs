// Bundles a TypeScript entry point for Node with esbuild: workspace packages resolved from source, packages with
// native parts or optional peers (Dawn's webgpu, pngjs, jpeg-js, bullmq, ioredis) left external. Used by run-ts.mjs
// and by tests that start the server or workers as subprocesses.
import { build } from 'esbuild';
import { resolve } from 'node:path';

// SD_WEBGPU_ROOT when set (run-ts.mjs sets it): this module may itself be bundled into node_modules/.cache
export const root = process.env.SD_WEBGPU_ROOT ?? resolve(import.meta.dirname, '..');
const pkg = (name) => resolve(root, `packages/${name}/src/index.ts`);

/**
 * Writes the bundle of `entry` (relative to the repository root or absolute) to `outfile` (an .mjs path).
 * `external` overrides the packages left out (bench/gpu inlines all but Dawn); `sourcemap: false` omits the map.
 */
export async function bundleTs(entry, outfile, { external = ['webgpu', 'pngjs', 'jpeg-js', 'bullmq', 'ioredis', 'esbuild'], sourcemap = true } = {}) {
  await build({
    entryPoints: [resolve(root, entry)],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: sourcemap ? 'inline' : false,
    external,
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
}
