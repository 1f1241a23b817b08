export { LoraError } from './errors.js';
export { type LoraComponent, type LoraUpdate, type ModuleTable, moduleShapes, parseLoraKeys } from './parse.js';
export { type LoraSpec, LoraMerge } from './merge.js';
