export { ResnetBlock2D, type ResnetBlock2DOptions } from './resnet.js';
export { Attention, BasicTransformerBlock, FeedForward, Transformer2DModel, type Transformer2DOptions } from './transformer.js';
export { Timesteps, TimestepEmbedding, batchTimesteps } from './embeddings.js';
export { Downsample2D, Upsample2D, VAE_DOWNSAMPLE_PADDING } from './resample.js';
export {
  CrossAttnDownBlock2D, CrossAttnUpBlock2D, DownBlock2D, UNetMidBlock2DCrossAttn, UpBlock2D,
  type DownBlock, type DownBlockOptions, type DownBlockOutput, type UNetBlockOptions, type UpBlock, type UpBlockOptions,
} from './blocks.js';
export { UNet2DConditionModel, type Taps } from './unet.js';
export { UNetGraph } from './graph.js';
