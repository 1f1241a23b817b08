/**
 * Weight stores: where `WeightScope.get` takes its tensors from.
 *
 * A store hands out each weight once under its diffusers key (relative to the component: `conv_in.weight`,
 * `text_model.encoder.layers.0.mlp.fc1.bias`), checks the shape the module asked for at once, and keeps the accounts:
 * after the model is built, `finish()` throws `UnusedWeightsError` for every file key that no module took, except the
 * keys on the allow-list (`isIgnoredKey`). `TensorStore` holds tensors that were already uploaded (the checkpoint
 * loaders fill it); `RandomStore` (./random) makes them up.
 */
import type { Tensor } from '@sd-webgpu/tensor';
import { MissingWeightError, UnusedWeightsError, WeightShapeError } from './errors.js';

export type WeightDType = 'f32' | 'f16';

export interface WeightStore {
  /** For messages: the file (or folder, or generator) the weights come from. */
  readonly source: string;
  /** The dtype of every tensor `take` returns. */
  readonly dtype: WeightDType;
  /** Whether `take(key)` would find a weight. */
  has(key: string): boolean;
  /**
   * The weight `key` with the given shape. Throws `MissingWeightError` when absent and `WeightShapeError` when the
   * stored shape differs. The tensor now belongs to the caller (the module that holds it disposes it).
   */
  take(key: string, shape: readonly number[]): Tensor;
  /** Keys of the file that were not taken yet (allow-listed keys excluded). */
  unusedKeys(): string[];
  /** Strict accounting: throws `UnusedWeightsError` listing `unusedKeys()` unless it is empty. */
  finish(): void;
  /** Disposes the tensors nobody took. Taken tensors are left alone. */
  dispose(): void;
  /** Disposes every tensor, taken ones and adopted ones too (a model build failed part-way). */
  disposeAll?(): void;
  /** Records a tensor derived from this store's weights, for `disposeAll()`. */
  adopt?(t: Tensor): void;
}

/**
 * Keys that a checkpoint may carry and SD inference never uses. They are skipped at upload and never count as unused:
 * CLIP `position_ids` buffers; EMA copies and counters of original checkpoints (`model_ema.*`); the DDPM schedule
 * buffers that CompVis/LDM checkpoints save at the top level (the scheduler recomputes them in float64).
 */
const IGNORED: readonly RegExp[] = [
  /(^|\.)position_ids$/,
  /^model_ema\./,
  /^(betas|alphas_cumprod|alphas_cumprod_prev|logvar|lvlb_weights)$/,
  /^(sqrt_|log_one_minus_|posterior_)[a-z0-9_]+$/,
];

export function isIgnoredKey(key: string): boolean {
  return IGNORED.some((re) => re.test(key));
}

/** One uploaded weight of a `TensorStore`. */
export interface StoredWeight {
  tensor: Tensor;
  /** The key in the file when it differs from the store key (single-file checkpoints, legacy names). */
  fileKey?: string;
}

/** A store over tensors already on the GPU, keyed by diffusers key. */
export class TensorStore implements WeightStore {
  readonly source: string;
  readonly dtype: WeightDType;
  readonly #weights: Map<string, StoredWeight>;
  readonly #taken = new Set<string>();
  readonly #derived: Tensor[] = [];
  /** File keys that could not be given a diffusers name: never loadable, always reported by `unusedKeys()`. */
  readonly #unmapped: readonly string[];

  constructor(source: string, dtype: WeightDType, weights: Map<string, StoredWeight>, unmapped: readonly string[] = []) {
    this.source = source;
    this.dtype = dtype;
    this.#weights = weights;
    this.#unmapped = unmapped;
  }

  get size(): number {
    return this.#weights.size;
  }

  keys(): string[] {
    return [...this.#weights.keys()];
  }

  has(key: string): boolean {
    return this.#weights.has(key);
  }

  /** The stored shape of `key` (undefined when absent). */
  shapeOf(key: string): readonly number[] | undefined {
    return this.#weights.get(key)?.tensor.shape;
  }

  take(key: string, shape: readonly number[]): Tensor {
    const w = this.#weights.get(key);
    if (!w) throw new MissingWeightError(key, this.source, nearKeys(key, [...this.#weights.keys()]));
    const got = w.tensor.shape;
    if (got.length !== shape.length || got.some((d, i) => d !== shape[i])) {
      throw new WeightShapeError(key, shape, got, this.source, w.fileKey);
    }
    this.#taken.add(key);
    return w.tensor;
  }

  unusedKeys(): string[] {
    const out: string[] = [];
    for (const key of this.#weights.keys()) if (!this.#taken.has(key)) out.push(key);
    return [...out, ...this.#unmapped];
  }

  finish(): void {
    const unused = this.unusedKeys();
    if (!unused.length) return;
    throw new UnusedWeightsError(this.source, unused, unused.map((k) => this.#weights.get(k)?.fileKey));
  }

  dispose(): void {
    for (const [key, w] of this.#weights) if (!this.#taken.has(key)) w.tensor.dispose();
  }

  disposeAll(): void {
    for (const w of this.#weights.values()) w.tensor.dispose();
    for (const t of this.#derived) t.dispose();
  }

  adopt(t: Tensor): void {
    this.#derived.push(t);
  }

  /** Bytes of all tensors in the store (what the component occupies on the GPU). */
  byteLength(): number {
    let n = 0;
    for (const w of this.#weights.values()) n += w.tensor.byteLength;
    return n;
  }
}

/** A hint for MissingWeightError: stored keys that share the longest dotted prefix with `key`. */
function nearKeys(key: string, keys: readonly string[]): string {
  const parts = key.split('.');
  for (let n = parts.length - 1; n > 0; n--) {
    const prefix = parts.slice(0, n).join('.') + '.';
    const near: string[] = [];
    for (const k of keys) if (k.startsWith(prefix)) near.push(k);
    if (near.length) {
      const shown = near.slice(0, 6).map((k) => `'${k}'`).join(', ');
      return `keys under '${prefix}': ${shown}${near.length > 6 ? `, ... (${near.length})` : ''}`;
    }
  }
  return '';
}
