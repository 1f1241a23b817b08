import { type Tensor, ShapeError } from '@sd-webgpu/tensor';
import { silu } from '@sd-webgpu/kernels';
import type { VaeConfig } from '../configs.js';
import { Conv2d } from '../nn/conv.js';
import { GroupNorm } from '../nn/norm.js';
import { Downsample2D, VAE_DOWNSAMPLE_PADDING } from '../unet/resample.js';
import type { ResnetBlock2D } from '../unet/resnet.js';
import type { WeightScope } from '../weights/scope.js';
import { type Taps, UNetMidBlock2D, type VaeBlockOptions, release, tapped, vaeResnet } from './mid_block.js';

export interface DownEncoderBlockOptions extends VaeBlockOptions {
  inChannels: number;
  outChannels: number;
  layers: number;
  addDownsample: boolean;
}

/**
 * diffusers DownEncoderBlock2D: resnets × layers (no time conditioning), then an optional downsampler that pads one
 * zero row at the bottom and one zero column at the right and applies a 3x3 stride-2 conv without padding.
 */
export class DownEncoderBlock2D {
  readonly resnets: ResnetBlock2D[];
  readonly downsamplers: Downsample2D[];

  constructor(scope: WeightScope, o: DownEncoderBlockOptions) {
    this.resnets = Array.from({ length: o.layers }, (_, j) =>
      vaeResnet(scope.pp('resnets').pp(j), o, j === 0 ? o.inChannels : o.outChannels, o.outChannels),
    );
    this.downsamplers = o.addDownsample ? [new Downsample2D(scope.pp('downsamplers').pp(0), o.outChannels, VAE_DOWNSAMPLE_PADDING)] : [];
  }

  /** x `[B, in, H, W]` → `[B, out, H', W']` (H' = floor(H / 2) with a downsampler); x stays the caller's. */
  forward(x: Tensor): Tensor {
    let h = x;
    for (const layer of [...this.resnets, ...this.downsamplers]) {
      const prev = h;
      h = layer.forward(h);
      release(prev, x);
    }
    return h;
  }
}

/**
 * diffusers VAE `Encoder` (double_z): conv_in → DownEncoderBlock2D × N (the last without downsampler) →
 * UNetMidBlock2D → GroupNorm → SiLU → conv_out to 2 · latent channels (mean and log-variance).
 */
export class Encoder {
  readonly conv_in: Conv2d;
  readonly down_blocks: DownEncoderBlock2D[];
  readonly mid_block: UNetMidBlock2D;
  readonly conv_norm_out: GroupNorm;
  readonly conv_out: Conv2d;

  constructor(scope: WeightScope /* at `encoder` */, readonly cfg: VaeConfig, eps: number) {
    const ch = cfg.blockOutChannels;
    const n = ch.length;
    const shared: VaeBlockOptions = { groups: cfg.normNumGroups, eps };
    this.conv_in = new Conv2d(scope.pp('conv_in'), cfg.inChannels, ch[0]!, 3);
    const down = scope.pp('down_blocks');
    this.down_blocks = ch.map(
      (out, i) =>
        new DownEncoderBlock2D(down.pp(i), {
          ...shared, inChannels: i === 0 ? ch[0]! : ch[i - 1]!, outChannels: out, layers: cfg.layersPerBlock, addDownsample: i < n - 1,
        }),
    );
    this.mid_block = new UNetMidBlock2D(scope.pp('mid_block'), ch[n - 1]!, shared);
    this.conv_norm_out = new GroupNorm(scope.pp('conv_norm_out'), cfg.normNumGroups, ch[n - 1]!, eps);
    this.conv_out = new Conv2d(scope.pp('conv_out'), ch[n - 1]!, 2 * cfg.latentChannels, 3);
  }

  /** image `[B, in, H, W]` → moments before quant_conv `[B, 2 · latent, H/8, W/8]`; taps get module-relative names. */
  forward(image: Tensor, taps?: Taps): Tensor {
    if (image.rank !== 4 || image.shape[1] !== this.cfg.inChannels) {
      throw new ShapeError('Encoder', `expected image [B, ${this.cfg.inChannels}, H, W], got ${image.describe()}`);
    }
    const device = image.device;
    /** Runs one stage in its own scope and frees its input afterwards (never the caller's image). */
    const step = (h: Tensor, fn: () => Tensor): Tensor => {
      const out = device.scope(fn);
      release(h, image);
      return out;
    };
    return device.scope(() => {
      // 1. conv_in
      let h = this.conv_in.forward(image);
      taps?.('conv_in', h);
      // 2. down blocks (each halves H and W except the last)
      this.down_blocks.forEach((block, i) => {
        h = step(h, () => block.forward(h));
        taps?.(`down_blocks.${i}`, h);
      });
      // 3. mid block
      h = step(h, () => this.mid_block.forward(h));
      taps?.('mid_block', h);
      // 4. out: GroupNorm + SiLU (fused unless the norm's own output is tapped), conv_out
      return step(h, () => {
        const act = taps ? silu(tapped(taps, 'conv_norm_out', this.conv_norm_out.forward(h))) : this.conv_norm_out.forward(h, { silu: true });
        const out = this.conv_out.forward(act);
        taps?.('conv_out', out);
        return out;
      });
    });
  }
}
