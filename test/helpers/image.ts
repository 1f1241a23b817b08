// Every image helper of the pipeline package: the browser-safe ones and the Node-only PNG/JPEG I/O.
export * from '../../packages/pipeline/src/image';
export * from '../../packages/pipeline/src/image/node_io';
