// @sd-webgpu/server: the AUTOMATIC1111-compatible HTTP API, in-process or scaled out over BullMQ workers.
export { RequestError, JobDataError } from './errors.js';
export { type JobSpec, type ValidJob, type GenerationModel, validateJob, jobOptions, decodeBase64Image } from './job.js';
export { type JobResult, type RunHooks, runJob } from './run_job.js';
export { parseA1111Request } from './request.js';
export { type GenerationResponse, generationResponse, progressResponse } from './response.js';
export { schedulerForSampler, samplerList } from './samplers.js';
export type { ActiveJob, GenerationBackend, QueueState } from './backend.js';
export { LocalBackend } from './local_backend.js';
export { BullBackend, type BullBackendOptions, type WorkerProgress } from './bull_backend.js';
export { type RunningWorker, type WorkerOptions, startWorker } from './worker.js';
export { type RedisSettings, DEFAULT_QUEUE, connectionFromUrl } from './redis.js';
export { type ApiOptions, DEFAULT_MAX_BODY_BYTES, createApiServer } from './http.js';
export { type ServeArgs, type WorkerArgs, USAGE, UsageError, parseServerArgs, modelEntry } from './cli.js';
