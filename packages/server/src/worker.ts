/**
 * Scale-out mode, worker side: one process per device consumes the BullMQ queue with a loaded model, one job at a
 * time. Job data is checked again with the library's rules; a job that fails the check is refused with BullMQ's
 * UnrecoverableError (never retried) and the worker carries on. Progress goes to `job.updateProgress` after every
 * step; an interrupt event for a running job aborts it after the current step (the job completes with no images).
 */
import { hostname } from 'node:os';
import { type Job, QueueEvents, UnrecoverableError, Worker } from 'bullmq';
import type { WorkerProgress } from './bull_backend.js';
import { JobDataError } from './errors.js';
import { type GenerationModel, type JobSpec, validateJob } from './job.js';
import { INTERRUPT_EVENT, type RedisSettings, queueOptions } from './redis.js';
import { type JobResult, runJob } from './run_job.js';

export interface WorkerOptions extends RedisSettings {
  model: GenerationModel;
  /**
   * BullMQ lock duration in ms (default 30000): a worker that stops renewing its job's lock (it died) loses the job
   * to the stalled-job check after about this long. The stalled check runs at the same interval.
   */
  lockMs?: number;
  /** Name reported in progress and logs (default host:pid). */
  name?: string;
  /** The model's name, reported with each result (`info.sd_model_name`). */
  modelTitle?: string;
  log?: (line: string) => void;
}

export interface RunningWorker {
  readonly worker: Worker<JobSpec, JobResult>;
  readonly name: string;
  close(): Promise<void>;
}

export async function startWorker(opts: WorkerOptions): Promise<RunningWorker> {
  const { name: queue, ...common } = queueOptions(opts);
  const name = opts.name ?? `${hostname()}:${process.pid}`;
  const log = opts.log ?? (() => undefined);
  const lockMs = opts.lockMs ?? 30_000;

  const processor = async (job: Job<JobSpec, JobResult>, _token: string | undefined, signal: AbortSignal | undefined): Promise<JobResult> => {
    let valid;
    try {
      valid = validateJob(job.data);
    } catch (e) {
      if (e instanceof JobDataError) {
        log(`job ${job.id}: refused: ${e.message}`);
        throw new UnrecoverableError(e.message);
      }
      throw e;
    }
    // BullMQ's signal may be a polyfill; the library takes a real AbortSignal
    const controller = new AbortController();
    signal?.addEventListener('abort', () => controller.abort());
    log(`job ${job.id}: ${valid.spec.mode} ${valid.spec.width}x${valid.spec.height}, ${valid.spec.steps} steps`);
    const result = await runJob(opts.model, valid, {
      signal: controller.signal,
      onProgress: (p) => {
        const progress: WorkerProgress = { step: p.step, totalSteps: p.totalSteps, worker: name };
        job.updateProgress(progress).catch((e: unknown) => log(`job ${job.id}: progress not recorded (${String(e)})`));
      },
    });
    log(`job ${job.id}: ${result.interrupted ? 'interrupted' : 'done'}`);
    return { ...result, worker: name, ...(opts.modelTitle ? { model: opts.modelTitle } : {}) };
  };

  const worker = new Worker<JobSpec, JobResult>(queue, processor, {
    ...common,
    concurrency: 1,
    lockDuration: lockMs,
    stalledInterval: lockMs,
    autorun: false,
  });
  worker.on('error', (e) => log(`worker error: ${e.message}`));
  worker.on('failed', (job, e) => log(`job ${job?.id}: failed: ${e.message}`));
  worker.on('stalled', (id) => log(`job ${id}: stalled (its worker stopped renewing the lock), queued again`));
  const events = new QueueEvents(queue, common);
  events.on(INTERRUPT_EVENT as 'error', ((args: { jobIds?: string }) => {
    for (const id of (args.jobIds ?? '').split(',')) if (id && worker.cancelJob(id, 'interrupted')) log(`job ${id}: interrupt requested`);
  }) as never);
  await Promise.all([worker.waitUntilReady(), events.waitUntilReady()]);
  void worker.run();
  return {
    worker,
    name,
    async close() {
      await worker.close();
      await events.close();
    },
  };
}
