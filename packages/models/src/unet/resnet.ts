import { type Tensor, ShapeError } from '@sd-webgpu/tensor';
import { add, silu } from '@sd-webgpu/kernels';
import { Conv2d } from '../nn/conv.js';
import { Linear } from '../nn/linear.js';
import { GroupNorm } from '../nn/norm.js';
import type { WeightScope } from '../weights/scope.js';

/**
 * The time embedding as a resnet takes it: raw (`[B, tembChannels]`; the block applies its SiLU), or already through
 * that SiLU (`{ silu }`): every resnet of a UNet applies the same SiLU to the same embedding, so the UNet computes it
 * once per evaluation.
 */
export type TimeInput = Tensor | { readonly silu: Tensor };

export interface ResnetBlock2DOptions {
  inChannels: number;
  outChannels: number;
  /** Width of the time embedding; `null` for blocks without time conditioning (the VAE). */
  tembChannels: number | null;
  groups: number;
  /** UNet 1e-5, VAE 1e-6. */
  eps: number;
}

/**
 * diffusers ResnetBlock2D (output_scale_factor 1, no up/down sampling):
 *   h = conv1(silu(norm1(x)));  h += time_emb_proj(silu(temb))[:, :, None, None] (when conditioned)
 *   h = conv2(silu(norm2(h)));  y = shortcut(x) + h, shortcut = 1x1 conv_shortcut when in ≠ out, else identity.
 */
export class ResnetBlock2D {
  readonly norm1: GroupNorm;
  readonly conv1: Conv2d;
  readonly time_emb_proj: Linear | null;
  readonly norm2: GroupNorm;
  readonly conv2: Conv2d;
  readonly conv_shortcut: Conv2d | null;

  constructor(scope: WeightScope, readonly opts: ResnetBlock2DOptions) {
    const { inChannels: cin, outChannels: cout, groups, eps, tembChannels } = opts;
    this.norm1 = new GroupNorm(scope.pp('norm1'), groups, cin, eps);
    this.conv1 = new Conv2d(scope.pp('conv1'), cin, cout, 3);
    this.time_emb_proj = tembChannels === null ? null : new Linear(scope.pp('time_emb_proj'), tembChannels, cout);
    this.norm2 = new GroupNorm(scope.pp('norm2'), groups, cout, eps);
    this.conv2 = new Conv2d(scope.pp('conv2'), cout, cout, 3);
    this.conv_shortcut = cin === cout ? null : new Conv2d(scope.pp('conv_shortcut'), cin, cout, 1);
  }

  /** x `[B, in, H, W]`, temb `[B, tembChannels]` (or `[1, tembChannels]`, broadcast; or its SiLU) → `[B, out, H, W]`. */
  forward(x: Tensor, temb?: TimeInput | null): Tensor {
    if (x.rank !== 4 || x.shape[1] !== this.opts.inChannels) {
      throw new ShapeError('ResnetBlock2D', `expected x [B, ${this.opts.inChannels}, H, W], got ${x.describe()}`);
    }
    if (this.time_emb_proj && !temb) throw new ShapeError('ResnetBlock2D', 'this block is time-conditioned: temb is required');
    if (!this.time_emb_proj && temb) throw new ShapeError('ResnetBlock2D', 'this block has no time_emb_proj: pass no temb');
    // Each intermediate is freed as soon as the next op has consumed it (later dispatches may reuse its buffer), so a
    // block holds at most ~3 activations at once: this bounds the VAE decoder's memory at 512².
    const use = <T>(t: Tensor, f: (t: Tensor) => T): T => {
      const out = f(t);
      t.dispose();
      return out;
    };
    // 1. first half: norm1 + SiLU (fused), conv1
    let h = use(this.norm1.forward(x, { silu: true }), (n) => this.conv1.forward(n));
    // 2. time conditioning: [B, out] → [B, out, 1, 1], broadcast over H, W
    if (this.time_emb_proj && temb) {
      const t = 'silu' in temb ? this.time_emb_proj.forward(temb.silu) : use(silu(temb), (s) => this.time_emb_proj!.forward(s));
      const t4 = use(t, (tt) => tt.reshape([tt.shape[0]!, this.opts.outChannels, 1, 1]));
      h = use(h, (hh) => use(t4, (tv) => add(hh, tv)));
    }
    // 3. second half: norm2 + SiLU (fused), conv2 (dropout is the identity at inference)
    h = use(use(h, (hh) => this.norm2.forward(hh, { silu: true })), (n) => this.conv2.forward(n));
    // 4. residual
    const shortcut = this.conv_shortcut ? this.conv_shortcut.forward(x) : null;
    const out = add(shortcut ?? x, h);
    shortcut?.dispose();
    h.dispose();
    return out;
  }
}
