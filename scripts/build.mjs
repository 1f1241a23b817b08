#!/usr/bin/env node
// Bundles each package to packages/<name>/dist/index.js (ESM, for Node; browsers bundle from source, see
// scripts/build-browser.mjs) and the `sd-webgpu` command to packages/pipeline/dist/cli.js (executable, with the
// workspace packages inlined; pngjs, jpeg-js and Dawn's webgpu stay external).
import { build } from 'esbuild';
import { chmodSync, copyFileSync, mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const pkg = (name) => resolve(root, `packages/${name}/src/index.ts`);
const alias = Object.fromEntries(['tensor', 'kernels', 'models', 'pipeline'].map((n) => [`@sd-webgpu/${n}`, pkg(n)]));
const common = { bundle: true, platform: 'node', format: 'esm', target: 'node20', external: ['webgpu', 'pngjs', 'jpeg-js'], logLevel: 'warning' };

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

for (const name of ['tensor', 'kernels', 'models', 'pipeline']) {
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

// The CLI: one file with the workspace inlined, the vocabulary copied beside it.
const cli = resolve(root, 'packages/pipeline/dist/cli.js');
const cliVocab = resolve(dirname(cli), VOCAB_NAME);
mkdirSync(dirname(cli), { recursive: true });
copyFileSync(VOCAB_SOURCE, cliVocab);
await build({
  ...common,
  entryPoints: [resolve(root, 'packages/pipeline/src/cli/main.ts')],
  outfile: cli,
  alias,
  banner: { js: '#!/usr/bin/env node' },
  plugins: [relocateVocab(cli, cliVocab)],
});
chmodSync(cli, 0o755);
console.log(`built ${relative(root, cli)} (the sd-webgpu command)`);
