export * from './matmul.js';
export * from './conv2d.js';
export * from './norm.js';
export * from './softmax.js';
export * from './attention.js';
export * from './elementwise.js';
export * from './layout.js';
export * from './timestep.js';
