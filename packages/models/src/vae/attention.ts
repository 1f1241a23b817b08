import { type Tensor, ShapeError } from '@sd-webgpu/tensor';
import { add, attention, permute } from '@sd-webgpu/kernels';
import { Linear } from '../nn/linear.js';
import { GroupNorm } from '../nn/norm.js';
import type { WeightScope } from '../weights/scope.js';

export interface VaeAttentionOptions {
  channels: number;
  /** GroupNorm groups (SD: 32). */
  groups: number;
  /** GroupNorm eps (SD: 1e-6). */
  eps: number;
}

/**
 * The VAE mid block's attention (diffusers `Attention` built with `_from_deprecated_attn_block=True`, one head of
 * C channels):
 *   h = group_norm(x) → tokens `[B, H·W, C]` (token y·W + x)
 *   o = softmax(to_q(h) to_k(h)ᵀ · C^-0.5) to_v(h)      (to_q/k/v Linear [C, C] with bias)
 *   y = to_out.0(o) → `[B, C, H, W]` + x                 (rescale_output_factor 1)
 * The original (CompVis) layout holds q/k/v/proj_out as 1x1 convs `[C, C, 1, 1]`; the keymap squeezes them to
 * `[C, C]` under these names.
 */
export class VaeAttention {
  readonly group_norm: GroupNorm;
  readonly to_q: Linear;
  readonly to_k: Linear;
  readonly to_v: Linear;
  readonly to_out: [Linear];

  constructor(scope: WeightScope, readonly opts: VaeAttentionOptions) {
    const c = opts.channels;
    this.group_norm = new GroupNorm(scope.pp('group_norm'), opts.groups, c, opts.eps);
    this.to_q = new Linear(scope.pp('to_q'), c, c);
    this.to_k = new Linear(scope.pp('to_k'), c, c);
    this.to_v = new Linear(scope.pp('to_v'), c, c);
    this.to_out = [new Linear(scope.pp('to_out').pp(0), c, c)];
  }

  /** x `[B, C, H, W]` → `[B, C, H, W]`. */
  forward(x: Tensor): Tensor {
    const c = this.opts.channels;
    if (x.rank !== 4 || x.shape[1] !== c) {
      throw new ShapeError('VaeAttention', `expected x [B, ${c}, H, W], got ${x.describe()}`);
    }
    const [b, , hh, ww] = x.shape as [number, number, number, number];
    return x.device.scope(() => {
      // 1. norm, then [B, C, H, W] → [B, C, H·W] → [B, H·W, C]
      const normed = this.group_norm.forward(x).reshape([b, c, hh * ww]);
      const tokens = permute(normed, [0, 2, 1]);
      normed.dispose();
      // 2. single-head attention over all H·W positions; the kernel's default scale is head_dim^-0.5 = C^-0.5
      const q = this.to_q.forward(tokens);
      const k = this.to_k.forward(tokens);
      const v = this.to_v.forward(tokens);
      tokens.dispose();
      const o = attention(q, k, v, { heads: 1 });
      for (const t of [q, k, v]) t.dispose();
      // 3. output projection, [B, H·W, C] → [B, C, H·W] → [B, C, H, W], residual
      const projected = this.to_out[0].forward(o);
      o.dispose();
      const back = permute(projected, [0, 2, 1]).reshape([b, c, hh, ww]);
      return add(back, x);
    });
  }
}
