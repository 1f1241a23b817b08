/**
 * Scale-out mode, server side: checked jobs go onto a BullMQ queue and the HTTP request waits for the result
 * (QueueEvents). Results stay in Redis for `resultTtlSeconds` (BullMQ removeOnComplete/removeOnFail by age). Jobs are
 * not retried after a failure (a generation error is deterministic); a job whose worker died is picked up again by
 * BullMQ's stalled-job check. Interrupts are a custom queue event that every worker listens for.
 */
import { Queue, QueueEvents, QueueEventsProducer } from 'bullmq';
import type { ActiveJob, GenerationBackend, QueueState } from './backend.js';
import type { JobSpec, ValidJob } from './job.js';
import { INTERRUPT_EVENT, type RedisSettings, queueOptions } from './redis.js';
import type { JobResult } from './run_job.js';

/** What a worker reports with `job.updateProgress`. */
export interface WorkerProgress {
  step: number;
  totalSteps: number;
  worker: string;
}

export interface BullBackendOptions extends RedisSettings {
  /** How long finished jobs (and their images) stay in Redis, in seconds (default 3600). */
  resultTtlSeconds?: number;
}

export class BullBackend implements GenerationBackend {
  readonly queue: Queue<JobSpec, JobResult>;
  readonly #events: QueueEvents;
  readonly #producer: QueueEventsProducer;
  readonly #ttl: number;

  constructor(opts: BullBackendOptions) {
    const { name, ...common } = queueOptions(opts);
    this.#ttl = opts.resultTtlSeconds ?? 3600;
    this.queue = new Queue<JobSpec, JobResult>(name, common);
    this.#events = new QueueEvents(name, common);
    this.#producer = new QueueEventsProducer(name, common);
    // every request in flight waits with its own listeners (waitUntilFinished): no fixed bound applies
    this.queue.setMaxListeners(0);
    this.#events.setMaxListeners(0);
  }

  /** Resolves once the connections are up (useful before timing or testing). */
  async ready(): Promise<void> {
    await Promise.all([this.queue.waitUntilReady(), this.#events.waitUntilReady(), this.#producer.waitUntilReady()]);
  }

  async submit(job: ValidJob): Promise<{ id: string; result: JobResult }> {
    const age = this.#ttl;
    const added = await this.queue.add(job.spec.mode, job.spec, { attempts: 1, removeOnComplete: { age }, removeOnFail: { age } });
    const result = await added.waitUntilFinished(this.#events);
    return { id: added.id!, result };
  }

  async state(): Promise<QueueState> {
    const [active, waiting] = await Promise.all([this.queue.getActive(), this.queue.getWaitingCount()]);
    let first: ActiveJob | null = null;
    for (const j of active) {
      const p = j.progress as Partial<WorkerProgress> | number;
      const startedAt = j.processedOn ?? Date.now();
      if (first && first.startedAt <= startedAt) continue;
      const spec = j.data as JobSpec;
      first = {
        id: j.id!,
        step: typeof p === 'object' && p ? p.step ?? 0 : 0,
        totalSteps: typeof p === 'object' && p ? p.totalSteps ?? spec.steps : spec.steps,
        startedAt,
      };
    }
    return { active: first, running: active.length, waiting };
  }

  async interrupt(): Promise<number> {
    const active = await this.queue.getActive();
    if (active.length > 0) await this.#producer.publishEvent({ eventName: INTERRUPT_EVENT, jobIds: active.map((j) => j.id).join(',') });
    return active.length;
  }

  async close(): Promise<void> {
    await Promise.all([this.#events.close(), this.#producer.close(), this.queue.close()]);
  }
}
