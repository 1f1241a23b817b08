import { type Tensor, ShapeError, UnsupportedError } from '@sd-webgpu/tensor';
import { scale } from '@sd-webgpu/kernels';
import type { VaeConfig } from '../configs.js';
import { Conv2d } from '../nn/conv.js';
import { disposeModule, parameterCount } from '../nn/module.js';
import type { WeightScope } from '../weights/scope.js';
import { Decoder } from './decoder.js';
import { Encoder } from './encoder.js';
import { type Taps, VAE_NORM_EPS } from './mid_block.js';
import { type Posterior, diagonalGaussian } from './posterior.js';
import { type VaeTileOptions, resolveTiling, runTiled } from './tiling.js';

/** Prefixes tap names with a module path (`conv_in` → `encoder.conv_in`). */
function under(prefix: string, taps: Taps | undefined): Taps | undefined {
  return taps && ((name, t) => taps(`${prefix}.${name}`, t));
}

/**
 * diffusers AutoencoderKL as SD 1.x uses it (KL-f8: 4 down/up levels, 4 latent channels, GroupNorm eps 1e-6):
 *   encode: image → encoder → quant_conv (1x1) → moments → mean, logvar (clamped), std
 *   decode: z (= SD latents / scaling_factor) → post_quant_conv (1x1) → decoder → image
 * Every weight and activation has the store's dtype; the kernels accumulate in f32.
 */
export class AutoencoderKL {
  readonly encoder: Encoder;
  readonly decoder: Decoder;
  readonly quant_conv: Conv2d;
  readonly post_quant_conv: Conv2d;
  readonly dtype: 'f32' | 'f16';

  constructor(scope: WeightScope /* at the VAE component's root */, readonly cfg: VaeConfig) {
    this.dtype = scope.dtype;
    const l = cfg.latentChannels;
    this.encoder = new Encoder(scope.pp('encoder'), cfg, VAE_NORM_EPS);
    this.decoder = new Decoder(scope.pp('decoder'), cfg, VAE_NORM_EPS);
    this.quant_conv = new Conv2d(scope.pp('quant_conv'), 2 * l, 2 * l, 1);
    this.post_quant_conv = new Conv2d(scope.pp('post_quant_conv'), l, l, 1);
  }

  /** Width and height ratio between images and latents: 2^(levels - 1) (SD: 8). */
  get downscale(): number {
    return 2 ** (this.cfg.blockOutChannels.length - 1);
  }

  /**
   * The latent distribution of `image [B, in, H, W]` with values in [-1, 1] → mean, logvar, std `[B, L, H/8, W/8]`
   * (H, W that are not multiples of 8 round down at each level, as in diffusers). Taps: `encoder.*`, `quant_conv`.
   */
  encode(image: Tensor, taps?: Taps): Posterior {
    this.#check('encode', 'image', image, this.cfg.inChannels);
    const f = this.downscale;
    if (image.shape[2]! < f || image.shape[3]! < f) {
      throw new ShapeError('AutoencoderKL.encode', `image ${image.describe()} is smaller than ${f}x${f}, the size of one latent pixel`);
    }
    return image.device.scope(() => {
      // 1. encoder → [B, 2L, h, w]
      const h = this.encoder.forward(image, under('encoder', taps));
      // 2. quant_conv (1x1) → moments
      const moments = this.quant_conv.forward(h);
      h.dispose();
      taps?.('quant_conv', moments);
      // 3. split into mean / clamped logvar, std = exp(logvar / 2)
      return diagonalGaussian(moments);
    });
  }

  /**
   * `z [B, L, h, w]` → image `[B, out, 8h, 8w]`, roughly in [-1, 1] and not clamped. As in diffusers, z is the
   * unscaled latent: SD latents (what the UNet denoises) divided by `cfg.scalingFactor` (0.18215), e.g.
   * `scale(latents, 1 / vae.cfg.scalingFactor)`. Taps: `post_quant_conv`, `decoder.*`.
   */
  decode(z: Tensor, taps?: Taps): Tensor {
    this.#check('decode', 'z', z, this.cfg.latentChannels);
    return z.device.scope(() => {
      // 1. post_quant_conv (1x1)
      const h = this.post_quant_conv.forward(z);
      taps?.('post_quant_conv', h);
      // 2. decoder
      const image = this.decoder.forward(h, under('decoder', taps));
      h.dispose();
      return image;
    });
  }

  /** Tile side in latents of diffusers' tiling: sample_size / 8 (SD 1.x: 64, i.e. 512-pixel tiles). */
  get tileLatents(): number {
    return Math.max(2, Math.floor(this.cfg.sampleSize / this.downscale));
  }

  /**
   * `decode` in overlapping tiles (diffusers `tiled_decode`, see ./tiling.ts): the GPU holds one tile's activations
   * at a time, so the image size is bounded by host memory, not by the GPU's. A latent no larger than one tile is
   * decoded whole, as in diffusers.
   */
  async decodeTiled(z: Tensor, opts: VaeTileOptions = {}): Promise<Tensor> {
    this.#check('decodeTiled', 'z', z, this.cfg.latentChannels);
    const { tile, overlap } = resolveTiling('AutoencoderKL.decodeTiled', opts, this.tileLatents);
    if (z.shape[2]! <= tile && z.shape[3]! <= tile) return this.decode(z);
    const tileOut = tile * this.downscale;
    const blend = Math.floor(tileOut * overlap);
    const { data, shape } = await runTiled(z, tile, overlap, blend, tileOut - blend, (t) => this.decode(t));
    return z.device.tensor(data, shape, this.dtype);
  }

  /**
   * `encode` in overlapping tiles of `tileLatents · 8` pixels (diffusers `tiled_encode`): the moments are blended,
   * then split into mean / logvar / std. An image no larger than one tile is encoded whole.
   */
  async encodeTiled(image: Tensor, opts: VaeTileOptions = {}): Promise<Posterior> {
    this.#check('encodeTiled', 'image', image, this.cfg.inChannels);
    const { tile, overlap } = resolveTiling('AutoencoderKL.encodeTiled', opts, this.tileLatents);
    const tilePx = tile * this.downscale;
    if (image.shape[2]! <= tilePx && image.shape[3]! <= tilePx) return this.encode(image);
    const blend = Math.floor(tile * overlap);
    const { data, shape } = await runTiled(image, tilePx, overlap, blend, tile - blend, (t) =>
      t.device.scope(() => this.quant_conv.forward(this.encoder.forward(t))));
    const moments = image.device.tensor(data, shape, this.dtype);
    try {
      return diagonalGaussian(moments);
    } finally {
      moments.dispose();
    }
  }

  /** `decode(latents / cfg.scalingFactor)`: SD latents (what the UNet denoises) → image. */
  decodeLatents(latents: Tensor, taps?: Taps): Tensor {
    this.#check('decodeLatents', 'latents', latents, this.cfg.latentChannels);
    return latents.device.scope(() => {
      // f32 maths on either storage dtype; x · (1/s) is within an ulp of torch's x / s
      const z = scale(latents, 1 / this.cfg.scalingFactor);
      const image = this.decode(z, taps);
      z.dispose();
      return image;
    });
  }

  #check(method: string, name: string, x: Tensor, channels: number): void {
    if (x.rank !== 4 || x.shape[1] !== channels) {
      throw new ShapeError(`AutoencoderKL.${method}`, `expected ${name} [B, ${channels}, H, W], got ${x.describe()}`);
    }
    if (x.shape.some((d) => d === 0)) throw new ShapeError(`AutoencoderKL.${method}`, `${name} is empty: ${x.describe()}`);
    if (x.dtype !== this.dtype) {
      throw new UnsupportedError(`AutoencoderKL.${method}`, `${name} is ${x.dtype} but the weights are ${this.dtype}: cast it first`);
    }
  }

  /** Number of weight elements (SD 1.x KL-f8: 83,653,863). */
  parameterCount(): number {
    return parameterCount(this);
  }

  /** Frees every weight of the model. */
  dispose(): void {
    disposeModule(this);
  }

  /** Frees the encoding half (encoder and quant_conv): txt2img only decodes. */
  disposeEncoder(): void {
    disposeModule(this.encoder);
    disposeModule(this.quant_conv);
  }

  /** Frees the decoding half (decoder and post_quant_conv): a VAE loaded only to encode. */
  disposeDecoder(): void {
    disposeModule(this.decoder);
    disposeModule(this.post_quant_conv);
  }
}
