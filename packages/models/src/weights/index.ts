export * from './errors.js';
export { type WeightStore, type WeightDType, type StoredWeight, TensorStore, isIgnoredKey } from './store.js';
export { WeightScope, rootScope } from './scope.js';
export { RandomStore, type RandomStoreOptions } from './random.js';
export { uploadWeights, uploadTensor, type UploadItem, type UploadOptions, type WeightPatch } from './upload.js';
