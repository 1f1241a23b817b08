import { ParameterError } from '@sd-webgpu/tensor';
import { type SchedulerConfigInput, resolveSchedulerConfig, sd15SchedulerConfig } from './config.js';
import { DdimScheduler } from './ddim.js';
import { DpmSolverMultistepScheduler } from './dpm_solver.js';
import { EulerScheduler } from './euler.js';
import { EulerAncestralScheduler } from './euler_ancestral.js';
import { LcmScheduler } from './lcm.js';
import { LmsScheduler } from './lms.js';
import { PndmScheduler } from './pndm.js';
import { type LatentBackend, SCHEDULER_NAMES, type Scheduler, type SchedulerName } from './types.js';

/**
 * Builds a scheduler by name from a scheduler_config.json-style config (class defaults fill missing fields,
 * as diffusers' `from_config` does). 'dpmpp_2m_karras' is 'dpmpp_2m' with use_karras_sigmas forced on.
 * Call `setTimesteps(n)` (or `img2imgTimesteps`) before use.
 */
export function createScheduler<T>(
  name: SchedulerName,
  backend: LatentBackend<T>,
  config: SchedulerConfigInput = sd15SchedulerConfig,
): Scheduler<T> {
  if (!SCHEDULER_NAMES.includes(name)) {
    throw new ParameterError('createScheduler', 'name', `unknown scheduler '${name}' (expected one of ${SCHEDULER_NAMES.join(', ')})`);
  }
  const cfg = resolveSchedulerConfig(name, config);
  switch (name) {
    case 'ddim':
      return new DdimScheduler(cfg, backend);
    case 'pndm':
      return new PndmScheduler(cfg, backend);
    case 'euler':
      return new EulerScheduler(cfg, backend);
    case 'euler_a':
      return new EulerAncestralScheduler(cfg, backend);
    case 'dpmpp_2m':
    case 'dpmpp_2m_karras':
      return new DpmSolverMultistepScheduler(cfg, backend);
    case 'lms':
      return new LmsScheduler(cfg, backend);
    case 'lcm':
      return new LcmScheduler(cfg, backend);
  }
}
