import { type Tensor, ShapeError, UnsupportedError } from '@sd-webgpu/tensor';
import { silu } from '@sd-webgpu/kernels';
import type { UNetConfig } from '../configs.js';
import { Conv2d } from '../nn/conv.js';
import { disposeModule, parameterCount } from '../nn/module.js';
import { GroupNorm } from '../nn/norm.js';
import type { WeightScope } from '../weights/scope.js';
import {
  CrossAttnDownBlock2D, CrossAttnUpBlock2D, type DownBlock, DownBlock2D, type UNetBlockOptions, UNetMidBlock2DCrossAttn,
  type UpBlock, UpBlock2D,
} from './blocks.js';
import { TimestepEmbedding, Timesteps, batchTimesteps } from './embeddings.js';
import { UNetGraph } from './graph.js';

/** Receives named intermediate activations (for tests); copy or read back what you keep, the model frees them. */
export type Taps = (name: string, t: Tensor) => void;

/**
 * diffusers UNet2DConditionModel with the SD 1.x structure (flip_sin_to_cos, freq_shift 0, time embedding width
 * 4·C0, downsample padding 1, mid-block scale 1, conv_in/conv_out 3x3). Every weight and activation has the store's
 * dtype; the kernels accumulate in f32.
 */
export class UNet2DConditionModel {
  readonly conv_in: Conv2d;
  readonly time_proj: Timesteps;
  readonly time_embedding: TimestepEmbedding;
  readonly down_blocks: DownBlock[];
  readonly mid_block: UNetMidBlock2DCrossAttn;
  readonly up_blocks: UpBlock[];
  readonly conv_norm_out: GroupNorm;
  readonly conv_out: Conv2d;
  readonly dtype: 'f32' | 'f16';

  constructor(scope: WeightScope /* at the UNet component's root */, readonly cfg: UNetConfig) {
    const ch = cfg.blockOutChannels;
    const n = ch.length;
    if (cfg.downBlockTypes.length !== n || cfg.upBlockTypes.length !== n) {
      throw new ShapeError('UNet2DConditionModel', `config has ${n} block_out_channels but ${cfg.downBlockTypes.length} down / ${cfg.upBlockTypes.length} up block types`);
    }
    this.dtype = scope.dtype;
    const tembChannels = 4 * ch[0]!;
    const shared: UNetBlockOptions = {
      tembChannels, groups: cfg.normNumGroups, eps: cfg.normEps, heads: cfg.numAttentionHeads, crossAttentionDim: cfg.crossAttentionDim,
    };

    this.conv_in = new Conv2d(scope.pp('conv_in'), cfg.inChannels, ch[0]!, 3);
    this.time_proj = new Timesteps(ch[0]!);
    this.time_embedding = new TimestepEmbedding(scope.pp('time_embedding'), ch[0]!, tembChannels);

    const down = scope.pp('down_blocks');
    this.down_blocks = cfg.downBlockTypes.map((type, i) => {
      const o = { ...shared, inChannels: i === 0 ? ch[0]! : ch[i - 1]!, outChannels: ch[i]!, layers: cfg.layersPerBlock, addDownsample: i < n - 1 };
      return type === 'CrossAttnDownBlock2D' ? new CrossAttnDownBlock2D(down.pp(i), o) : new DownBlock2D(down.pp(i), o);
    });

    this.mid_block = new UNetMidBlock2DCrossAttn(scope.pp('mid_block'), ch[n - 1]!, shared);

    const rev = [...ch].reverse();
    const up = scope.pp('up_blocks');
    this.up_blocks = cfg.upBlockTypes.map((type, i) => {
      const o = {
        ...shared, inChannels: rev[Math.min(i + 1, n - 1)]!, outChannels: rev[i]!, prevOutputChannels: i === 0 ? rev[0]! : rev[i - 1]!,
        layers: cfg.layersPerBlock + 1, addUpsample: i < n - 1,
      };
      return type === 'CrossAttnUpBlock2D' ? new CrossAttnUpBlock2D(up.pp(i), o) : new UpBlock2D(up.pp(i), o);
    });

    this.conv_norm_out = new GroupNorm(scope.pp('conv_norm_out'), cfg.normNumGroups, ch[0]!, cfg.normEps);
    this.conv_out = new Conv2d(scope.pp('conv_out'), ch[0]!, cfg.outChannels, 3);
  }

  /**
   * Predicted noise for `sample [B, in, h, w]` at `timestep` (one number for the whole batch, or one per sample)
   * given `context [B, L, crossAttentionDim]` → `[B, out, h, w]`. Any h, w ≥ 1 work: the up path resizes to each
   * skip's size, as diffusers does when the latent is not a multiple of 2^(blocks-1).
   */
  forward(sample: Tensor, timestep: number | readonly number[], context: Tensor, taps?: Taps): Tensor {
    this.check(sample, context);
    const device = sample.device;
    return device.scope(() => {
      // 1. time: sinusoidal (host, f32 maths), uploaded
      const tEmb = this.timeProjection(timestep, sample);
      taps?.('time_proj', tEmb);
      return this.forwardProjected(sample, tEmb, context, taps);
    });
  }

  /**
   * The same model as a replayable dispatch graph for a loop of evaluations at fixed shapes (./graph.ts): identical
   * numbers at a fraction of the host cost per dispatch. The caller disposes it.
   */
  replayable(): UNetGraph {
    return new UNetGraph(this);
  }

  /** `time_proj` for `sample`'s batch: the sinusoidal rows `[B, C0]`, computed on the host and uploaded. */
  timeProjection(timestep: number | readonly number[], sample: Tensor): Tensor {
    return this.time_proj.forward(sample.device, batchTimesteps(timestep, sample.shape[0]!), this.dtype);
  }

  /**
   * The rest of `forward` after `time_proj`: everything on the GPU, a function of `(sample, tEmb, context)` alone,
   * hence capturable as one dispatch graph (./graph.ts).
   */
  forwardProjected(sample: Tensor, tEmb: Tensor, context: Tensor, taps?: Taps): Tensor {
    this.check(sample, context);
    const c0 = this.cfg.blockOutChannels[0]!;
    if (tEmb.rank !== 2 || tEmb.shape[0] !== sample.shape[0] || tEmb.shape[1] !== c0 || tEmb.dtype !== this.dtype) {
      throw new ShapeError('UNet2DConditionModel', `expected time_proj rows ${this.dtype}[${sample.shape[0]}, ${c0}], got ${tEmb.describe()}`);
    }
    const device = sample.device;
    return device.scope(() => {
      // 1. time MLP
      const temb = this.time_embedding.forward(tEmb);
      taps?.('time_embedding', temb);
      // every resnet applies the same SiLU to temb: once here
      const tembAct = { silu: silu(temb) };

      // 2. conv_in; the skip list starts with its output
      let h = this.conv_in.forward(sample);
      taps?.('conv_in', h);
      const skips: Tensor[] = [h];

      // 3. down path: each block in its own scope, returning its output and skips
      this.down_blocks.forEach((block, i) => {
        const out = device.scope(() => block.forward(h, tembAct, context));
        skips.push(...out.skips);
        h = out.h;
        taps?.(`down_blocks.${i}`, h);
      });

      // 4. mid block
      h = this.#step(h, skips, () => this.mid_block.forward(h, tembAct, context));
      taps?.('mid_block', h);

      // 5. up path: each block takes as many skips as it has resnets, from the end, and upsamples to the size of
      //    the skip that comes next
      this.up_blocks.forEach((block, i) => {
        const mine = skips.splice(skips.length - block.resnets.length);
        const next = skips[skips.length - 1];
        const size = next ? ([next.shape[2]!, next.shape[3]!] as const) : undefined;
        h = this.#step(h, skips, () => block.forward(h, mine, tembAct, context, block.upsamplers.length ? size : undefined));
        for (const s of mine) s.dispose();
        taps?.(`up_blocks.${i}`, h);
      });

      // 6. out: GroupNorm (tapped before its SiLU), SiLU, conv_out
      const normed = this.conv_norm_out.forward(h);
      taps?.('conv_norm_out', normed);
      const out = this.conv_out.forward(silu(normed));
      taps?.('conv_out', out);
      return out;
    });
  }

  /** Runs one block in its own scope and frees its input afterwards unless the skip list still holds it. */
  #step(h: Tensor, skips: readonly Tensor[], fn: () => Tensor): Tensor {
    const out = h.device.scope(fn);
    if (!skips.includes(h)) h.dispose();
    return out;
  }

  /** Checks `forward`'s operands (shapes, dtypes against the weights) before any GPU work. */
  check(sample: Tensor, context: Tensor): void {
    const { inChannels, crossAttentionDim } = this.cfg;
    if (sample.rank !== 4 || sample.shape[1] !== inChannels) {
      throw new ShapeError('UNet2DConditionModel', `expected sample [B, ${inChannels}, h, w], got ${sample.describe()}`);
    }
    const b = sample.shape[0]!;
    if (context.rank !== 3 || context.shape[0] !== b || context.shape[2] !== crossAttentionDim) {
      throw new ShapeError('UNet2DConditionModel', `expected context [${b}, L, ${crossAttentionDim}], got ${context.describe()}`);
    }
    for (const [name, t] of [['sample', sample], ['context', context]] as const) {
      if (t.dtype !== this.dtype) {
        throw new UnsupportedError('UNet2DConditionModel', `${name} is ${t.dtype} but the weights are ${this.dtype}: cast it first`);
      }
    }
  }

  /** Number of weight elements (SD 1.5: 859,520,964). */
  parameterCount(): number {
    return parameterCount(this);
  }

  /** Frees every weight of the model. */
  dispose(): void {
    disposeModule(this);
  }
}
