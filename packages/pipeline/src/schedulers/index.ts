export type { LatentBackend, Scheduler, SchedulerName, StepResult, Img2ImgTimesteps } from './types';
export { SCHEDULER_NAMES } from './types';
export {
  type SchedulerConfig,
  type SchedulerConfigInput,
  type BetaSchedule,
  type TimestepSpacing,
  SchedulerConfigError,
  resolveSchedulerConfig,
  sd15SchedulerConfig,
} from './config';
export { NoiseSchedule, torchLinspaceF32, betasF32, alphasCumprodF32, karrasSigmas, sigmaToT } from './tables';
export { type CpuLatent, CpuLatentBackend } from './cpu_backend';
export { createScheduler } from './factory';
export { SchedulerBase } from './base';
export { DdimScheduler } from './ddim';
export { PndmScheduler } from './pndm';
export { EulerScheduler } from './euler';
export { EulerAncestralScheduler } from './euler_ancestral';
export { DpmSolverMultistepScheduler } from './dpm_solver';
export { LmsScheduler } from './lms';
export { integrate, type QuadOptions } from './quadrature';
