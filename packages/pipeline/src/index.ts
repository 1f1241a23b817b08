export * from './rng/index.js';
export * from './schedulers/index.js';
export * from './image/index.js';
export * from './options.js';
export { StableDiffusion, type LoadOptions } from './stable_diffusion.js';
export { denoise, GenerationAbortedError, throwIfAborted, type DenoiseOptions, type NoisePredictor, type StepInfo } from './denoise.js';
export { GpuLatentBackend } from './gpu_backend.js';
export { binarizeMask, latentMask, luma } from './inpaint_mask.js';
export { NonFiniteError } from './finite_watch.js';
