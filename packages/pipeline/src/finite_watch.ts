import { markNonFinite } from '@sd-webgpu/kernels';
import { type Device, SdError, type Tensor } from '@sd-webgpu/tensor';

/** Latents or pixels that became NaN or infinite: reported instead of a silent black image. */
export class NonFiniteError extends SdError {
  /** The first denoising step (1-based) whose latents were not finite; null when the VAE decoder produced them. */
  readonly step: number | null;
  constructor(step: number | null, totalSteps: number) {
    super('non_finite', step === null
      ? 'the VAE decoder produced NaN or infinite pixels (an f16 overflow? try dtype f32) - no image written'
      : `the latents became NaN or infinite at denoising step ${step} of ${totalSteps} (lower the guidance scale, ` +
        'use dtype f32 if f16 overflowed, or check the model weights) - no image written');
    this.step = step;
  }
}

const NONE = 0xffffffff;

/**
 * Watches the latents of a denoising loop on the GPU: `mark(latents, step)` after every step costs one tiny dispatch
 * and no readback; `check()` reads one u32 at the end and throws NonFiniteError naming the first bad step.
 */
export class FiniteWatch {
  readonly #flag: Tensor;
  readonly #totalSteps: number;

  constructor(device: Device, totalSteps: number) {
    this.#flag = device.tensor([NONE], [1], 'u32');
    this.#totalSteps = totalSteps;
  }

  mark(latents: Tensor, step: number): void {
    markNonFinite(latents, this.#flag, step);
  }

  async check(): Promise<void> {
    const first = (await this.#flag.data())[0]!;
    if (first !== NONE) throw new NonFiniteError(first, this.#totalSteps);
  }

  /** Decoded pixels, already on the host. */
  checkPixels(data: Float32Array): void {
    for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i]!)) throw new NonFiniteError(null, this.#totalSteps);
  }

  dispose(): void {
    this.#flag.dispose();
  }
}
