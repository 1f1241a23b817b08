/**
 * `WeightScope`: what network modules receive. A scope is a dotted key prefix over a `WeightStore`:
 *
 *   const s = root.pp('down_blocks').pp(0).pp('resnets').pp(1);
 *   s.key('conv1.weight')            // 'down_blocks.0.resnets.1.conv1.weight'
 *   s.pp('conv1').get('weight', [out, inC, 3, 3])
 *
 * `get` is synchronous (every tensor was uploaded before the modules are built), checks the shape at once and throws
 * `WeightShapeError` / `MissingWeightError` with the full dotted key.
 */
import { ParameterError, type Tensor } from '@sd-webgpu/tensor';
import type { WeightDType, WeightStore } from './store.js';

export class WeightScope {
  readonly store: WeightStore;
  /** The dotted prefix ('' at the root, else ending without a dot). */
  readonly prefix: string;

  constructor(store: WeightStore, prefix = '') {
    this.store = store;
    this.prefix = prefix;
  }

  /** The dtype of every weight this scope returns (what the module's activations should use). */
  get dtype(): WeightDType {
    return this.store.dtype;
  }

  /** A child scope: `pp('down_blocks').pp(0)` → prefix `down_blocks.0`. */
  pp(name: string | number): WeightScope {
    return new WeightScope(this.store, this.key(name));
  }

  /** The full dotted key of `name` under this scope. */
  key(name: string | number): string {
    const part = String(name);
    if (part === '' || part.startsWith('.') || part.endsWith('.')) {
      throw new ParameterError('WeightScope', 'name', `'${part}' is not a key segment (under '${this.prefix}')`);
    }
    return this.prefix ? `${this.prefix}.${part}` : part;
  }

  has(name: string | number): boolean {
    return this.store.has(this.key(name));
  }

  /**
   * Registers a tensor derived from this scope's weights (e.g. a repacked conv weight) with the store, so that a
   * failed build's `disposeAll()` frees it too. The module that holds it owns it otherwise.
   */
  adopt(t: Tensor): Tensor {
    this.store.adopt?.(t);
    return t;
  }

  /** The weight `name` under this scope, which must have exactly `shape`. */
  get(name: string | number, shape: readonly number[]): Tensor {
    return this.store.take(this.key(name), shape);
  }
}

/** The root scope of a store. */
export function rootScope(store: WeightStore): WeightScope {
  return new WeightScope(store);
}
