#!/usr/bin/env node
// Bundles each package to packages/<name>/dist/index.js (ESM, for Node; browsers bundle from source) and the CLI to
// packages/pipeline/dist/cli.js.
import { build } from 'esbuild';
import { resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const pkg = (name) => resolve(root, `packages/${name}/src/index.ts`);
const alias = Object.fromEntries(['tensor', 'kernels', 'models', 'pipeline'].map((n) => [`@sd-webgpu/${n}`, pkg(n)]));
const common = { bundle: true, platform: 'node', format: 'esm', target: 'node20', external: ['webgpu', 'pngjs', 'jpeg-js'], logLevel: 'warning' };
for (const name of ['tensor', 'kernels', 'models', 'pipeline']) {
  const others = Object.keys(alias).filter((a) => a !== `@sd-webgpu/${name}`);
  await build({ ...common, entryPoints: [pkg(name)], outfile: resolve(root, `packages/${name}/dist/index.js`), external: [...common.external, ...others] });
}
console.log('built packages/*/dist');
