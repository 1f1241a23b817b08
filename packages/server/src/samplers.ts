/**
 * A1111 sampler names for our schedulers. A1111 1.9+ also sends a separate `scheduler` field ('Automatic',
 * 'Karras', ...); only 'DPM++ 2M' with 'Karras' changes the result here (dpmpp_2m_karras).
 */
import { SAMPLER_DISPLAY_NAMES, SCHEDULER_NAMES, type SchedulerName } from '@sd-webgpu/pipeline';

const BY_NAME = new Map<string, SchedulerName>(
  Object.entries(SAMPLER_DISPLAY_NAMES).map(([name, display]) => [display.toLowerCase(), name as SchedulerName]),
);
// our own scheduler names are accepted as aliases ('euler_a', 'dpmpp_2m_karras', ...)
for (const name of SCHEDULER_NAMES) BY_NAME.set(name, name);

/** The scheduler for an A1111 sampler name (case-insensitive) and schedule type, or null when unknown. */
export function schedulerForSampler(sampler: string, scheduleType?: string): SchedulerName | null {
  const s = BY_NAME.get(sampler.toLowerCase()) ?? null;
  if (s === 'dpmpp_2m' && scheduleType?.toLowerCase() === 'karras') return 'dpmpp_2m_karras';
  return s;
}

/** `GET /sdapi/v1/samplers`: A1111's SamplerItem list. */
export function samplerList(): Array<{ name: string; aliases: string[]; options: Record<string, string> }> {
  return SCHEDULER_NAMES.map((name) => ({ name: SAMPLER_DISPLAY_NAMES[name], aliases: [name], options: {} }));
}
