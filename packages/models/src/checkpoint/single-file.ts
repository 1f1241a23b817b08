/**
 * An original (CompVis / LDM) single-file `.safetensors` checkpoint: all three components in one file under
 * `model.diffusion_model.`, `first_stage_model.` and `cond_stage_model.transformer.`, mapped to diffusers names by
 * keymap.ts. Configs are inferred from the shapes (see configs.ts for what cannot be inferred).
 */
import type { Device } from '@sd-webgpu/tensor';
import {
  type ModelConfigs,
  type ShapeMap,
  applyOverrides,
  inferClipTextConfig,
  inferUNetConfig,
  inferVaeConfig,
} from '../configs.js';
import { COMPONENTS, type Component, ORIGINAL_PREFIXES, type OriginalKeyMap, mapOriginalCheckpoint } from '../keymap.js';
import type { SafetensorsFile, SafetensorsInput } from '../safetensors/index.js';
import { MissingComponentError, UnusedWeightsError } from '../weights/errors.js';
import { TensorStore, type WeightDType } from '../weights/store.js';
import { type UploadItem, type UploadOptions, uploadWeights } from '../weights/upload.js';
import { detectOriginalFamily } from './detect.js';
import { openCheckedSafetensors } from './tree.js';
import { type Checkpoint, type OpenCheckpointOptions, urlOptions } from './types.js';

export class SingleFileCheckpoint implements Checkpoint {
  readonly layout = 'single-file' as const;
  readonly name: string;
  readonly #file: SafetensorsFile;
  readonly #map: OriginalKeyMap;
  readonly #configs: ModelConfigs;

  private constructor(file: SafetensorsFile, map: OriginalKeyMap, configs: ModelConfigs) {
    this.name = file.name;
    this.#file = file;
    this.#map = map;
    this.#configs = configs;
  }

  static async open(input: SafetensorsInput, name: string, opts: OpenCheckpointOptions = {}): Promise<SingleFileCheckpoint> {
    const net = urlOptions(opts);
    const file = await openCheckedSafetensors(input, name, net);
    try {
      const entries = [...file.entries.values()].map((e) => [e.name, e.shape] as const);
      detectOriginalFamily(entries, file.name);
      const map = mapOriginalCheckpoint(entries, file.name);
      for (const c of COMPONENTS) {
        if (map.components[c].size === 0) {
          throw new MissingComponentError(file.name, c, `no tensor key starts with '${ORIGINAL_PREFIXES[c]}'`);
        }
      }
      if (opts.strict !== false && map.unassigned.length) throw new UnusedWeightsError(file.name, map.unassigned);
      const shapes = (c: Component): ShapeMap => new Map([...map.components[c]].map(([k, w]) => [k, w.shape]));
      const inferred = {
        unet: inferUNetConfig(shapes('unet'), `${file.name} (unet)`),
        vae: inferVaeConfig(shapes('vae'), `${file.name} (vae)`),
        textEncoder: inferClipTextConfig(shapes('text_encoder'), `${file.name} (text_encoder)`),
      };
      const configs = { ...applyOverrides(inferred, opts.configs, file.name), scheduler: opts.configs?.scheduler ?? null };
      return new SingleFileCheckpoint(file, map, configs);
    } catch (e) {
      await file.close();
      throw e;
    }
  }

  configs(): ModelConfigs {
    return this.#configs;
  }

  /** Allow-listed keys of the file (EMA copies, schedule buffers, position_ids): never loaded. */
  ignoredKeys(): string[] {
    return [...this.#map.ignored];
  }

  /** Keys outside every component (non-empty only when opened with `strict: false`). */
  unassignedKeys(): string[] {
    return [...this.#map.unassigned];
  }

  async componentShapes(component: Component): Promise<Map<string, number[]>> {
    return new Map([...this.#map.components[component]].map(([k, w]) => [k, [...w.shape]]));
  }

  async loadComponent(component: Component, device: Device, dtype: WeightDType, opts: UploadOptions = {}): Promise<TensorStore> {
    const resolved = device.floatType(dtype);
    const items: UploadItem[] = [...this.#map.components[component]].map(([key, w]) => ({ key, fileKey: w.fileKey, shape: w.shape }));
    const weights = await uploadWeights(device, this.#file, items, resolved, opts);
    return new TensorStore(this.#file.name, resolved, weights, this.#map.unmapped[component]);
  }

  async tokenizerFiles(): Promise<null> {
    return null;
  }

  async close(): Promise<void> {
    await this.#file.close();
  }
}
