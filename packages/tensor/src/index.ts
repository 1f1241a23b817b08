export * from './errors';
export * from './dtype';
export { type Kernel, type BindingDecl, type UniformDecl, type UniformType, kernelSource, packUniforms } from './kernel';
export { BufferPool, bucketSize, type PoolStats, type PoolOptions } from './pool';
export { type Binding, type BufferWindow, type RunArgs } from './recorder';
export { Tensor, Storage, numel } from './tensor';
export { Device, type DeviceOptions, type DeviceLimits, type DeviceFeatures } from './device';
export { GpuTimer } from './timer';
export { setDebug, debugEnabled, debugLog } from './log';
