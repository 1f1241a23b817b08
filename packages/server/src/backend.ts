/**
 * Where the HTTP API sends checked jobs: in this process (LocalBackend) or to a BullMQ queue consumed by worker
 * processes (BullBackend). Both run one generation at a time per device and report the running job's progress.
 */
import type { ValidJob } from './job.js';
import type { JobResult } from './run_job.js';

/** The job being generated now. */
export interface ActiveJob {
  id: string;
  /** Steps done so far and the job's step count (img2img runs strength × steps). */
  step: number;
  totalSteps: number;
  /** When generation started (ms since the epoch). */
  startedAt: number;
}

export interface QueueState {
  /** The running job (the one that started first when several workers are busy), or null. */
  active: ActiveJob | null;
  /** Jobs running, all workers together. */
  running: number;
  /** Jobs waiting for a device. */
  waiting: number;
}

export interface GenerationBackend {
  /** Queues a job and resolves when it has finished (or was interrupted). */
  submit(job: ValidJob): Promise<{ id: string; result: JobResult }>;
  state(): Promise<QueueState>;
  /** Stops the running job(s) after their current step; resolves with how many were signalled. */
  interrupt(): Promise<number>;
  close(): Promise<void>;
}
