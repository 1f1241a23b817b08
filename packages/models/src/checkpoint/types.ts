import type { Device } from '@sd-webgpu/tensor';
import type { ConfigOverrides, ModelConfigs } from '../configs.js';
import type { Component } from '../keymap.js';
import type { UrlSourceOptions } from '../safetensors/index.js';
import type { TensorStore, WeightDType } from '../weights/store.js';
import type { UploadOptions } from '../weights/upload.js';
import type { FileRef } from './tree.js';

/**
 * What `openCheckpoint` accepts:
 * - a path (Node): a diffusers folder or a single `.safetensors` file; an `http(s)://` string or a `URL`: a single file;
 * - a `Blob` / `File`: a single file;
 * - a map (or plain object) of relative paths → `File` / `Blob` / URL: a diffusers folder (browsers), or one entry
 *   that is a single file.
 */
export type CheckpointSource =
  | string
  | URL
  | Blob
  | ReadonlyMap<string, FileRef>
  | Readonly<Record<string, FileRef>>;

export interface OpenCheckpointOptions extends UrlSourceOptions {
  /** Fields replacing parsed (folder) or inferred (single-file) configs, e.g. head counts shapes cannot reveal. */
  configs?: ConfigOverrides;
  /** Diffusers folders: prefer `*.fp16.safetensors` when a component has both (default: the full-precision file). */
  variant?: 'fp16';
  /**
   * Single files: throw `UnusedWeightsError` at open for keys outside every component that are not on the
   * allow-list (default true).
   */
  strict?: boolean;
  /** Name used in messages for Blob and map sources (default: the File's name, or 'checkpoint'). */
  name?: string;
}

/** CLIP BPE files of a diffusers folder's `tokenizer/`. */
export interface TokenizerFiles {
  vocab: string;
  merges: string;
}

export interface Checkpoint {
  readonly layout: 'diffusers' | 'single-file';
  /** The folder or file, for messages. */
  readonly name: string;
  /** Parsed (folder) or inferred (single-file) configs, with the overrides applied. */
  configs(): ModelConfigs;
  /** Keys (diffusers naming, relative to the component) and shapes of a component, without loading anything. */
  componentShapes(component: Component): Promise<Map<string, number[]>>;
  /**
   * Streams a component's weights to the GPU as `dtype` (f16 falls back to f32 without shader-f16). The store's keys
   * are diffusers keys relative to the component; allow-listed keys (position_ids, ...) are not uploaded.
   */
  loadComponent(component: Component, device: Device, dtype: WeightDType, opts?: UploadOptions): Promise<TensorStore>;
  /** The folder's tokenizer vocab.json / merges.txt, or null (single files carry none). */
  tokenizerFiles(): Promise<TokenizerFiles | null>;
  /** Releases open files. */
  close(): Promise<void>;
}

/** The fetch-related part of the options (what the safetensors URL source takes). */
export function urlOptions(o: OpenCheckpointOptions): UrlSourceOptions {
  return { fetch: o.fetch, headers: o.headers, probeBytes: o.probeBytes };
}
