/**
 * Scale-out mode against a real redis-server: `sd-webgpu-server serve --redis` and two `sd-webgpu-server worker`
 * subprocesses with the tiny fixture model, each worker with its own WebGPU device; this process is the HTTP client
 * (and looks into the queue through BullBackend's Queue).
 * - a malformed job put straight on the queue is refused (failed, not retried) and the workers carry on;
 * - 40 jobs with mixed parameters (10 parameter sets, each sent 4 times, so the same job runs on both workers):
 *   none lost, each image byte-identical to the library's output for the same parameters;
 * - progress and interrupt reach a job running in another process;
 * - a worker killed with SIGKILL mid-job: BullMQ's stalled-job check gives the job to the other worker, which
 *   finishes it with the same image.
 * Skipped (with the reason) only where no redis-server binary exists; under CI=true that is a failure.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { StableDiffusion } from '@sd-webgpu/pipeline';
import { BullBackend, type WorkerProgress, parseA1111Request } from '@sd-webgpu/server';
import { bundleTs, root } from '../../scripts/bundle-ts.mjs';
import { testDevice } from '../helpers/device';
import { REDIS_MISSING, type RedisHandle, startRedis } from '../helpers/redis';
import { getProgress, libraryImages, patternPng, postJson } from '../helpers/server';
import { TINY_PATHS } from '../helpers/tiny';

// A dead worker's job is taken over after about 2 × LOCK_MS; a live worker must renew its lock within LOCK_MS even
// while kernels for a new shape compile on a loaded 2-core machine.
const LOCK_MS = 8000;
const QUEUE = `test-${process.pid}`;

interface WorkerProc {
  proc: ChildProcess;
  name: string;
  log: string;
}

let redis: RedisHandle | null = null;
let backend: BullBackend | null = null;
let serve: ChildProcess | null = null;
let base = '';
let sd: StableDiffusion | null = null;
const workers: WorkerProc[] = [];
const bundle = join(root, 'node_modules/.cache/sd-webgpu', `server-test-${process.pid}.mjs`);

/** Starts `sd-webgpu-server <args>`; resolves with the process and the first stdout line matching `ready`. */
function startCommand(args: string[], ready: RegExp): Promise<{ proc: ChildProcess; match: RegExpExecArray; log: () => string }> {
  const proc = spawn(process.execPath, [bundle, ...args], {
    cwd: root,
    env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  proc.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = ready.exec(out);
      if (m) resolve({ proc, match: m, log: () => log });
    });
    proc.once('exit', (code) => reject(new Error(`${args[0]} exited with ${code} before it was ready:\n${log}`)));
  });
}

async function startWorker(url: string): Promise<WorkerProc> {
  const { proc, match, log } = await startCommand(
    ['worker', '--redis', url, '--queue', QUEUE, '--model', TINY_PATHS.folder, '--lock-ms', String(LOCK_MS)],
    /^worker (\S+) ready$/m,
  );
  return { proc, name: match[1]!, get log() { return log(); } };
}

async function stopProcess(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  await exited;
}

const alive = (w: WorkerProc) => w.proc.exitCode === null && w.proc.signalCode === null;
const logs = () => workers.map((w) => `--- ${w.name}\n${w.log}`).join('\n');

beforeAll(async () => {
  if (REDIS_MISSING) return;
  redis = await startRedis();
  mkdirSync(join(root, 'node_modules/.cache/sd-webgpu'), { recursive: true });
  await bundleTs('packages/server/src/main.ts', bundle);
  const url = redis.url;
  const [w1, w2, model] = await Promise.all([
    startWorker(url),
    startWorker(url),
    (async () => StableDiffusion.load(TINY_PATHS.folder, { device: await testDevice() }))(),
  ]);
  workers.push(w1, w2);
  sd = model;
  const api = await startCommand(
    ['serve', '--redis', url, '--queue', QUEUE, '--model', 'listed-name', '--port', '0', '--result-ttl', '600'],
    /^listening on (http:\/\/\S+)/m,
  );
  serve = api.proc;
  base = api.match[1]!;
  backend = new BullBackend({ url, queue: QUEUE }); // only to look into the queue
  await backend.ready();
}, 240_000);

afterAll(async () => {
  if (serve) await stopProcess(serve);
  await backend?.close();
  for (const w of workers) await stopProcess(w.proc);
  await redis?.stop();
  sd?.dispose();
  rmSync(bundle, { force: true });
}, 60_000);

describe.skipIf(REDIS_MISSING)(`sd-webgpu-server over BullMQ with 2 workers${REDIS_MISSING ? ` (skipped: ${REDIS_MISSING})` : ''}`, () => {
  it('refuses a malformed job without retrying it, and the workers carry on', async () => {
    const job = await backend!.queue.add('txt2img', {
      mode: 'txt2img', prompt: 'x', negativePrompt: '', steps: 'abc', guidanceScale: 7.5, seed: 1, scheduler: 'pndm', width: 64, height: 64, numImages: 1,
    } as never);
    let state = await job.getState();
    for (let i = 0; i < 300 && state !== 'failed'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      state = await job.getState();
    }
    const failed = (await backend!.queue.getJob(job.id!))!;
    expect(state).toBe('failed');
    expect(failed.failedReason).toContain("parameter 'steps' must be an integer in 1..1000");
    expect(failed.attemptsMade).toBe(1);
    expect(workers.every(alive), logs()).toBe(true);
  });

  it('runs 40 mixed jobs on both workers, none lost, each image identical to the library\'s', async () => {
    const init = patternPng();
    const sets: Array<['txt2img' | 'img2img', Record<string, unknown>]> = [
      ['txt2img', { prompt: 'a red cube', steps: 2, seed: 1, sampler_name: 'PLMS' }],
      ['txt2img', { prompt: 'a blue ball', negative_prompt: 'blurry', steps: 2, seed: 2, sampler_name: 'DDIM' }],
      ['txt2img', { prompt: 'a tree', steps: 1, seed: 3, sampler_name: 'Euler', cfg_scale: 1 }],
      ['txt2img', { prompt: 'a cat', steps: 2, seed: 4, sampler_name: 'Euler a', batch_size: 2 }],
      ['txt2img', { prompt: 'a dog', steps: 2, seed: 5, sampler_name: 'DPM++ 2M', cfg_scale: 3 }],
      ['txt2img', { prompt: 'a boat', steps: 2, seed: 6, sampler_name: 'DPM++ 2M', scheduler: 'Karras' }],
      ['txt2img', { prompt: 'a house', steps: 2, seed: 4294967295, sampler_name: 'LMS' }],
      ['txt2img', { prompt: 'wide', steps: 1, seed: 8, width: 128, height: 64 }],
      ['img2img', { prompt: 'a painting', steps: 2, seed: 9, denoising_strength: 0.5, sampler_name: 'DDIM', init_images: [init] }],
      ['img2img', { prompt: 'a sketch', steps: 2, seed: 10, sampler_name: 'Euler a', init_images: [init] }],
    ];
    const jobs = Array.from({ length: 40 }, (_, i) => sets[i % sets.length]!);
    const results = Promise.all(jobs.map(([mode, body]) => postJson(base, `/sdapi/v1/${mode}`, { width: 64, height: 64, ...body })));
    // the library's images, computed here while the workers run
    const expected: string[][] = [];
    for (const [mode, body] of sets) expected.push(await libraryImages(sd!, parseA1111Request(mode, { width: 64, height: 64, ...body }).spec));
    const got = await results;

    const ids = new Set<string>();
    const byWorker = new Map<string, number>();
    got.forEach((r, i) => {
      expect(r.status, `${JSON.stringify(r.body).slice(0, 500)}\n${logs()}`).toBe(200);
      expect(r.images, `job ${i} (${JSON.stringify(jobs[i]![1]).slice(0, 80)}) on ${r.info.worker}`).toEqual(expected[i % sets.length]);
      expect(r.info.sd_model_name).toBe('tiny-sd'); // as the worker reports it
      ids.add(r.info.job_id as string);
      byWorker.set(r.info.worker as string, (byWorker.get(r.info.worker as string) ?? 0) + 1);
    });
    expect(ids.size).toBe(40);
    expect([...byWorker.keys()].sort()).toEqual(workers.map((w) => w.name).sort());
    // the results stay in Redis (with a TTL) after the HTTP answer
    const stored = (await backend!.queue.getJob([...ids][0]!))!;
    expect(stored.returnvalue.images.length).toBeGreaterThan(0);
    expect(stored.opts.removeOnComplete).toEqual({ age: 600 });
    expect(workers.every(alive), logs()).toBe(true);
  }, 300_000);

  it('reports progress of a job running in a worker process and interrupts it there', async () => {
    const long = postJson(base, '/sdapi/v1/txt2img', { prompt: 'x', steps: 500, width: 64, height: 64, seed: 1 });
    let p = await getProgress(base);
    for (let i = 0; i < 600 && !(p.progress > 0); i++) {
      await new Promise((r) => setTimeout(r, 100));
      p = await getProgress(base);
    }
    expect(p.progress).toBeGreaterThan(0);
    expect(p.state.sampling_steps).toBe(501); // PNDM's PLMS schedule has one extra warm-up step
    expect(p.eta_relative).toBeGreaterThan(0);
    expect((await fetch(`${base}/sdapi/v1/interrupt`, { method: 'POST' })).status).toBe(200);
    const r = await long;
    expect(r.status).toBe(200);
    expect(r.images).toEqual([]);
    expect(r.info.interrupted).toBe(true);
  }, 120_000);

  it('finishes the job of a worker killed mid-job on the other worker, with the same image', async () => {
    const body = { prompt: 'survivor', steps: 12, width: 64, height: 64, seed: 77, sampler_name: 'Euler a' };
    const pending = postJson(base, '/sdapi/v1/txt2img', body);
    let victim: WorkerProc | undefined;
    for (let i = 0; i < 600 && !victim; i++) {
      await new Promise((r) => setTimeout(r, 50));
      const [active] = await backend!.queue.getActive();
      const progress = active?.progress as WorkerProgress | undefined;
      if (progress && progress.step >= 1) victim = workers.find((w) => w.name === progress.worker);
    }
    expect(victim, logs()).toBeDefined();
    victim!.proc.kill('SIGKILL');
    const r = await pending;
    expect(r.status, `${JSON.stringify(r.body).slice(0, 500)}\n${logs()}`).toBe(200);
    expect(r.info.worker).not.toBe(victim!.name);
    expect(r.images).toEqual(await libraryImages(sd!, parseA1111Request('txt2img', body).spec));
  }, 120_000);
});
