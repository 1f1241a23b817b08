export { AutoencoderKL } from './vae';
export { Encoder, DownEncoderBlock2D, type DownEncoderBlockOptions } from './encoder';
export { Decoder, UpDecoderBlock2D, type UpDecoderBlockOptions } from './decoder';
export { VaeAttention, type VaeAttentionOptions } from './attention';
// `Taps` is the same callback type as the UNet's (exported from there).
export { UNetMidBlock2D, VAE_NORM_EPS, type VaeBlockOptions } from './mid_block';
export {
  type Posterior, LOGVAR_MAX, LOGVAR_MIN, diagonalGaussian, diagonalGaussianKernel, diagonalGaussianReference,
} from './posterior';
