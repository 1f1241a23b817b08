#!/usr/bin/env node
// The packages as a user gets them: builds (scripts/build.mjs), packs the five packages with `npm pack`, installs the
// tarballs into a fresh temporary ESM project with `npm install --offline` (no workspace links; third-party packages
// come from the warm npm cache), and there:
//   1. runs the README's library example (its first ```ts block under "## The library") in Node: it writes a PNG;
//   2. type-checks that example under "nodenext" and a browser entry under "bundler" resolution, skipLibCheck false;
//   3. bundles the browser entry with esbuild (platform browser) and checks that no Node built-in is reachable except
//      through the reviewed Node-only dynamic imports of scripts/build-browser.mjs (lazy chunks that run only in Node);
//   4. runs `npx sd-webgpu generate` with the bundled demo model.
// Prints one line per check and "pack test: N passed, N failed"; exits 1 when any check failed.
// Usage: node scripts/pack-test.mjs [--no-build] [--keep]
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build as esbuild } from 'esbuild';
import { NODE_ONLY_DYNAMIC_IMPORTS, entryChunkClosure, findNodeImports, isForbiddenSpecifier } from './build-browser.mjs';

const root = resolve(import.meta.dirname, '..');
const PACKAGES = ['tensor', 'kernels', 'models', 'pipeline', 'demo-model'];
const args = new Set(process.argv.slice(2));
const tmp = mkdtempSync(join(tmpdir(), 'sd-pack-'));
const project = join(tmp, 'project');
const env = { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp', npm_config_update_notifier: 'false' };
delete env.SD_WEBGPU_ROOT; // the installed CLI must find the demo model through its package, not the checkout
let passed = 0;
let failed = 0;

function check(name, fn) {
  const t = performance.now();
  try {
    const note = fn();
    passed++;
    console.log(`ok   ${name} (${((performance.now() - t) / 1000).toFixed(1)} s)${note ? `: ${note}` : ''}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${(e.stderr?.toString() || e.stdout?.toString() || e.message).trim().split('\n').slice(-15).join('\n     ')}`);
  }
}

async function checkAsync(name, fn) {
  const t = performance.now();
  try {
    const note = await fn();
    passed++;
    console.log(`ok   ${name} (${((performance.now() - t) / 1000).toFixed(1)} s)${note ? `: ${note}` : ''}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e.message.trim().split('\n').slice(-15).join('\n     ')}`);
  }
}

function run(cmd, argv, cwd) {
  return execFileSync(cmd, argv, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });
}

/** The first ```ts block after the "## The library" heading of README.md. */
export function readmeLibraryExample(readme) {
  const section = readme.slice(readme.indexOf('\n## The library'));
  const m = /```ts\n([\s\S]*?)```/.exec(section);
  if (!m) throw new Error('README.md: no ```ts block under "## The library"');
  return m[1];
}

const tsc = (cfg) => run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', cfg], project);
const tsconfig = (resolution, files, extra = {}) => ({
  compilerOptions: {
    target: 'ES2022', module: resolution === 'bundler' ? 'ESNext' : 'NodeNext', moduleResolution: resolution,
    lib: ['ES2022', 'DOM'], strict: true, noEmit: true, skipLibCheck: false, typeRoots: [join(root, 'node_modules/@types')], ...extra,
  },
  files,
});

try {
  if (!args.has('--no-build')) check('build (tsc: ESM + .d.ts + maps)', () => void run(process.execPath, [join(root, 'scripts/build.mjs')], root));
  const tarballs = {};
  check('npm pack (5 packages)', () => {
    mkdirSync(join(tmp, 'tarballs'));
    // one npm invocation for all five (npm loads the workspace tree once)
    const out = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', join(tmp, 'tarballs'), ...PACKAGES.flatMap((p) => ['-w', `packages/${p}`])], root));
    for (const pkg of out) {
      const files = pkg.files.map((f) => f.path);
      if (pkg.name !== '@sd-webgpu/demo-model' && !files.includes('dist/index.js')) throw new Error(`${pkg.name}: tarball has no dist/index.js`);
      if (pkg.name !== '@sd-webgpu/demo-model' && !files.includes('dist/index.d.ts.map')) throw new Error(`${pkg.name}: tarball has no declaration map`);
      tarballs[pkg.name] = join(tmp, 'tarballs', pkg.filename);
    }
    if (Object.keys(tarballs).length !== PACKAGES.length) throw new Error(`packed ${Object.keys(tarballs).join(', ')}`);
    return Object.keys(tarballs).join(', ');
  });
  check('npm install of the tarballs into a fresh project (--offline)', () => {
    mkdirSync(project);
    if (Object.keys(tarballs).length !== PACKAGES.length) throw new Error('not every package was packed');
    const deps = Object.fromEntries(Object.entries(tarballs).map(([n, f]) => [n, `file:${f}`]));
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module', dependencies: deps }, null, 2));
    run('npm', ['install', '--offline', '--no-audit', '--no-fund'], project);
    for (const n of Object.keys(tarballs)) {
      if (!existsSync(join(project, 'node_modules', n, 'package.json'))) throw new Error(`${n} not installed`);
    }
  });

  const example = readmeLibraryExample(readFileSync(join(root, 'README.md'), 'utf8'));
  writeFileSync(join(project, 'example.mjs'), example);
  writeFileSync(join(project, 'example.ts'), example);
  check("README library example runs in Node (ESM) and writes a PNG", () => {
    const out = run(process.execPath, ['example.mjs'], project);
    const pngs = ['circle.png', 'blue-circle.png'].filter((f) => existsSync(join(project, f)));
    if (pngs.length === 0) throw new Error(`no PNG written; output:\n${out}`);
    const sig = readFileSync(join(project, pngs[0])).subarray(1, 4).toString();
    if (sig !== 'PNG') throw new Error(`${pngs[0]} is not a PNG`);
    return pngs.join(', ');
  });

  writeFileSync(join(project, 'browser.ts'), `import { Device } from '@sd-webgpu/tensor';
import { StableDiffusion, type GeneratedImage } from '@sd-webgpu/pipeline';
import { loadDefaultTokenizer } from '@sd-webgpu/models';
import { demoModelFiles, demoModelUrl } from '@sd-webgpu/demo-model';

export async function draw(prompt: string, canvas: HTMLCanvasElement): Promise<GeneratedImage> {
  const device = await Device.create();
  const files = Object.fromEntries(demoModelFiles.map((p) => [p, new URL(p, demoModelUrl).href]));
  const tokenizer = await loadDefaultTokenizer({ url: '/assets/bpe_simple_vocab_16e6.txt.gz' });
  const sd = await StableDiffusion.load(files, { device, tokenizer });
  const [image] = await sd.txt2img({ prompt, steps: 20, scheduler: 'ddim', seed: 1 });
  canvas.getContext('2d')!.putImageData(new ImageData(new Uint8ClampedArray(image!.data), image!.width, image!.height), 0, 0);
  sd.dispose();
  return image!;
}
`);
  writeFileSync(join(project, 'tsconfig.nodenext.json'), JSON.stringify(tsconfig('NodeNext', ['example.ts'], { types: ['node'] })));
  writeFileSync(join(project, 'tsconfig.bundler.json'), JSON.stringify(tsconfig('bundler', ['browser.ts'], { types: [] })));
  check('type-check the README example under nodenext (skipLibCheck false)', () => void tsc('tsconfig.nodenext.json'));
  check('type-check a browser entry under bundler resolution (skipLibCheck false)', () => void tsc('tsconfig.bundler.json'));

  await checkAsync('esbuild browser bundle: no Node built-in outside the reviewed Node-only dynamic imports', async () => {
    // the same rule as the demo page's build (scripts/build-browser.mjs), on the installed dist/ files
    const allowed = new Set([...NODE_ONLY_DYNAMIC_IMPORTS].map((edge) =>
      edge.replace(/packages\/(\w+)\/src\/([^ ]+)\.ts/g, 'node_modules/@sd-webgpu/$1/dist/$2.js')));
    const res = await esbuild({
      absWorkingDir: project, entryPoints: ['browser.ts'], bundle: true, splitting: true, platform: 'browser', format: 'esm',
      write: false, outdir: join(project, 'out'), metafile: true, logLevel: 'silent', external: ['node:*', 'webgpu'],
      plugins: [{ name: 'external-node-builtins', setup(b) {
        b.onResolve({ filter: /.*/ }, (args) => (isForbiddenSpecifier(args.path) && args.path !== 'webgpu' ? { path: args.path.startsWith('node:') ? args.path : `node:${args.path}`, external: true } : undefined));
      } }],
    });
    const inputs = Object.keys(res.metafile.inputs);
    if (!inputs.some((p) => p.startsWith('node_modules/@sd-webgpu/pipeline/dist/'))) throw new Error('the bundle did not use the installed dist/');
    const violations = findNodeImports(res.metafile, 'browser.ts', allowed);
    if (violations.length) throw new Error(`Node built-ins reachable: ${violations.map((v) => v.chain.join(' -> ')).join('; ')}`);
    const entryChunk = Object.keys(res.metafile.outputs).find((o) => res.metafile.outputs[o].entryPoint === 'browser.ts');
    const closure = entryChunkClosure(res.metafile, entryChunk);
    if (closure.forbidden.length) throw new Error(`the entry chunk loads ${closure.forbidden.map((f) => f.specifier).join(', ')}`);
    const kib = res.outputFiles.reduce((n, f) => n + f.contents.length, 0) / 1024;
    return `${inputs.length} modules, ${kib.toFixed(0)} KiB; Node-only code only in ${closure.lazyChunks.length} lazy chunk(s) behind isNode()`;
  });

  check('npx sd-webgpu generate (bundled demo model)', () => {
    const out = join(project, 'cli.png');
    const stdout = run('npx', ['--offline', 'sd-webgpu', 'generate', '--prompt', 'a red circle on a blue background', '--steps', '20',
      '--scheduler', 'ddim', '--seed', '1', '--output', out], project);
    if (!existsSync(out)) throw new Error(`no PNG; stdout: ${stdout}`);
    return stdout.trim();
  });
} finally {
  if (args.has('--keep')) console.log(`kept ${tmp}`);
  else rmSync(tmp, { recursive: true, force: true });
}
console.log(`pack test: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
