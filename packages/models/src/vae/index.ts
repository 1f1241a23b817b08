export { AutoencoderKL } from './vae';
export { Encoder, DownEncoderBlock2D, type DownEncoderBlockOptions } from './encoder';
export { Decoder, UpDecoderBlock2D, type UpDecoderBlockOptions } from './decoder';
export { VaeAttention, VAE_NORM_EPS, type VaeAttentionOptions } from './attention';
export { UNetMidBlock2D, type Taps, type VaeBlockOptions } from './mid_block';
export {
  type Posterior, LOGVAR_MAX, LOGVAR_MIN, diagonalGaussian, diagonalGaussianKernel, diagonalGaussianReference,
} from './posterior';
