import { DisposedTensorError, ParameterError, ShapeError } from '@sd-webgpu/tensor';
import type { TorchGenerator } from '../rng/torch_generator.js';
import type { LatentBackend } from './types.js';

/** A latent held in host memory (row-major float32). */
export interface CpuLatent {
  shape: number[];
  data: Float32Array;
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

/**
 * LatentBackend over host arrays, used by tests and CPU tools. Arithmetic: each output element is
 * `Math.fround(Σ coef_i · x_i)` with the sum evaluated in float64, i.e. one f32 rounding per output
 * (a GPU backend doing f32 FMAs rounds a little more often; both are far inside scheduler tolerances).
 *
 * It also checks ownership, so scheduler bugs show up in tests: values it creates are tracked, `dispose`
 * of a value it did not create (a caller-owned input) or of an already disposed value throws, and so does
 * using a disposed value. `liveCount` counts created-but-not-disposed values for leak checks.
 */
export class CpuLatentBackend implements LatentBackend<CpuLatent> {
  private readonly created = new WeakSet<CpuLatent>();
  private readonly disposed = new WeakSet<CpuLatent>();
  private live = 0;

  /** Values created by this backend and not yet disposed. */
  get liveCount(): number {
    return this.live;
  }

  /** Wraps caller data as a backend-owned value (counts as live until disposed). */
  adopt(shape: readonly number[], data: Float32Array): CpuLatent {
    const n = shape.reduce((a, b) => a * b, 1);
    if (n !== data.length) {
      throw new ShapeError('CpuLatentBackend.adopt', `data has ${data.length} elements, shape needs ${n}`, [shape]);
    }
    return this.track({ shape: [...shape], data });
  }

  combine(terms: ReadonlyArray<readonly [CpuLatent, number]>): CpuLatent {
    if (terms.length === 0) throw new ParameterError('CpuLatentBackend.combine', 'terms', 'must not be empty');
    const shape = terms[0][0].shape;
    const n = terms[0][0].data.length;
    for (const [x, c] of terms) {
      this.checkUsable('combine', x);
      if (!sameShape(x.shape, shape) || x.data.length !== n) {
        throw new ShapeError('CpuLatentBackend.combine', 'all terms must have the same shape', [shape, x.shape]);
      }
      if (!Number.isFinite(c)) throw new ParameterError('CpuLatentBackend.combine', 'coef', `must be finite, got ${c}`);
    }
    const acc = new Float64Array(n);
    for (const [x, c] of terms) {
      const d = x.data;
      for (let i = 0; i < n; i++) acc[i] += c * d[i];
    }
    return this.track({ shape: [...shape], data: Float32Array.from(acc) });
  }

  randnLike(like: CpuLatent, gen: TorchGenerator): CpuLatent {
    this.checkUsable('randnLike', like);
    return this.track({ shape: [...like.shape], data: gen.randn(like.shape) });
  }

  dispose(x: CpuLatent): void {
    if (this.disposed.has(x)) throw new DisposedTensorError('CpuLatent (disposed twice)');
    if (!this.created.has(x)) {
      throw new ParameterError('CpuLatentBackend.dispose', 'x', 'was not created by this backend (a caller-owned value?)');
    }
    this.disposed.add(x);
    this.live--;
  }

  private track(x: CpuLatent): CpuLatent {
    this.created.add(x);
    this.live++;
    return x;
  }

  private checkUsable(op: string, x: CpuLatent): void {
    if (this.disposed.has(x)) throw new DisposedTensorError(`CpuLatent passed to ${op}`);
  }
}
