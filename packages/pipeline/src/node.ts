// `@sd-webgpu/pipeline/node`: what only runs in Node (PNG/JPEG files). Everything else is in the main entry.
export * from './image/node_io.js';
