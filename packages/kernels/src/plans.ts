/**
 * Per-device memo of dispatch plans. Planning an op (binding-limit splits, tile choice, variant lookup, uniform
 * values) is pure arithmetic over shapes, dtypes and device limits, and the denoising loop asks for the same shapes
 * every step, so each op family keeps its plans here keyed by everything the plan depends on. Capped per family
 * (oldest dropped first), so shapes that come and go cannot grow it without bound.
 */
import type { Device } from '@sd-webgpu/tensor';

const CAP = 4096;

const memos = new WeakMap<Device, Map<string, Map<string, unknown>>>();

/** The plan of `family` for `key` on `device`, built by `build` the first time. */
export function cachedPlan<T>(device: Device, family: string, key: string, build: () => T): T {
  let families = memos.get(device);
  if (!families) memos.set(device, (families = new Map()));
  let plans = families.get(family);
  if (!plans) families.set(family, (plans = new Map()));
  let plan = plans.get(key) as T | undefined;
  if (plan === undefined) {
    plan = build();
    plans.set(key, plan);
    if (plans.size > CAP) plans.delete(plans.keys().next().value!);
  }
  return plan;
}

const ids = new WeakMap<object, number>();
let nextId = 1;

/**
 * A small integer naming `o` for as long as it lives (never reused): plan keys name a kernel-table row by identity,
 * so a row forced with setKernelRow (or a new row object with more fields) can never be served another row's plan.
 */
export function objectId(o: object): number {
  let id = ids.get(o);
  if (id === undefined) ids.set(o, (id = nextId++));
  return id;
}
