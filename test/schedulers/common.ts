/** Shared helpers of the scheduler tests. */
import type { CpuLatent } from '../../packages/pipeline/src/schedulers/cpu_backend';
import type { SchedulerName } from '../../packages/pipeline/src/schedulers/types';
import { expectClose, type HostTensor } from '../helpers/fixtures';

/** diffusers class name (fixture `attrs.scheduler`) -> our scheduler name. */
export function schedulerNameOf(className: string, config: { use_karras_sigmas?: boolean } = {}): SchedulerName {
  const names: Record<string, SchedulerName> = {
    DDIMScheduler: 'ddim',
    PNDMScheduler: 'pndm',
    EulerDiscreteScheduler: 'euler',
    EulerAncestralDiscreteScheduler: 'euler_a',
    DPMSolverMultistepScheduler: config.use_karras_sigmas ? 'dpmpp_2m_karras' : 'dpmpp_2m',
    LMSDiscreteScheduler: 'lms',
  };
  const name = names[className];
  if (!name) throw new Error(`no scheduler for diffusers class '${className}'`);
  return name;
}

/** A caller-owned latent (not created by the backend, so the backend refuses to dispose it). */
export function latentOf(t: HostTensor): CpuLatent {
  return { shape: [...t.shape], data: Float32Array.from(t.data as Float32Array) };
}

const f = Math.fround;
const POINT_ONE = f(0.1);

/**
 * The fixtures' stand-in model in torch float32: `0.1 * x` multiplies by 0.1 rounded to f32 (a CPU scalar
 * is cast to the op's dtype), then adds float32(sin(float64(t)/100)).
 */
export function standin(x: CpuLatent, t: number): CpuLatent {
  const s = f(Math.sin(t / 100));
  return { shape: [...x.shape], data: x.data.map((v) => f(f(POINT_ONE * v) + s)) };
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** |actual - expected| <= rel * max|expected| element-wise (error relative to the tensor's scale). */
export function expectRelToMax(actual: ArrayLike<number>, expected: ArrayLike<number>, rel: number, label: string) {
  return expectClose(actual, expected, { atol: rel * Math.max(maxAbs(expected), 1e-30) }, label);
}
