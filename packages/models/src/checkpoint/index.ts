export { openCheckpoint } from './open.js';
export { DiffusersCheckpoint } from './folder.js';
export { SingleFileCheckpoint } from './single-file.js';
export { MapTree, type FileTree, type FileRef } from './tree.js';
export { detectOriginalFamily, detectPipelineIndex, detectUNetConfig, SD2, SDXL } from './detect.js';
export { pickleKind } from './tree.js';
export type { Checkpoint, CheckpointSource, OpenCheckpointOptions, TokenizerFiles } from './types.js';
