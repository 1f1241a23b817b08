export * from './rng';
export * from './schedulers';
export * from './image';
export * from './options';
export { StableDiffusion, GenerationAbortedError, type LoadOptions } from './stable_diffusion';
export { GpuLatentBackend } from './gpu_backend';
