#!/usr/bin/env node
// Compiles each published package with tsc (packages/<name>/tsconfig.build.json, options in tsconfig.package.json):
// ESM JavaScript, .d.ts declarations, declaration maps and source maps in packages/<name>/dist/, in dependency
// order, because each package type-checks against the built declarations of the ones it depends on (resolved through
// node_modules, as a consumer's project would). The `sd-webgpu` command is packages/pipeline/dist/cli/main.js.
import { spawnSync } from 'node:child_process';
import { chmodSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
/** In dependency order. */
export const PACKAGES = ['tensor', 'kernels', 'models', 'pipeline'];
const tsc = resolve(root, 'node_modules/typescript/bin/tsc');

for (const name of PACKAGES) {
  const dir = resolve(root, 'packages', name);
  rmSync(resolve(dir, 'dist'), { recursive: true, force: true });
  const r = spawnSync(process.execPath, [tsc, '-p', resolve(dir, 'tsconfig.build.json')], { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`build: tsc failed for packages/${name}`);
    process.exit(r.status ?? 1);
  }
}
chmodSync(resolve(root, 'packages/pipeline/dist/cli/main.js'), 0o755);
console.log(`built packages/{${PACKAGES.join(',')}}/dist (ESM + .d.ts + maps); the sd-webgpu command: packages/pipeline/dist/cli/main.js`);
