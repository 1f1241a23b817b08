#!/usr/bin/env node
// Bundles each package to packages/<name>/dist/index.js (ESM, for Node; browsers bundle from source, see
// scripts/build-browser.mjs), the `sd-webgpu` command to packages/pipeline/dist/cli.js and the `sd-webgpu-server`
// command to packages/server/dist/cli.js (executables, with the workspace packages inlined; pngjs, jpeg-js, Dawn's
// webgpu, bullmq and ioredis stay external).
import { build } from 'esbuild';
import { chmodSync, copyFileSync, mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const pkg = (name) => resolve(root, `packages/${name}/src/index.ts`);
const PACKAGES = ['tensor', 'kernels', 'models', 'pipeline', 'server'];
const alias = Object.fromEntries(PACKAGES.map((n) => [`@sd-webgpu/${n}`, pkg(n)]));
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

for (const name of PACKAGES) {
  const others = Object.keys(alias).filter((a) => a !== `@sd-webgpu/${name}`);
  const outfile = resolve(root, `packages/${name}/dist/index.js`);
  await build({
    ...common,
    entryPoints: [pkg(name)],
    outfile,
    external: [...common.external, ...others],
    plugins: name === 'models' ? [relocateVocab(outfile, VOCAB_SOURCE)] : [],
  });
}
await build({
  ...common,
  entryPoints: [resolve(root, 'packages/pipeline/src/node.ts')],
  outfile: resolve(root, 'packages/pipeline/dist/node.js'),
  external: [...common.external, ...Object.keys(alias)],
});
console.log('built packages/*/dist/index.js and packages/pipeline/dist/node.js');

// The commands: one file each with the workspace inlined, the vocabulary copied beside it.
for (const [entry, cli, command] of [
  ['packages/pipeline/src/cli/main.ts', 'packages/pipeline/dist/cli.js', 'sd-webgpu'],
  ['packages/server/src/main.ts', 'packages/server/dist/cli.js', 'sd-webgpu-server'],
]) {
  const out = resolve(root, cli);
  const cliVocab = resolve(dirname(out), VOCAB_NAME);
  mkdirSync(dirname(out), { recursive: true });
  copyFileSync(VOCAB_SOURCE, cliVocab);
  await build({
    ...common,
    entryPoints: [resolve(root, entry)],
    outfile: out,
    alias,
    banner: { js: '#!/usr/bin/env node' },
    plugins: [relocateVocab(out, cliVocab)],
  });
  chmodSync(out, 0o755);
  console.log(`built ${cli} (the ${command} command)`);
}
