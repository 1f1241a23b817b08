// safetensors reader/writer. `./node` (Node file source) is deliberately not re-exported here so that browser
// bundles stay free of node:fs; Node code imports `openSafetensorsFile` / `NodeFileSource` from './safetensors/node'
// or simply calls `openSafetensors(path)`, which loads it on demand.
export * from './dtype.js';
export * from './errors.js';
export * from './header.js';
export * from './source.js';
export * from './fetch.js';
export * from './file.js';
export * from './open.js';
export * from './writer.js';
export { findDuplicateKey, type DuplicateKey } from './json-keys.js';
