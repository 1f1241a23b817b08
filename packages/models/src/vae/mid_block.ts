import { type Tensor, ShapeError } from '@sd-webgpu/tensor';
import { ResnetBlock2D } from '../unet/resnet.js';
import type { WeightScope } from '../weights/scope.js';
import { VaeAttention } from './attention.js';

/** GroupNorm eps of every VAE norm (diffusers hard-codes 1e-6 in the VAE's Encoder and Decoder blocks). */
export const VAE_NORM_EPS = 1e-6;

/** What every VAE block shares: GroupNorm groups and eps (SD 1.x: 32 and 1e-6). */
export interface VaeBlockOptions {
  groups: number;
  eps: number;
}

/** A time-unconditioned VAE resnet (diffusers ResnetBlock2D with temb_channels None). */
export function vaeResnet(scope: WeightScope, o: VaeBlockOptions, inChannels: number, outChannels: number): ResnetBlock2D {
  return new ResnetBlock2D(scope, { inChannels, outChannels, tembChannels: null, groups: o.groups, eps: o.eps });
}

/** Receives named intermediate activations (for tests); read back what you keep, the model frees them. */
export type Taps = (name: string, t: Tensor) => void;

/** Hands `t` to the tap `name` and returns it. */
export function tapped(taps: Taps, name: string, t: Tensor): Tensor {
  taps(name, t);
  return t;
}

/** Frees a layer's output once the next layer has consumed it, unless it is the caller's input. */
export function release(t: Tensor, input: Tensor): void {
  if (t !== input) t.dispose();
}

/**
 * diffusers UNetMidBlock2D as the VAE builds it (one layer, attention on, temb None): resnet → attention → resnet,
 * at constant channels.
 */
export class UNetMidBlock2D {
  readonly resnets: [ResnetBlock2D, ResnetBlock2D];
  readonly attentions: [VaeAttention];

  constructor(scope: WeightScope, readonly channels: number, o: VaeBlockOptions) {
    this.resnets = [vaeResnet(scope.pp('resnets').pp(0), o, channels, channels), vaeResnet(scope.pp('resnets').pp(1), o, channels, channels)];
    this.attentions = [new VaeAttention(scope.pp('attentions').pp(0), { channels, groups: o.groups, eps: o.eps })];
  }

  /** x `[B, C, H, W]` → `[B, C, H, W]`; x stays the caller's. */
  forward(x: Tensor): Tensor {
    if (x.rank !== 4 || x.shape[1] !== this.channels) {
      throw new ShapeError('UNetMidBlock2D', `expected x [B, ${this.channels}, H, W], got ${x.describe()}`);
    }
    const r = this.resnets[0].forward(x);
    const a = this.attentions[0].forward(r);
    release(r, x);
    const y = this.resnets[1].forward(a);
    release(a, x);
    return y;
  }
}
