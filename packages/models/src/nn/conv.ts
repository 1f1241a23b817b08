import { type Tensor, ParameterError } from '@sd-webgpu/tensor';
import { type Conv2dPadding as SidePadding, type PackedConv2dWeight, conv2d, conv2dPackWeight, linear } from '@sd-webgpu/kernels';
import type { WeightScope } from '../weights/scope.js';

/** Zero padding of a conv: one number for all sides, or `[top, bottom, left, right]` (VAE downsampling: [0, 1, 0, 1]). */
export type Conv2dPadding = number | SidePadding;

export interface Conv2dOptions {
  stride?: 1 | 2;
  /** Default: `(kernel - 1) / 2` ("same" for stride 1). */
  padding?: Conv2dPadding;
  bias?: boolean;
}

/** torch.nn.Conv2d (NCHW, cross-correlation): `weight [out, in, k, k]` (k = 1 or 3), optional `bias [out]`. */
export class Conv2d {
  /**
   * 3x3 weights whose output channels are a multiple of 4 are repacked once at build time into the layout the conv
   * kernel reads (`[in·3·3, out]`; ~20 % faster than repacking per call, no extra memory: the original is freed and the packed
   * copy is an exactly sized buffer, not a pool bucket).
   * Others stay in the checkpoint's `[out, in, k, k]`.
   */
  readonly weight: Tensor | PackedConv2dWeight;
  readonly bias: Tensor | null;
  readonly stride: 1 | 2;
  readonly padding: Conv2dPadding;

  constructor(
    scope: WeightScope,
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: 1 | 3,
    opts: Conv2dOptions = {},
  ) {
    if (kernelSize !== 1 && kernelSize !== 3) {
      throw new ParameterError(`Conv2d '${scope.prefix}'`, 'kernelSize', `must be 1 or 3, got ${kernelSize}`);
    }
    this.stride = opts.stride ?? 1;
    this.padding = opts.padding ?? (kernelSize - 1) / 2;
    const weight = scope.get('weight', [outChannels, inChannels, kernelSize, kernelSize]);
    if (kernelSize === 3 && outChannels % 4 === 0) {
      this.weight = conv2dPackWeight(weight, { exact: true });
      // a weight: owned by this module (and by the store until the build succeeds), never by an enclosing scope
      scope.adopt(weight.device.keep(this.weight.tensor));
      weight.dispose();
    } else this.weight = weight;
    this.bias = opts.bias === false ? null : scope.get('bias', [outChannels]);
  }

  /** x `[N, in, H, W]` → `[N, out, H', W']`. */
  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding });
  }

  /**
   * A 1x1 conv applied to channels-last tokens `[..., in]` → `[..., out]`: the same sums as `forward` on the NCHW
   * layout, done as a linear layer over a `[out, in]` view of the weight (Transformer2DModel's proj_in/proj_out).
   */
  forwardTokens(x: Tensor): Tensor {
    if (this.kernelSize !== 1) {
      throw new ParameterError('Conv2d.forwardTokens', 'kernelSize', `must be 1 to act on tokens, got ${this.kernelSize}`);
    }
    const w = (this.weight as Tensor).reshape([this.outChannels, this.inChannels]);
    try {
      return linear(x, w, this.bias ?? undefined);
    } finally {
      w.dispose(); // only the view: the weight keeps its own reference to the storage
    }
  }
}
