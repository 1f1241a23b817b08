/**
 * A diffusers folder: model_index.json, unet/, vae/, text_encoder/ (config.json + safetensors weights, optionally
 * `.fp16.safetensors` variants), tokenizer/ (vocab.json, merges.txt) and scheduler/scheduler_config.json.
 */
import type { Device } from '@sd-webgpu/tensor';
import { type ModelConfigs, applyOverrides, parseClipTextConfig, parseUNetConfig, parseVaeConfig } from '../configs.js';
import { COMPONENTS, type Component, mapDiffusersKey } from '../keymap.js';
import type { SafetensorsFile } from '../safetensors/index.js';
import { ConfigError, MissingComponentError, NotSafetensorsError } from '../weights/errors.js';
import { TensorStore, isIgnoredKey, type WeightDType } from '../weights/store.js';
import { type UploadItem, type UploadOptions, uploadWeights } from '../weights/upload.js';
import { detectPipelineIndex, detectUNetConfig } from './detect.js';
import { type FileTree, openCheckedSafetensors, readJson } from './tree.js';
import { type Checkpoint, type OpenCheckpointOptions, type TokenizerFiles, urlOptions } from './types.js';

const WEIGHT_STEMS = ['diffusion_pytorch_model', 'model'];

export class DiffusersCheckpoint implements Checkpoint {
  readonly layout = 'diffusers' as const;
  readonly name: string;
  readonly #tree: FileTree;
  readonly #weights: Readonly<Record<Component, string>>;
  readonly #configs: ModelConfigs;
  readonly #opts: OpenCheckpointOptions;

  private constructor(tree: FileTree, weights: Record<Component, string>, configs: ModelConfigs, opts: OpenCheckpointOptions) {
    this.name = tree.name;
    this.#tree = tree;
    this.#weights = weights;
    this.#configs = configs;
    this.#opts = opts;
  }

  static async open(tree: FileTree, opts: OpenCheckpointOptions = {}): Promise<DiffusersCheckpoint> {
    if (await tree.exists('model_index.json')) {
      detectPipelineIndex(await readJson(tree, 'model_index.json'), tree.display('model_index.json'));
    }
    const weights = {} as Record<Component, string>;
    const json = {} as Record<Component, Record<string, unknown>>;
    for (const c of COMPONENTS) {
      const cfg = `${c}/config.json`;
      if (!(await tree.exists(cfg))) throw new MissingComponentError(tree.name, c, `'${tree.display(cfg)}' not found`);
      json[c] = await readJson(tree, cfg);
      weights[c] = await findWeights(tree, c, opts.variant);
    }
    const unetFile = tree.display('unet/config.json');
    detectUNetConfig(json.unet, unetFile);
    const parsed = {
      unet: parseUNetConfig(json.unet, unetFile),
      vae: parseVaeConfig(json.vae, tree.display('vae/config.json')),
      textEncoder: parseClipTextConfig(json.text_encoder, tree.display('text_encoder/config.json')),
    };
    const schedPath = 'scheduler/scheduler_config.json';
    let scheduler: Record<string, unknown> | null = null;
    if (opts.configs?.scheduler !== undefined) scheduler = opts.configs.scheduler;
    else if (await tree.exists(schedPath)) scheduler = await readJson(tree, schedPath);
    const configs = { ...applyOverrides(parsed, opts.configs, tree.name), scheduler };
    return new DiffusersCheckpoint(tree, weights, configs, opts);
  }

  configs(): ModelConfigs {
    return this.#configs;
  }

  /** The weights file used for a component (relative to the folder). */
  weightsFile(component: Component): string {
    return this.#weights[component];
  }

  async componentShapes(component: Component): Promise<Map<string, number[]>> {
    return this.#withFile(component, async (file) => {
      const out = new Map<string, number[]>();
      for (const it of this.#items(component, file)) out.set(it.key, [...it.shape]);
      return out;
    });
  }

  async loadComponent(component: Component, device: Device, dtype: WeightDType, opts: UploadOptions = {}): Promise<TensorStore> {
    const resolved = device.floatType(dtype);
    return this.#withFile(component, async (file) => {
      const weights = await uploadWeights(device, file, this.#items(component, file), resolved, opts);
      return new TensorStore(this.#tree.display(this.#weights[component]), resolved, weights);
    });
  }

  async tokenizerFiles(): Promise<TokenizerFiles | null> {
    const t = this.#tree;
    if (!(await t.exists('tokenizer/vocab.json')) || !(await t.exists('tokenizer/merges.txt'))) return null;
    return { vocab: await t.readText('tokenizer/vocab.json'), merges: await t.readText('tokenizer/merges.txt') };
  }

  async close(): Promise<void> {
    // Files are opened per call and closed after it.
  }

  /** The component's weights in diffusers naming (legacy names mapped, allow-listed keys dropped). */
  #items(component: Component, file: SafetensorsFile): UploadItem[] {
    const items: UploadItem[] = [];
    const seen = new Map<string, string>();
    for (const info of file.entries.values()) {
      if (isIgnoredKey(info.name)) continue;
      const m = mapDiffusersKey(component, info.name, info.shape);
      const prev = seen.get(m.key);
      if (prev !== undefined) {
        throw new ConfigError(file.name, info.name, `maps to '${m.key}', which '${prev}' already maps to`);
      }
      seen.set(m.key, info.name);
      items.push({ key: m.key, fileKey: info.name, shape: m.shape });
    }
    return items;
  }

  async #withFile<T>(component: Component, fn: (file: SafetensorsFile) => Promise<T>): Promise<T> {
    const path = this.#weights[component];
    const display = this.#tree.display(path);
    const input = this.#tree.input(path);
    const net = urlOptions(this.#opts);
    const file = await openCheckedSafetensors(input, display, net);
    try {
      return await fn(file);
    } finally {
      await file.close();
    }
  }
}

/** The component's safetensors file; a pickle-only component or none at all throws. */
async function findWeights(tree: FileTree, c: Component, variant: 'fp16' | undefined): Promise<string> {
  const exts = variant === 'fp16' ? ['.fp16.safetensors', '.safetensors'] : ['.safetensors', '.fp16.safetensors'];
  const candidates = WEIGHT_STEMS.flatMap((stem) => exts.map((ext) => `${c}/${stem}${ext}`));
  for (const p of candidates) if (await tree.exists(p)) return p;
  for (const stem of [...WEIGHT_STEMS, 'pytorch_model']) {
    for (const ext of ['.bin', '.fp16.bin', '.ckpt', '.pt']) {
      const p = `${c}/${stem}${ext}`;
      if (await tree.exists(p)) throw new NotSafetensorsError(tree.display(p), `the ${c} weights are a PyTorch pickle (${ext})`);
    }
    const index = `${c}/${stem}.safetensors.index.json`;
    if (await tree.exists(index)) {
      throw new MissingComponentError(tree.name, c, `sharded weights ('${tree.display(index)}') are not supported`);
    }
  }
  throw new MissingComponentError(tree.name, c, `no weights file in '${tree.display(c)}' (looked for ${candidates.map((p) => p.slice(c.length + 1)).join(', ')})`);
}
