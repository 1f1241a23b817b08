export * from './rng/index.js';
export * from './schedulers/index.js';
export * from './image/index.js';
export * from './options.js';
export { StableDiffusion, GenerationAbortedError, type LoadOptions } from './stable_diffusion.js';
export { GpuLatentBackend } from './gpu_backend.js';
export { NonFiniteError } from './finite_watch.js';
