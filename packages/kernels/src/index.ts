export * from './matmul';
export * from './conv2d';
export * from './norm';
export * from './softmax';
export * from './attention';
export * from './elementwise';
export * from './layout';
export * from './timestep';
