#!/usr/bin/env node
// Compiles each published package with tsc (packages/<name>/tsconfig.build.json, options in tsconfig.package.json):
// ESM JavaScript, .d.ts declarations, declaration maps and source maps in packages/<name>/dist/, in dependency
// order, because each package type-checks against the built declarations of the ones it depends on (resolved through
// node_modules, as a consumer's project would). The `sd-webgpu` command is packages/pipeline/dist/cli/main.js.
// @sd-webgpu/server is still bundled with esbuild (dist/index.js and the `sd-webgpu-server` command dist/cli.js, the
// workspace packages inlined; pngjs, jpeg-js, Dawn's webgpu, bullmq and ioredis external).
import { spawnSync } from 'node:child_process';
import { build } from 'esbuild';
import { chmodSync, copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
/** Compiled with tsc, in dependency order. */
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

// ---- @sd-webgpu/server (esbuild bundles)
const src = (name) => resolve(root, `packages/${name}/src/index.ts`);
const alias = Object.fromEntries([...PACKAGES, 'server'].map((n) => [`@sd-webgpu/${n}`, src(n)]));
alias['@sd-webgpu/pipeline/node'] = resolve(root, 'packages/pipeline/src/node.ts');
const common = { bundle: true, platform: 'node', format: 'esm', target: 'node20', external: ['webgpu', 'pngjs', 'jpeg-js', 'bullmq', 'ioredis'], logLevel: 'warning' };

// The tokenizer finds its shipped vocabulary relative to its own module (load_default.ts:
// new URL('../../../assets/<file>', import.meta.url)). A bundle puts that code at another depth, so the literal is
// re-pointed at where the asset is for the bundle; the build fails if the source no longer has the literal.
const VOCAB_NAME = 'bpe_simple_vocab_16e6.txt.gz';
const VOCAB_SOURCE = resolve(root, 'packages/models/assets', VOCAB_NAME);
const VOCAB_LITERAL = `'../../../assets/${VOCAB_NAME}'`;

function relocateVocab(outfile, assetPath) {
  let rel = relative(dirname(outfile), assetPath).replaceAll('\\', '/');
  if (!rel.startsWith('.')) rel = `./${rel}`;
  return {
    name: 'relocate-vocab',
    setup(b) {
      b.onLoad({ filter: /[\\/]clip[\\/]tokenizer[\\/]load_default\.ts$/ }, async (args) => {
        const text = await readFile(args.path, 'utf8');
        const parts = text.split(VOCAB_LITERAL);
        if (parts.length !== 2) {
          throw new Error(`${args.path}: expected the vocabulary URL literal ${VOCAB_LITERAL} once (found ${parts.length - 1}); update scripts/build.mjs`);
        }
        return { contents: parts.join(`'${rel}'`), loader: 'ts' };
      });
    },
  };
}

const serverIndex = resolve(root, 'packages/server/dist/index.js');
await build({
  ...common,
  entryPoints: [src('server')],
  outfile: serverIndex,
  external: [...common.external, ...Object.keys(alias).filter((a) => a !== '@sd-webgpu/server')],
});
const cli = resolve(root, 'packages/server/dist/cli.js');
const cliVocab = resolve(dirname(cli), VOCAB_NAME);
mkdirSync(dirname(cli), { recursive: true });
copyFileSync(VOCAB_SOURCE, cliVocab);
await build({
  ...common,
  entryPoints: [resolve(root, 'packages/server/src/main.ts')],
  outfile: cli,
  alias,
  banner: { js: '#!/usr/bin/env node' },
  plugins: [relocateVocab(cli, cliVocab)],
});
chmodSync(cli, 0o755);
console.log('built packages/server/dist/index.js and packages/server/dist/cli.js (the sd-webgpu-server command)');
