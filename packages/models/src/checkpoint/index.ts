export { openCheckpoint } from './open';
export { DiffusersCheckpoint } from './folder';
export { SingleFileCheckpoint } from './single-file';
export { MapTree, type FileTree, type FileRef } from './tree';
export { detectOriginalFamily, detectPipelineIndex, detectUNetConfig, SD2, SDXL } from './detect';
export { pickleKind } from './tree';
export type { Checkpoint, CheckpointSource, OpenCheckpointOptions, TokenizerFiles } from './types';
