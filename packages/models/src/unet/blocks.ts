/**
 * The UNet's blocks, as diffusers 0.27.2 builds them for SD 1.x (resnets with time conditioning, one-layer
 * Transformer2DModels, 3x3 stride-2 downsamplers with padding 1, nearest 2x upsamplers).
 *
 * Down blocks return their output and the skip tensors they add to the UNet's list (one per layer, plus the
 * downsampler's output); up blocks take their skips (as many as they have resnets, in the order they were made) and
 * consume them from the last. Skips belong to the caller. Each layer's output is freed as soon as the next layer
 * has consumed it, unless it is a skip or the block's input.
 */
import { type Tensor, ShapeError } from '@sd-webgpu/tensor';
import { concat } from '@sd-webgpu/kernels';
import type { WeightScope } from '../weights/scope.js';
import { Downsample2D, Upsample2D } from './resample.js';
import { ResnetBlock2D, type TimeInput } from './resnet.js';
import { Transformer2DModel } from './transformer.js';

/** What every UNet block shares. */
export interface UNetBlockOptions {
  tembChannels: number;
  groups: number;
  /** Resnet GroupNorm eps (SD 1.x: 1e-5). */
  eps: number;
  heads: number;
  crossAttentionDim: number;
}

export interface DownBlockOptions extends UNetBlockOptions {
  inChannels: number;
  outChannels: number;
  layers: number;
  addDownsample: boolean;
}

export interface UpBlockOptions extends UNetBlockOptions {
  /** Channels of the skips made by the down block one level deeper (the last resnet's skip has these). */
  inChannels: number;
  outChannels: number;
  /** Channels coming from the previous up block (or the mid block). */
  prevOutputChannels: number;
  layers: number;
  addUpsample: boolean;
}

export interface DownBlockOutput {
  h: Tensor;
  skips: Tensor[];
}

/** Frees a layer's output once the next layer has consumed it (never the caller's input, never a skip). */
function release(t: Tensor, keep: Tensor | readonly Tensor[]): void {
  if (Array.isArray(keep) ? !keep.includes(t) : t !== keep) t.dispose();
}

function resnet(scope: WeightScope, o: UNetBlockOptions, inChannels: number, outChannels: number): ResnetBlock2D {
  return new ResnetBlock2D(scope, { inChannels, outChannels, tembChannels: o.tembChannels, groups: o.groups, eps: o.eps });
}

function transformer(scope: WeightScope, o: UNetBlockOptions, channels: number): Transformer2DModel {
  return new Transformer2DModel(scope, { channels, heads: o.heads, crossAttentionDim: o.crossAttentionDim, groups: o.groups });
}

const times = <T>(n: number, make: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => make(i));

/** diffusers CrossAttnDownBlock2D: (resnet → transformer) × layers, then an optional downsampler. */
export class CrossAttnDownBlock2D {
  readonly resnets: ResnetBlock2D[];
  readonly attentions: Transformer2DModel[];
  readonly downsamplers: Downsample2D[];

  constructor(scope: WeightScope, o: DownBlockOptions) {
    this.resnets = times(o.layers, (i) => resnet(scope.pp('resnets').pp(i), o, i === 0 ? o.inChannels : o.outChannels, o.outChannels));
    this.attentions = times(o.layers, (i) => transformer(scope.pp('attentions').pp(i), o, o.outChannels));
    this.downsamplers = o.addDownsample ? [new Downsample2D(scope.pp('downsamplers').pp(0), o.outChannels, 1)] : [];
  }

  forward(x: Tensor, temb: TimeInput, context: Tensor): DownBlockOutput {
    const skips: Tensor[] = [];
    let h = x;
    this.resnets.forEach((res, i) => {
      const r = res.forward(h, temb);
      h = this.attentions[i]!.forward(r, context);
      release(r, x);
      skips.push(h);
    });
    for (const down of this.downsamplers) skips.push((h = down.forward(h)));
    return { h, skips };
  }
}

/** diffusers DownBlock2D: resnets × layers, then an optional downsampler (SD's last, 8x8 level has none). */
export class DownBlock2D {
  readonly resnets: ResnetBlock2D[];
  readonly downsamplers: Downsample2D[];

  constructor(scope: WeightScope, o: DownBlockOptions) {
    this.resnets = times(o.layers, (i) => resnet(scope.pp('resnets').pp(i), o, i === 0 ? o.inChannels : o.outChannels, o.outChannels));
    this.downsamplers = o.addDownsample ? [new Downsample2D(scope.pp('downsamplers').pp(0), o.outChannels, 1)] : [];
  }

  forward(x: Tensor, temb: TimeInput, _context: Tensor): DownBlockOutput {
    const skips: Tensor[] = [];
    let h = x;
    for (const res of this.resnets) skips.push((h = res.forward(h, temb)));
    for (const down of this.downsamplers) skips.push((h = down.forward(h)));
    return { h, skips };
  }
}

/** diffusers UNetMidBlock2DCrossAttn (one layer): resnet → transformer → resnet, at constant channels. */
export class UNetMidBlock2DCrossAttn {
  readonly resnets: [ResnetBlock2D, ResnetBlock2D];
  readonly attentions: [Transformer2DModel];

  constructor(scope: WeightScope, readonly channels: number, o: UNetBlockOptions) {
    this.resnets = [resnet(scope.pp('resnets').pp(0), o, channels, channels), resnet(scope.pp('resnets').pp(1), o, channels, channels)];
    this.attentions = [transformer(scope.pp('attentions').pp(0), o, channels)];
  }

  forward(x: Tensor, temb: TimeInput, context: Tensor): Tensor {
    const r = this.resnets[0].forward(x, temb);
    const a = this.attentions[0].forward(r, context);
    release(r, x);
    const y = this.resnets[1].forward(a, temb);
    release(a, x);
    return y;
  }
}

/** Channels of up-block resnet j: in = (j == 0 ? previous : out) + skip, skip = (last ? block in : out). */
function upResnets(scope: WeightScope, o: UpBlockOptions): ResnetBlock2D[] {
  return times(o.layers, (j) => {
    const skip = j === o.layers - 1 ? o.inChannels : o.outChannels;
    const from = j === 0 ? o.prevOutputChannels : o.outChannels;
    return resnet(scope.pp('resnets').pp(j), o, from + skip, o.outChannels);
  });
}

function checkSkips(block: string, skips: readonly Tensor[], layers: number): void {
  if (skips.length !== layers) throw new ShapeError(block, `needs ${layers} skip tensors, got ${skips.length}`);
}

/** Concatenates the next skip (taken from the end) onto h's channels: `[B, C, H, W] ++ [B, Cs, H, W]`. */
function withSkip(block: string, h: Tensor, skip: Tensor): Tensor {
  if (skip.rank !== 4 || h.shape[0] !== skip.shape[0] || h.shape[2] !== skip.shape[2] || h.shape[3] !== skip.shape[3]) {
    throw new ShapeError(block, `skip ${skip.describe()} does not match ${h.describe()} (batch and H, W must agree)`);
  }
  return concat([h, skip], 1);
}

/**
 * diffusers UpBlock2D: (concat skip → resnet) × layers, then an optional upsampler to `upsampleSize` (the next
 * skip's H, W; 2x when not given).
 */
export class UpBlock2D {
  readonly resnets: ResnetBlock2D[];
  readonly upsamplers: Upsample2D[];

  constructor(scope: WeightScope, o: UpBlockOptions) {
    this.resnets = upResnets(scope, o);
    this.upsamplers = o.addUpsample ? [new Upsample2D(scope.pp('upsamplers').pp(0), o.outChannels)] : [];
  }

  forward(x: Tensor, skips: readonly Tensor[], temb: TimeInput, _context: Tensor, upsampleSize?: readonly [number, number]): Tensor {
    checkSkips('UpBlock2D', skips, this.resnets.length);
    let h = x;
    this.resnets.forEach((res, j) => {
      const cat = withSkip('UpBlock2D', h, skips[skips.length - 1 - j]!);
      release(h, x);
      h = res.forward(cat, temb);
      cat.dispose();
    });
    for (const up of this.upsamplers) {
      const prev = h;
      h = up.forward(h, upsampleSize);
      release(prev, x);
    }
    return h;
  }
}

/** diffusers CrossAttnUpBlock2D: (concat skip → resnet → transformer) × layers, then an optional upsampler. */
export class CrossAttnUpBlock2D {
  readonly resnets: ResnetBlock2D[];
  readonly attentions: Transformer2DModel[];
  readonly upsamplers: Upsample2D[];

  constructor(scope: WeightScope, o: UpBlockOptions) {
    this.resnets = upResnets(scope, o);
    this.attentions = times(o.layers, (j) => transformer(scope.pp('attentions').pp(j), o, o.outChannels));
    this.upsamplers = o.addUpsample ? [new Upsample2D(scope.pp('upsamplers').pp(0), o.outChannels)] : [];
  }

  forward(x: Tensor, skips: readonly Tensor[], temb: TimeInput, context: Tensor, upsampleSize?: readonly [number, number]): Tensor {
    checkSkips('CrossAttnUpBlock2D', skips, this.resnets.length);
    let h = x;
    this.resnets.forEach((res, j) => {
      const cat = withSkip('CrossAttnUpBlock2D', h, skips[skips.length - 1 - j]!);
      release(h, x);
      const r = res.forward(cat, temb);
      cat.dispose();
      h = this.attentions[j]!.forward(r, context);
      r.dispose();
    });
    for (const up of this.upsamplers) {
      const prev = h;
      h = up.forward(h, upsampleSize);
      release(prev, x);
    }
    return h;
  }
}

export type DownBlock = CrossAttnDownBlock2D | DownBlock2D;
export type UpBlock = CrossAttnUpBlock2D | UpBlock2D;
