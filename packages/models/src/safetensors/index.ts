// safetensors reader/writer. `./node` (Node file source) is deliberately not re-exported here so that browser
// bundles stay free of node:fs; Node code imports `openSafetensorsFile` / `NodeFileSource` from './safetensors/node'
// or simply calls `openSafetensors(path)`, which loads it on demand.
export * from './dtype';
export * from './errors';
export * from './header';
export * from './source';
export * from './fetch';
export * from './file';
export * from './open';
export * from './writer';
export { findDuplicateKey, type DuplicateKey } from './json-keys';
