/**
 * Entry point of `sd-webgpu-server` (packages/server/dist/cli.js, or `npm run serve -- ...` / `npm run worker -- ...`
 * from the repository). Prints `listening on http://HOST:PORT` or `worker NAME ready` on stdout once up; SIGINT or
 * SIGTERM closes cleanly (a worker finishes its running job first).
 */
import { USAGE, UsageError, modelEntry, parseServerArgs } from './cli.js';

const log = (line: string) => process.stderr.write(`sd-webgpu-server: ${line}\n`);

async function main(): Promise<void> {
  const args = parseServerArgs(process.argv.slice(2), process.env);
  if (args.kind === 'help') return void process.stdout.write(USAGE);
  const closers: Array<() => Promise<void>> = [];
  const shutdown = () => {
    Promise.all(closers.map((c) => c())).then(() => process.exit(0), (e: unknown) => {
      log(`shutdown: ${String(e)}`);
      process.exit(1);
    });
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);

  let model: import('@sd-webgpu/pipeline').StableDiffusion | null = null;
  if (args.kind === 'worker' || !args.redis) {
    const { StableDiffusion } = await import('@sd-webgpu/pipeline');
    log(`loading ${args.model}...`);
    model = await StableDiffusion.load(args.model, { dtype: args.dtype });
    const m = model;
    closers.push(async () => m.dispose());
  }

  if (args.kind === 'worker') {
    if (args.warmup) {
      // Compiles the kernels (txt2img and the img2img encoder) before the first job: pipeline creation blocks the
      // event loop, and a worker that cannot renew its job's lock in time loses the job to the stalled check.
      log('warming up...');
      await model!.txt2img({ prompt: '', steps: 1, width: 64, height: 64, seed: 0 });
      await model!.img2img({ prompt: '', steps: 1, strength: 1, seed: 0, image: { width: 64, height: 64, data: new Uint8Array(64 * 64 * 4) } });
    }
    const { startWorker } = await import('./worker.js');
    const w = await startWorker({ url: args.redis, queue: args.queue, model: model!, modelTitle: modelEntry(args.model).title, lockMs: args.lockMs, log });
    closers.unshift(() => w.close());
    process.stdout.write(`worker ${w.name} ready\n`);
    return;
  }

  const { createApiServer } = await import('./http.js');
  let backend: import('./backend.js').GenerationBackend;
  if (args.redis) {
    const { BullBackend } = await import('./bull_backend.js');
    const b = new BullBackend({ url: args.redis, queue: args.queue, resultTtlSeconds: args.resultTtlSeconds });
    await b.ready();
    backend = b;
  } else {
    const { LocalBackend } = await import('./local_backend.js');
    backend = new LocalBackend(model!);
  }
  const server = createApiServer({ backend, model: modelEntry(args.model), apiKey: args.apiKey, corsOrigin: args.corsOrigin, maxBodyBytes: args.maxBodyBytes, log });
  closers.unshift(async () => {
    server.close();
    await backend.close();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(args.port, args.host, resolve);
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : args.port;
  process.stdout.write(`listening on http://${args.host}:${port}${args.redis ? ` (queue on ${new URL(args.redis).host})` : ''}\n`);
}

main().catch((e: unknown) => {
  if (e instanceof UsageError) {
    process.stderr.write(`sd-webgpu-server: ${e.message}\n\n${USAGE}`);
    process.exit(2);
  }
  log(e instanceof Error ? e.stack ?? e.message : String(e));
  process.exit(1);
});
