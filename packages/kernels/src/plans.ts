/**
 * Per-device memo of dispatch plans. Planning an op (binding-limit splits, tile choice, variant lookup, uniform
 * values) is pure arithmetic over shapes, dtypes and device limits, and the denoising loop asks for the same shapes
 * every step, so each op family keeps its plans here keyed by everything the plan depends on. Capped per family
 * (oldest dropped first), so shapes that come and go cannot grow it without bound.
 */
import { type Device, hashInts, sameInts } from '@sd-webgpu/tensor';

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

interface IntEntry {
  readonly key: Float64Array;
  readonly plan: unknown;
}

const intMemos = new WeakMap<Device, Map<string, Map<number, IntEntry[]>>>();
const intCounts = new WeakMap<Map<number, IntEntry[]>, { size: number }>();

/**
 * `cachedPlan` for keys made of numbers (the first `n` of `key`, e.g. a scratch array the caller refills): no string
 * is built per call. Looked up by hash, then compared in full, so a collision never serves another plan. Capped like
 * `cachedPlan` (the whole family is dropped when it outgrows the cap: shapes that come and go are rare).
 */
export function cachedPlanByInts<T>(device: Device, family: string, key: ArrayLike<number>, n: number, build: () => T): T {
  let families = intMemos.get(device);
  if (!families) intMemos.set(device, (families = new Map()));
  let plans = families.get(family);
  if (!plans) {
    families.set(family, (plans = new Map()));
    intCounts.set(plans, { size: 0 });
  }
  const hash = hashInts(key, n);
  const bucket = plans.get(hash);
  if (bucket) for (const e of bucket) if (sameInts(e.key, key, n)) return e.plan as T;
  const plan = build();
  const count = intCounts.get(plans)!;
  if (++count.size > CAP) {
    plans.clear();
    count.size = 1;
  }
  const entry = { key: Float64Array.from({ length: n }, (_, i) => key[i]!), plan };
  const list = plans.get(hash);
  if (list) list.push(entry);
  else plans.set(hash, [entry]);
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
