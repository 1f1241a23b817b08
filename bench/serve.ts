// Load benchmark of the scale-out server: `npm run bench -- serve [--jobs 12] [--steps 2] [--size 64] [--model PATH]`.
// Starts a throwaway redis-server, the API server (BullBackend, in this process) and `sd-webgpu-server worker`
// subprocesses (one WebGPU device each), then measures
// - queue overhead per job: jobs sent one at a time to one worker; the HTTP round trip minus the worker's own
//   processing time (BullMQ processedOn → finishedOn): validation, Redis add, pick-up, result transfer, notification;
// - throughput: `--jobs` jobs sent at once, with 1 and then 2 workers, in jobs per minute.
// Writes bench/results/serve.json. On a 2-core CPU (lavapipe) two workers share the same cores, so expect far less
// than 2x; on a machine with one GPU per worker the jobs are independent.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { BullBackend, createApiServer } from '@sd-webgpu/server';
import { bundleTs, root } from '../scripts/bundle-ts.mjs';
import { startRedis } from '../test/helpers/redis';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function startWorker(bundle: string, url: string, model: string): Promise<ChildProcess> {
  const proc = spawn(process.execPath, [bundle, 'worker', '--redis', url, '--queue', 'bench', '--model', model], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((res, rej) => {
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (/^worker \S+ ready$/m.test(out)) res(proc);
    });
    proc.once('exit', (code) => rej(new Error(`worker exited with ${code}`)));
  });
}

async function stop(procs: ChildProcess[]): Promise<void> {
  await Promise.all(procs.map((p) => new Promise((r) => {
    p.once('exit', r);
    p.kill('SIGTERM');
  })));
}

export async function main(args: Record<string, string | true>): Promise<void> {
  const jobs = Number(args.jobs ?? 12);
  const steps = Number(args.steps ?? 2);
  const size = Number(args.size ?? 64);
  const model = resolve(root, String(args.model ?? 'test/fixtures/models/tiny-sd'));
  const redis = await startRedis();
  const bundle = join(root, 'node_modules/.cache/sd-webgpu', `server-bench-${process.pid}.mjs`);
  mkdirSync(join(root, 'node_modules/.cache/sd-webgpu'), { recursive: true });
  await bundleTs('packages/server/src/main.ts', bundle);
  const backend = new BullBackend({ url: redis.url, queue: 'bench' });
  await backend.ready();
  const server = createApiServer({ backend, model: { title: 'bench', filename: model } });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let seed = 1;
  const post = async () => {
    const t0 = performance.now();
    const r = await fetch(`${base}/sdapi/v1/txt2img`, {
      method: 'POST',
      body: JSON.stringify({ prompt: 'a photograph of an astronaut riding a horse', steps, width: size, height: size, seed: seed++ }),
    });
    const body = (await r.json()) as { info: string };
    if (r.status !== 200) throw new Error(`HTTP ${r.status}: ${JSON.stringify(body)}`);
    return { ms: performance.now() - t0, id: JSON.parse(body.info).job_id as string };
  };
  const workers: ChildProcess[] = [];
  const results: Record<string, unknown> = { jobs, steps, size, model, cpus: cpus().length };
  try {
    workers.push(await startWorker(bundle, redis.url, model));
    // 1. overhead: one job at a time (after one warm-up job)
    await post();
    const overhead: number[] = [];
    const processing: number[] = [];
    for (let i = 0; i < Math.max(5, Math.min(jobs, 10)); i++) {
      const { ms, id } = await post();
      const job = (await backend.queue.getJob(id))!;
      const work = job.finishedOn! - job.processedOn!;
      processing.push(work);
      overhead.push(ms - work);
    }
    results.overheadMsMedian = median(overhead);
    results.processingMsMedian = median(processing);
    console.log(`queue overhead per job: ${median(overhead).toFixed(1)} ms (median; generation itself ${median(processing).toFixed(0)} ms)`);

    // 2. throughput with 1, then 2 workers
    for (const n of [1, 2]) {
      while (workers.length < n) workers.push(await startWorker(bundle, redis.url, model));
      if (n > 1) await Promise.all(Array.from({ length: n }, post)); // warm the new worker
      const t0 = performance.now();
      await Promise.all(Array.from({ length: jobs }, post));
      const perMinute = (jobs / (performance.now() - t0)) * 60_000;
      results[`jobsPerMinute${n}`] = perMinute;
      console.log(`${n} worker${n > 1 ? 's' : ''}: ${perMinute.toFixed(1)} jobs/min (${jobs} jobs, ${size}x${size}, ${steps} steps)`);
    }
  } finally {
    await stop(workers);
    server.close();
    await backend.close();
    await redis.stop();
    rmSync(bundle, { force: true });
  }
  const dir = resolve(root, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const file = resolve(dir, 'serve.json');
  writeFileSync(file, JSON.stringify({ family: 'serve', date: new Date().toISOString(), results }, null, 2));
  console.log(`wrote ${file}`);
}
