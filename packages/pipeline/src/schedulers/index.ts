export type { LatentBackend, Scheduler, SchedulerName, StepResult, Img2ImgTimesteps } from './types.js';
export { SCHEDULER_NAMES } from './types.js';
export {
  type SchedulerConfig,
  type SchedulerConfigInput,
  type BetaSchedule,
  type TimestepSpacing,
  SchedulerConfigError,
  checkSchedulerConfig,
  resolveSchedulerConfig,
  sd15SchedulerConfig,
} from './config.js';
export { NoiseSchedule, torchLinspaceF32, betasF32, alphasCumprodF32, karrasSigmas, sigmaToT } from './tables.js';
export { type CpuLatent, CpuLatentBackend } from './cpu_backend.js';
export { createScheduler } from './factory.js';
export { SchedulerBase } from './base.js';
export { DdimScheduler } from './ddim.js';
export { PndmScheduler } from './pndm.js';
export { EulerScheduler } from './euler.js';
export { EulerAncestralScheduler } from './euler_ancestral.js';
export { DpmSolverMultistepScheduler } from './dpm_solver.js';
export { LmsScheduler } from './lms.js';
export { integrate, type QuadOptions } from './quadrature.js';
