export * from './errors';
export { type WeightStore, type WeightDType, type StoredWeight, TensorStore, isIgnoredKey } from './store';
export { WeightScope, rootScope } from './scope';
export { RandomStore, type RandomStoreOptions } from './random';
export { uploadWeights, uploadTensor, type UploadItem, type UploadOptions } from './upload';
