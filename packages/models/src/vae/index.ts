export { AutoencoderKL } from './vae.js';
export { Encoder, DownEncoderBlock2D, type DownEncoderBlockOptions } from './encoder.js';
export { Decoder, UpDecoderBlock2D, type UpDecoderBlockOptions } from './decoder.js';
export { VaeAttention, type VaeAttentionOptions } from './attention.js';
// `Taps` is the same callback type as the UNet's (exported from there).
export { UNetMidBlock2D, VAE_NORM_EPS, type VaeBlockOptions } from './mid_block.js';
export {
  type Posterior, LOGVAR_MAX, LOGVAR_MIN, diagonalGaussian, diagonalGaussianKernel, diagonalGaussianReference,
} from './posterior.js';
export { type VaeTileOptions, runTiled, tileStarts } from './tiling.js';
