import { type Tensor, ShapeError } from '@sd-webgpu/tensor';
import { silu } from '@sd-webgpu/kernels';
import type { VaeConfig } from '../configs.js';
import { Conv2d } from '../nn/conv.js';
import { GroupNorm } from '../nn/norm.js';
import { Upsample2D } from '../unet/resample.js';
import type { ResnetBlock2D } from '../unet/resnet.js';
import type { WeightScope } from '../weights/scope.js';
import { type Taps, UNetMidBlock2D, type VaeBlockOptions, release, tapped, vaeResnet } from './mid_block.js';

export interface UpDecoderBlockOptions extends VaeBlockOptions {
  /** Channels coming from the previous up block (or the mid block). */
  prevOutputChannels: number;
  outChannels: number;
  layers: number;
  addUpsample: boolean;
}

/** diffusers UpDecoderBlock2D: resnets × layers (no skips, no time conditioning), then an optional nearest-2x upsampler. */
export class UpDecoderBlock2D {
  readonly resnets: ResnetBlock2D[];
  readonly upsamplers: Upsample2D[];

  constructor(scope: WeightScope, o: UpDecoderBlockOptions) {
    this.resnets = Array.from({ length: o.layers }, (_, j) =>
      vaeResnet(scope.pp('resnets').pp(j), o, j === 0 ? o.prevOutputChannels : o.outChannels, o.outChannels),
    );
    this.upsamplers = o.addUpsample ? [new Upsample2D(scope.pp('upsamplers').pp(0), o.outChannels)] : [];
  }

  /**
   * x `[B, prev, H, W]` → `[B, out, 2H, 2W]` (H, W without an upsampler); x stays the caller's unless `consume`, which
   * frees it as soon as the first layer has read it (the decoder's peak at 512² is in these blocks: holding a 64 MiB
   * f16 input through the whole block raised it by a fifth).
   */
  forward(x: Tensor, opts: { consume?: boolean } = {}): Tensor {
    let h = x;
    for (const layer of [...this.resnets, ...this.upsamplers]) {
      const prev = h;
      h = layer.forward(h);
      if (opts.consume || prev !== x) prev.dispose();
    }
    return h;
  }
}

/**
 * diffusers VAE `Decoder`: conv_in → UNetMidBlock2D → UpDecoderBlock2D × N (layers_per_block + 1 resnets each; the
 * last without upsampler) → GroupNorm → SiLU → conv_out. `up_blocks.0` is the deepest (widest) block: the channel
 * list runs reversed, so SD's decoder goes 512 → 512 → 256 → 128 channels while the size grows 8x.
 */
export class Decoder {
  readonly conv_in: Conv2d;
  readonly mid_block: UNetMidBlock2D;
  readonly up_blocks: UpDecoderBlock2D[];
  readonly conv_norm_out: GroupNorm;
  readonly conv_out: Conv2d;

  constructor(scope: WeightScope /* at `decoder` */, readonly cfg: VaeConfig, eps: number) {
    const rev = [...cfg.blockOutChannels].reverse();
    const n = rev.length;
    const shared: VaeBlockOptions = { groups: cfg.normNumGroups, eps };
    this.conv_in = new Conv2d(scope.pp('conv_in'), cfg.latentChannels, rev[0]!, 3);
    this.mid_block = new UNetMidBlock2D(scope.pp('mid_block'), rev[0]!, shared);
    const up = scope.pp('up_blocks');
    this.up_blocks = rev.map(
      (out, i) =>
        new UpDecoderBlock2D(up.pp(i), {
          ...shared, prevOutputChannels: i === 0 ? rev[0]! : rev[i - 1]!, outChannels: out, layers: cfg.layersPerBlock + 1,
          addUpsample: i < n - 1,
        }),
    );
    this.conv_norm_out = new GroupNorm(scope.pp('conv_norm_out'), cfg.normNumGroups, rev[n - 1]!, eps);
    this.conv_out = new Conv2d(scope.pp('conv_out'), rev[n - 1]!, cfg.outChannels, 3);
  }

  /** z after post_quant_conv `[B, latent, h, w]` → image `[B, out, 8h, 8w]`; taps get module-relative names. */
  forward(z: Tensor, taps?: Taps): Tensor {
    if (z.rank !== 4 || z.shape[1] !== this.cfg.latentChannels) {
      throw new ShapeError('Decoder', `expected z [B, ${this.cfg.latentChannels}, h, w], got ${z.describe()}`);
    }
    const device = z.device;
    /** Runs one stage in its own scope and frees its input afterwards, if the stage did not (never the caller's z). */
    const step = (h: Tensor, fn: () => Tensor): Tensor => {
      const out = device.scope(fn);
      release(h, z);
      return out;
    };
    return device.scope(() => {
      // 1. conv_in
      let h = this.conv_in.forward(z);
      taps?.('conv_in', h);
      // 2. mid block
      h = step(h, () => this.mid_block.forward(h));
      taps?.('mid_block', h);
      // 3. up blocks (each doubles H and W except the last); the activations peak in the last two
      this.up_blocks.forEach((block, i) => {
        // the block frees its input after its first layer (taps have already recorded their readback copies)
        h = step(h, () => block.forward(h, { consume: h !== z }));
        taps?.(`up_blocks.${i}`, h);
      });
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
