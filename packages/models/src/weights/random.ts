/**
 * `RandomStore`: a weight store that makes up every weight a module asks for, at the requested shape, so full-size
 * models (SD 1.5: 1.07 G parameters) can be built for benchmarks and memory tests without checkpoint files.
 *
 * Values are deterministic per (seed, key), independent of the order of requests, and of a plausible scale:
 * - matrices / conv kernels (rank ≥ 2): uniform ±1/sqrt(fan_in), fan_in = numel / shape[0] (PyTorch's default init);
 * - norm weights (rank-1 `weight`): uniform in [0.9, 1.1];
 * - biases: uniform ±0.02; embedding tables (`*embedding*`): uniform ±0.02.
 * Generation is a xorshift32 stream mapped through a 4096-entry table of values already encoded in the target dtype
 * (so f16 needs no per-element conversion), produced in chunks and uploaded tensor by tensor.
 *
 * Without a key list `has()` cannot be answered (every key "exists"), so it throws: modules decide their structure
 * from the config, not by probing the store. With `keys`, the store is exact: unknown keys throw
 * `MissingWeightError` and `finish()` reports keys nobody took.
 */
import { BYTES_PER_ELEMENT, type Device, Storage, Tensor, UnsupportedError, f32ToF16Bits, numel } from '@sd-webgpu/tensor';
import { MissingWeightError, UnusedWeightsError, WeightShapeError } from './errors.js';
import type { WeightDType, WeightStore } from './store.js';

export interface RandomStoreOptions {
  /** When given, the only keys that exist (for `has`, missing-key and unused-key checks). */
  keys?: Iterable<string>;
}

const TABLE_BITS = 12;
const CHUNK = 1 << 20;
const FLUSH_BYTES = 256 << 20;

export class RandomStore implements WeightStore {
  readonly source: string;
  readonly dtype: WeightDType;
  readonly #device: Device;
  readonly #seed: number;
  readonly #keys: ReadonlySet<string> | null;
  readonly #taken = new Map<string, Tensor>();
  #parameters = 0;
  #bytes = 0;
  #sinceFlush = 0;
  readonly #f32 = new Float32Array(CHUNK);
  readonly #u16 = new Uint16Array(CHUNK);

  /** `dtype` 'f16' falls back to 'f32' where the device lacks shader-f16. */
  constructor(device: Device, seed: number, dtype: WeightDType, opts: RandomStoreOptions = {}) {
    this.#device = device;
    this.#seed = seed >>> 0;
    this.dtype = device.floatType(dtype);
    this.#keys = opts.keys ? new Set(opts.keys) : null;
    this.source = `random weights (seed ${this.#seed})`;
  }

  /** Parameters handed out so far (each key counted once). */
  get parameterCount(): number {
    return this.#parameters;
  }

  /** Bytes of the tensors handed out so far. */
  get byteLength(): number {
    return this.#bytes;
  }

  /** Keys and shapes handed out so far, in request order. */
  takenShapes(): Map<string, readonly number[]> {
    return new Map([...this.#taken].map(([k, t]) => [k, t.shape]));
  }

  has(key: string): boolean {
    if (!this.#keys) throw new UnsupportedError('RandomStore.has', `cannot tell whether '${key}' exists without a key list`);
    return this.#keys.has(key);
  }

  take(key: string, shape: readonly number[]): Tensor {
    if (this.#keys && !this.#keys.has(key)) throw new MissingWeightError(key, this.source);
    const prev = this.#taken.get(key);
    if (prev) {
      if (prev.shape.length !== shape.length || prev.shape.some((d, i) => d !== shape[i])) {
        throw new WeightShapeError(key, shape, prev.shape, this.source);
      }
      return prev;
    }
    const t = this.#generate(key, shape);
    this.#taken.set(key, t);
    this.#parameters += t.size;
    this.#bytes += t.byteLength;
    return t;
  }

  unusedKeys(): string[] {
    return this.#keys ? [...this.#keys].filter((k) => !this.#taken.has(k)) : [];
  }

  finish(): void {
    const unused = this.unusedKeys();
    if (unused.length) throw new UnusedWeightsError(this.source, unused);
  }

  /** Nothing to free: every generated tensor was handed out and belongs to its module. */
  dispose(): void {}

  #generate(key: string, shape: readonly number[]): Tensor {
    const dev = this.#device;
    const n = numel(shape);
    const bytes = n * BYTES_PER_ELEMENT[this.dtype];
    const buffer = dev.pool.acquire(bytes, { forUpload: true, exact: true });
    // a weight: owned by the module that takes it, never by an enclosing scope
    const tensor = dev.keep(new Tensor(new Storage(dev, buffer, bytes), shape, this.dtype));
    const [lo, hi] = range(key, shape);
    const f16 = this.dtype === 'f16';
    const size = 1 << TABLE_BITS;
    const table32 = new Float32Array(size);
    for (let i = 0; i < size; i++) table32[i] = lo + ((hi - lo) * (i + 0.5)) / size;
    const table16 = f16 ? Uint16Array.from(table32, (v) => f32ToF16Bits(v)) : null;
    let x = mix(this.#seed, key);
    const shift = 32 - TABLE_BITS;
    for (let start = 0; start < n; start += CHUNK) {
      const m = Math.min(CHUNK, n - start);
      if (table16) {
        const out = this.#u16;
        for (let i = 0; i < m; i++) {
          x ^= x << 13;
          x ^= x >>> 17;
          x ^= x << 5;
          out[i] = table16[x >>> shift]!;
        }
        dev.writeBuffer(buffer, start * 2, new Uint8Array(out.buffer, 0, m * 2));
      } else {
        const out = this.#f32;
        for (let i = 0; i < m; i++) {
          x ^= x << 13;
          x ^= x >>> 17;
          x ^= x << 5;
          out[i] = table32[x >>> shift]!;
        }
        dev.writeBuffer(buffer, start * 4, new Uint8Array(out.buffer, 0, m * 4));
      }
    }
    this.#sinceFlush += bytes;
    if (this.#sinceFlush >= FLUSH_BYTES) {
      // Submitting lets the driver recycle upload staging once the GPU catches up (take() is synchronous).
      this.#sinceFlush = 0;
      dev.flush();
    }
    return tensor;
  }
}

/** The uniform range of a weight, from its name and shape. */
function range(key: string, shape: readonly number[]): [number, number] {
  const leaf = key.slice(key.lastIndexOf('.') + 1);
  if (leaf === 'bias') return [-0.02, 0.02];
  if (key.includes('embedding')) return [-0.02, 0.02];
  if (shape.length <= 1) return [0.9, 1.1];
  const fanIn = numel(shape) / shape[0]!;
  const a = 1 / Math.sqrt(Math.max(1, fanIn));
  return [-a, a];
}

/** A non-zero xorshift32 state from the seed and the key (FNV-1a, then a murmur3 finaliser). */
function mix(seed: number, key: string): number {
  let h = 0x811c9dc5 ^ seed;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0 || 0x9e3779b9;
}
