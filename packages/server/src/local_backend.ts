/** Single-process mode: jobs run in this process on one loaded model, one at a time, in arrival order. */
import type { ActiveJob, GenerationBackend, QueueState } from './backend.js';
import type { GenerationModel, ValidJob } from './job.js';
import { type JobResult, runJob } from './run_job.js';

export class LocalBackend implements GenerationBackend {
  #tail: Promise<unknown> = Promise.resolve();
  #active: (ActiveJob & { controller: AbortController }) | null = null;
  #waiting = 0;
  #nextId = 1;
  #closed = false;

  constructor(private readonly model: GenerationModel) {}

  submit(job: ValidJob): Promise<{ id: string; result: JobResult }> {
    if (this.#closed) return Promise.reject(new Error('LocalBackend: closed'));
    const id = `local-${this.#nextId++}`;
    this.#waiting++;
    const run = this.#tail.then(async () => {
      this.#waiting--;
      const controller = new AbortController();
      const active = { id, step: 0, totalSteps: job.spec.steps, startedAt: Date.now(), controller };
      this.#active = active;
      try {
        const result = await runJob(this.model, job, {
          signal: controller.signal,
          onProgress: (p) => {
            active.step = p.step;
            active.totalSteps = p.totalSteps;
          },
        });
        return { id, result };
      } finally {
        this.#active = null;
      }
    });
    this.#tail = run.catch(() => undefined);
    return run;
  }

  async state(): Promise<QueueState> {
    const a = this.#active;
    return {
      active: a && { id: a.id, step: a.step, totalSteps: a.totalSteps, startedAt: a.startedAt },
      running: a ? 1 : 0,
      waiting: this.#waiting,
    };
  }

  async interrupt(): Promise<number> {
    if (!this.#active) return 0;
    this.#active.controller.abort();
    return 1;
  }

  /** Refuses new jobs and waits for the queued ones to finish. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#tail;
  }
}
