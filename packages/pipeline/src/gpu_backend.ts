import { type Device, type Tensor } from '@sd-webgpu/tensor';
import { linearCombination } from '@sd-webgpu/kernels';
import type { TorchGenerator } from './rng/index.js';
import type { LatentBackend } from './schedulers/index.js';

/**
 * Scheduler arithmetic on GPU tensors: coefficients come from the host in float64, the weighted sum runs in one
 * kernel (f32 accumulation). Noise is drawn on the CPU with the torch-compatible generator, then uploaded.
 * Every value it returns is owned explicitly (by the scheduler's state or the caller), never by an enclosing scope.
 */
export class GpuLatentBackend implements LatentBackend<Tensor> {
  constructor(readonly device: Device) {}

  combine(terms: ReadonlyArray<readonly [Tensor, number]>): Tensor {
    return this.device.keep(linearCombination(terms));
  }

  randnLike(like: Tensor, gen: TorchGenerator): Tensor {
    return this.device.keep(this.device.tensor(gen.randn(like.shape), like.shape, like.dtype));
  }

  dispose(x: Tensor): void {
    x.dispose();
  }
}
