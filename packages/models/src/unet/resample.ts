import { type Tensor, ShapeError } from '@sd-webgpu/tensor';
import { upsampleNearest } from '@sd-webgpu/kernels';
import { Conv2d, type Conv2dPadding } from '../nn/conv.js';
import type { WeightScope } from '../weights/scope.js';

/**
 * diffusers Downsample2D with use_conv: a 3x3 stride-2 conv named `conv` (CompVis: `op`, mapped by the keymap).
 * UNet: padding 1. VAE (diffusers padding=0): `F.pad(x, (0, 1, 0, 1))` then no padding, i.e. `[top 0, bottom 1,
 * left 0, right 1]` zero padding of the same conv.
 */
export class Downsample2D {
  readonly conv: Conv2d;

  constructor(scope: WeightScope, readonly channels: number, padding: Conv2dPadding = 1) {
    this.conv = new Conv2d(scope.pp('conv'), channels, channels, 3, { stride: 2, padding });
  }

  /** `[B, C, H, W]` → `[B, C, H', W']`, H' = floor((H + padTop + padBottom - 3) / 2) + 1. */
  forward(x: Tensor): Tensor {
    if (x.rank !== 4 || x.shape[1] !== this.channels) {
      throw new ShapeError('Downsample2D', `expected x [B, ${this.channels}, H, W], got ${x.describe()}`);
    }
    return this.conv.forward(x);
  }
}

/** The VAE's Downsample2D padding: zero row at the bottom, zero column at the right. */
export const VAE_DOWNSAMPLE_PADDING: Conv2dPadding = [0, 1, 0, 1];

/** diffusers Upsample2D with use_conv: nearest 2x (or to `size`, torch legacy nearest), then a 3x3 conv, padding 1. */
export class Upsample2D {
  readonly conv: Conv2d;

  constructor(scope: WeightScope, readonly channels: number) {
    this.conv = new Conv2d(scope.pp('conv'), channels, channels, 3);
  }

  /** `[B, C, H, W]` → `[B, C, 2H, 2W]`, or `[B, C, size[0], size[1]]` when the UNet asks for the skip's size. */
  forward(x: Tensor, size?: readonly [number, number]): Tensor {
    if (x.rank !== 4 || x.shape[1] !== this.channels) {
      throw new ShapeError('Upsample2D', `expected x [B, ${this.channels}, H, W], got ${x.describe()}`);
    }
    const [, , h, w] = x.shape as [number, number, number, number];
    return x.device.scope(() => this.conv.forward(upsampleNearest(x, size ?? [2 * h, 2 * w])));
  }
}
