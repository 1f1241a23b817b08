import { type Tensor, ShapeError } from '@sd-webgpu/tensor';
import { add, attention, geglu, permute, permutedAdd } from '@sd-webgpu/kernels';
import { Conv2d } from '../nn/conv.js';
import { LayerNorm, Linear } from '../nn/linear.js';
import { GroupNorm } from '../nn/norm.js';
import type { WeightScope } from '../weights/scope.js';

export interface Transformer2DOptions {
  /** Channels of the feature map (= inner dim: heads · head_dim). */
  channels: number;
  heads: number;
  /** Width of the cross-attention context (CLIP hidden size). */
  crossAttentionDim: number;
  /** GroupNorm groups of the input norm (SD: 32). */
  groups: number;
}

/** diffusers Transformer2DModel's GroupNorm eps (hard-coded there) and BasicTransformerBlock's LayerNorm eps. */
const GROUP_NORM_EPS = 1e-6;
const LAYER_NORM_EPS = 1e-5;

/**
 * diffusers Attention with the classic processor: to_q/to_k/to_v without bias, to_out.0 with bias (to_out.1 is
 * dropout). Self-attention when no context is given; cross-attention takes k/v from the context.
 */
export class Attention {
  readonly to_q: Linear;
  readonly to_k: Linear;
  readonly to_v: Linear;
  readonly to_out: [Linear];

  constructor(scope: WeightScope, readonly queryDim: number, contextDim: number, readonly heads: number) {
    this.to_q = new Linear(scope.pp('to_q'), queryDim, queryDim, { bias: false });
    this.to_k = new Linear(scope.pp('to_k'), contextDim, queryDim, { bias: false });
    this.to_v = new Linear(scope.pp('to_v'), contextDim, queryDim, { bias: false });
    this.to_out = [new Linear(scope.pp('to_out').pp(0), queryDim, queryDim)];
  }

  /** x `[B, N, C]`, context `[B, L, ctx]` (or none: self-attention) → `[B, N, C]`; scale head_dim^-0.5. */
  forward(x: Tensor, context?: Tensor): Tensor {
    const kv = context ?? x;
    const q = this.to_q.forward(x);
    const k = this.to_k.forward(kv);
    const v = this.to_v.forward(kv);
    return this.to_out[0].forward(attention(q, k, v, { heads: this.heads }));
  }
}

/** diffusers GEGLU: `proj` to 2·inner, value half times gelu(gate half). */
class GEGLU {
  readonly proj: Linear;
  constructor(scope: WeightScope, dim: number, inner: number) {
    this.proj = new Linear(scope.pp('proj'), dim, 2 * inner);
  }
  forward(x: Tensor): Tensor {
    return geglu(this.proj.forward(x));
  }
}

/** diffusers FeedForward (activation 'geglu', mult 4): net.0 = GEGLU, net.1 = dropout, net.2 = Linear(inner, dim). */
export class FeedForward {
  readonly net: { 0: GEGLU; 2: Linear };
  constructor(scope: WeightScope, dim: number) {
    const inner = 4 * dim;
    this.net = { 0: new GEGLU(scope.pp('net').pp(0), dim, inner), 2: new Linear(scope.pp('net').pp(2), inner, dim) };
  }
  forward(x: Tensor): Tensor {
    return this.net[2].forward(this.net[0].forward(x));
  }
}

/** diffusers BasicTransformerBlock (layer_norm, no ada-norm): self-attn, cross-attn, GEGLU feed-forward, pre-LN. */
export class BasicTransformerBlock {
  readonly norm1: LayerNorm;
  readonly attn1: Attention;
  readonly norm2: LayerNorm;
  readonly attn2: Attention;
  readonly norm3: LayerNorm;
  readonly ff: FeedForward;

  constructor(scope: WeightScope, opts: Transformer2DOptions) {
    const c = opts.channels;
    this.norm1 = new LayerNorm(scope.pp('norm1'), c, LAYER_NORM_EPS);
    this.attn1 = new Attention(scope.pp('attn1'), c, c, opts.heads);
    this.norm2 = new LayerNorm(scope.pp('norm2'), c, LAYER_NORM_EPS);
    this.attn2 = new Attention(scope.pp('attn2'), c, opts.crossAttentionDim, opts.heads);
    this.norm3 = new LayerNorm(scope.pp('norm3'), c, LAYER_NORM_EPS);
    this.ff = new FeedForward(scope.pp('ff'), c);
  }

  /** h `[B, N, C]`, context `[B, L, ctx]` → `[B, N, C]`. */
  forward(h: Tensor, context: Tensor): Tensor {
    return h.device.scope(() => {
      let x = add(h, this.attn1.forward(this.norm1.forward(h)));
      x = add(x, this.attn2.forward(this.norm2.forward(x), context));
      return add(x, this.ff.forward(this.norm3.forward(x)));
    });
  }
}

/**
 * diffusers Transformer2DModel as SD 1.x uses it (use_linear_projection=False, one layer):
 * GroupNorm(eps 1e-6) → proj_in (1x1 conv) → tokens `[B, H·W, C]` (token y·W + x) → BasicTransformerBlock(s) →
 * back to NCHW → proj_out (1x1 conv) → + x.
 */
export class Transformer2DModel {
  readonly norm: GroupNorm;
  readonly proj_in: Conv2d;
  readonly transformer_blocks: BasicTransformerBlock[];
  readonly proj_out: Conv2d;

  constructor(scope: WeightScope, readonly opts: Transformer2DOptions) {
    const c = opts.channels;
    if (c % opts.heads !== 0) {
      throw new ShapeError(`Transformer2DModel '${scope.prefix}'`, `${c} channels do not split into ${opts.heads} heads`);
    }
    this.norm = new GroupNorm(scope.pp('norm'), opts.groups, c, GROUP_NORM_EPS);
    this.proj_in = new Conv2d(scope.pp('proj_in'), c, c, 1);
    this.transformer_blocks = [new BasicTransformerBlock(scope.pp('transformer_blocks').pp(0), opts)];
    this.proj_out = new Conv2d(scope.pp('proj_out'), c, c, 1);
  }

  /** x `[B, C, H, W]`, context `[B, L, crossAttentionDim]` → `[B, C, H, W]`. */
  forward(x: Tensor, context: Tensor): Tensor {
    const { channels: c, crossAttentionDim } = this.opts;
    if (x.rank !== 4 || x.shape[1] !== c) {
      throw new ShapeError('Transformer2DModel', `expected x [B, ${c}, H, W], got ${x.describe()}`);
    }
    const [b, , hh, ww] = x.shape as [number, number, number, number];
    if (context.rank !== 3 || context.shape[0] !== b || context.shape[2] !== crossAttentionDim) {
      throw new ShapeError('Transformer2DModel', `expected context [${b}, L, ${crossAttentionDim}], got ${context.describe()}`);
    }
    return x.device.scope(() => {
      // 1. norm, then [B, C, H, W] → [B, H·W, C] and proj_in as a per-token linear (1x1 conv)
      const normed = this.norm.forward(x).reshape([b, c, hh * ww]);
      let h = this.proj_in.forwardTokens(permute(normed, [0, 2, 1]));
      // 2. transformer blocks on tokens
      for (const block of this.transformer_blocks) h = block.forward(h, context);
      // 3. proj_out on tokens, then [B, H·W, C] → [B, C, H·W] and the residual in one pass; → [B, C, H, W]
      return permutedAdd(this.proj_out.forwardTokens(h), [0, 2, 1], x.reshape([b, c, hh * ww])).reshape([b, c, hh, ww]);
    });
  }
}
