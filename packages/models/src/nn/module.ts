/**
 * Walks a module tree (objects whose fields are sub-modules, arrays of sub-modules and weight tensors, as built from a
 * WeightScope) to find its weights: for parameter counts, byte sizes and disposing a model's weights.
 */
import { Tensor } from '@sd-webgpu/tensor';

/** Every distinct weight tensor reachable from `module` through its own fields and arrays, in field order. */
export function moduleTensors(module: object): Tensor[] {
  const found = new Set<Tensor>();
  const seen = new Set<object>();
  const visit = (v: unknown): void => {
    if (v instanceof Tensor) {
      found.add(v);
      return;
    }
    if (v === null || typeof v !== 'object' || seen.has(v)) return;
    seen.add(v);
    for (const child of Array.isArray(v) ? v : Object.values(v)) visit(child);
  };
  visit(module);
  return [...found];
}

/** Number of weight elements of a module (torch's `sum(p.numel() for p in model.parameters())`). */
export function parameterCount(module: object): number {
  return moduleTensors(module).reduce((n, t) => n + t.size, 0);
}

/** Bytes the module's weights occupy. */
export function parameterBytes(module: object): number {
  return moduleTensors(module).reduce((n, t) => n + t.byteLength, 0);
}

/** Disposes every weight of a module (tensors already disposed are skipped). */
export function disposeModule(module: object): void {
  for (const t of moduleTensors(module)) t.dispose();
}
