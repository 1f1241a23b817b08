// `npm run bench -- <name> [--flags]`: runs bench/<name>.ts, which exports `main(args)`.
import { parseArgs } from './harness';

interface BenchModule {
  main(args: Record<string, string | true>): Promise<void>;
}

const [name, ...rest] = process.argv.slice(2);
if (!name || !/^[a-z0-9_-]+$/.test(name)) {
  console.error('usage: npm run bench -- <name> [--flags]   (name = a file bench/<name>.ts, e.g. matmul)');
  process.exit(2);
}
let mod: BenchModule;
try {
  mod = (await import(`./${name}.ts`)) as BenchModule;
} catch (e) {
  console.error(`no benchmark '${name}': ${(e as Error).message}`);
  process.exit(2);
}
await mod.main(parseArgs(rest));
