/**
 * Typed configs with only the knobs SD 1.x needs, the `sd15()` preset, parsing of diffusers `config.json` files, and
 * inference from a checkpoint's tensor shapes (diffusers key names, relative to the component).
 *
 * Inference limits (single-file checkpoints carry no config): channel counts, block counts, layers per block, block
 * types, the context dimension, vocabulary and sequence length come from the shapes. Head counts cannot: the SD 1.x
 * rules are used (UNet 8 heads everywhere, CLIP heads = hidden / 64), as are SD 1.x's 32 norm groups, eps 1e-5,
 * quick_gelu, VAE scaling factor 0.18215 and sample size 64. A model that differs in these (e.g. the tiny test model,
 * whose CLIP has 4 heads of 16) must be given an explicit override: `openCheckpoint(src, { configs: {...} })`.
 */
import { briefJson } from './json_describe.js';
import { ConfigError } from './weights/errors.js';

export type DownBlockType = 'CrossAttnDownBlock2D' | 'DownBlock2D';
export type UpBlockType = 'CrossAttnUpBlock2D' | 'UpBlock2D';

export interface UNetConfig {
  inChannels: number;
  outChannels: number;
  blockOutChannels: number[];
  /** Resnets per down block (up blocks have one more). */
  layersPerBlock: number;
  /** Heads of every transformer. diffusers SD 1.x configs say `attention_head_dim: 8`, which means 8 heads. */
  numAttentionHeads: number;
  /** Width of the text conditioning (CLIP hidden size). */
  crossAttentionDim: number;
  normNumGroups: number;
  normEps: number;
  downBlockTypes: DownBlockType[];
  upBlockTypes: UpBlockType[];
  /** Default latent size (64 → 512 px images). */
  sampleSize: number;
}

export interface VaeConfig {
  inChannels: number;
  outChannels: number;
  blockOutChannels: number[];
  /** Resnets per encoder block (decoder blocks have one more). */
  layersPerBlock: number;
  latentChannels: number;
  normNumGroups: number;
  /** latents = scalingFactor · z (SD 1.x: 0.18215). */
  scalingFactor: number;
  /** Default image size. */
  sampleSize: number;
}

export interface ClipTextConfig {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  maxPositionEmbeddings: number;
  layerNormEps: number;
  hiddenAct: 'quick_gelu' | 'gelu';
}

/** The raw `scheduler_config.json` (the pipeline's schedulers interpret it). */
export type SchedulerConfigJson = Record<string, unknown>;

export interface ModelConfigs {
  unet: UNetConfig;
  vae: VaeConfig;
  textEncoder: ClipTextConfig;
  scheduler: SchedulerConfigJson | null;
}

/** Per-component partial overrides, applied over the parsed or inferred configs. */
export interface ConfigOverrides {
  unet?: Partial<UNetConfig>;
  vae?: Partial<VaeConfig>;
  textEncoder?: Partial<ClipTextConfig>;
  scheduler?: SchedulerConfigJson | null;
}

// ---- presets --------------------------------------------------------------------------------------------------

/** Stable Diffusion 1.5 (and 1.x): CLIP ViT-L/14 text encoder, the 860M UNet, the KL-f8 VAE. */
export function sd15(): Omit<ModelConfigs, 'scheduler'> {
  return {
    unet: {
      inChannels: 4,
      outChannels: 4,
      blockOutChannels: [320, 640, 1280, 1280],
      layersPerBlock: 2,
      numAttentionHeads: 8,
      crossAttentionDim: 768,
      normNumGroups: 32,
      normEps: 1e-5,
      downBlockTypes: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
      upBlockTypes: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
      sampleSize: 64,
    },
    vae: {
      inChannels: 3,
      outChannels: 3,
      blockOutChannels: [128, 256, 512, 512],
      layersPerBlock: 2,
      latentChannels: 4,
      normNumGroups: 32,
      scalingFactor: 0.18215,
      sampleSize: 512,
    },
    textEncoder: {
      vocabSize: 49408,
      hiddenSize: 768,
      intermediateSize: 3072,
      numHiddenLayers: 12,
      numAttentionHeads: 12,
      maxPositionEmbeddings: 77,
      layerNormEps: 1e-5,
      hiddenAct: 'quick_gelu',
    },
  };
}

// ---- parsing diffusers / transformers config.json -------------------------------------------------------------

type Json = Record<string, unknown>;

class Fields {
  constructor(readonly json: Json, readonly file: string) {}

  int(name: string, fallback?: number): number {
    const v = this.json[name] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw this.bad(name, 'a positive integer', v);
    return v;
  }

  num(name: string, fallback?: number): number {
    const v = this.json[name] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw this.bad(name, 'a positive number', v);
    return v;
  }

  ints(name: string): number[] {
    const v = this.json[name];
    if (!Array.isArray(v) || v.length === 0 || !v.every((x) => Number.isInteger(x) && (x as number) > 0)) {
      throw this.bad(name, 'a non-empty list of positive integers', v);
    }
    return v as number[];
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback?: T): T {
    const v = this.json[name] ?? fallback;
    if (!allowed.includes(v as T)) throw this.bad(name, `one of ${allowed.join(', ')}`, v);
    return v as T;
  }

  listOf<T extends string>(name: string, allowed: readonly T[]): T[] {
    const v = this.json[name];
    if (!Array.isArray(v) || v.length === 0) throw this.bad(name, 'a non-empty list', v);
    v.forEach((x, i) => {
      if (!allowed.includes(x as T)) throw this.bad(`${name}[${i}]`, `one of ${allowed.join(', ')}`, x);
    });
    return v as T[];
  }

  bad(name: string, want: string, got: unknown): ConfigError {
    return new ConfigError(this.file, name, `must be ${want}, got ${briefJson(got)}`);
  }
}

const DOWN_TYPES: readonly DownBlockType[] = ['CrossAttnDownBlock2D', 'DownBlock2D'];
const UP_TYPES: readonly UpBlockType[] = ['CrossAttnUpBlock2D', 'UpBlock2D'];

/** diffusers `UNet2DConditionModel` config.json → UNetConfig. */
export function parseUNetConfig(json: Json, file = 'unet/config.json'): UNetConfig {
  const f = new Fields(json, file);
  // diffusers quirk: in SD 1.x configs `attention_head_dim` is the number of heads (num_attention_heads is null).
  const headsField = json.num_attention_heads != null ? 'num_attention_heads' : 'attention_head_dim';
  let heads: unknown = json[headsField] ?? 8;
  if (Array.isArray(heads)) {
    const list: unknown[] = heads;
    if (list.some((h) => h !== list[0])) throw f.bad(headsField, 'the same head count for every block', heads);
    heads = list[0];
  }
  if (!Number.isInteger(heads) || (heads as number) <= 0) throw f.bad(headsField, 'a positive integer', heads);
  const cfg: UNetConfig = {
    inChannels: f.int('in_channels', 4),
    outChannels: f.int('out_channels', 4),
    blockOutChannels: f.ints('block_out_channels'),
    layersPerBlock: f.int('layers_per_block', 2),
    numAttentionHeads: heads as number,
    crossAttentionDim: f.int('cross_attention_dim'),
    normNumGroups: f.int('norm_num_groups', 32),
    normEps: f.num('norm_eps', 1e-5),
    downBlockTypes: f.listOf('down_block_types', DOWN_TYPES),
    upBlockTypes: f.listOf('up_block_types', UP_TYPES),
    sampleSize: f.int('sample_size', 64),
  };
  return checkUNetConfig(cfg, file);
}

/** diffusers `AutoencoderKL` config.json → VaeConfig. */
export function parseVaeConfig(json: Json, file = 'vae/config.json'): VaeConfig {
  const f = new Fields(json, file);
  f.listOf('down_block_types', ['DownEncoderBlock2D'] as const);
  f.listOf('up_block_types', ['UpDecoderBlock2D'] as const);
  const cfg: VaeConfig = {
    inChannels: f.int('in_channels', 3),
    outChannels: f.int('out_channels', 3),
    blockOutChannels: f.ints('block_out_channels'),
    layersPerBlock: f.int('layers_per_block', 1),
    latentChannels: f.int('latent_channels', 4),
    normNumGroups: f.int('norm_num_groups', 32),
    scalingFactor: f.num('scaling_factor', 0.18215),
    sampleSize: f.int('sample_size', 512),
  };
  return checkVaeConfig(cfg, file);
}

/** transformers `CLIPTextConfig` config.json → ClipTextConfig. */
export function parseClipTextConfig(json: Json, file = 'text_encoder/config.json'): ClipTextConfig {
  const f = new Fields(json, file);
  const cfg: ClipTextConfig = {
    vocabSize: f.int('vocab_size', 49408),
    hiddenSize: f.int('hidden_size'),
    intermediateSize: f.int('intermediate_size'),
    numHiddenLayers: f.int('num_hidden_layers'),
    numAttentionHeads: f.int('num_attention_heads'),
    maxPositionEmbeddings: f.int('max_position_embeddings', 77),
    layerNormEps: f.num('layer_norm_eps', 1e-5),
    hiddenAct: f.oneOf('hidden_act', ['quick_gelu', 'gelu'] as const, 'quick_gelu'),
  };
  return checkClipTextConfig(cfg, file);
}

// ---- inference from shapes (diffusers keys, relative to the component) ----------------------------------------

export type ShapeMap = ReadonlyMap<string, readonly number[]>;

function dim(shapes: ShapeMap, key: string, axis: number, file: string): number {
  const s = shapes.get(key);
  if (!s || s.length <= axis) {
    throw new ConfigError(file, key, s ? `has shape [${s.join(',')}], too few dims to infer the config` : 'is missing, so the config cannot be inferred');
  }
  return s[axis]!;
}

/** Distinct values of the first number after `prefix` among the keys (`down_blocks.` → 0, 1, 2, 3). */
function indices(shapes: ShapeMap, prefix: string): number[] {
  const found = new Set<number>();
  for (const k of shapes.keys()) {
    if (!k.startsWith(prefix)) continue;
    const m = /^(\d+)\./.exec(k.slice(prefix.length));
    if (m) found.add(Number(m[1]));
  }
  return [...found].sort((a, b) => a - b);
}

function countFrom0(shapes: ShapeMap, prefix: string, file: string): number {
  const idx = indices(shapes, prefix);
  idx.forEach((v, i) => {
    if (v !== i) throw new ConfigError(file, `${prefix}${i}`, 'is missing (blocks must be numbered 0, 1, 2, ...)');
  });
  return idx.length;
}

function hasPrefix(shapes: ShapeMap, prefix: string): boolean {
  for (const k of shapes.keys()) if (k.startsWith(prefix)) return true;
  return false;
}

export function inferUNetConfig(shapes: ShapeMap, file: string): UNetConfig {
  const blocks = countFrom0(shapes, 'down_blocks.', file);
  if (blocks === 0) throw new ConfigError(file, 'down_blocks', 'has no blocks, so the UNet config cannot be inferred');
  const blockOutChannels = Array.from({ length: blocks }, (_, i) => dim(shapes, `down_blocks.${i}.resnets.0.conv1.weight`, 0, file));
  const downBlockTypes = blockOutChannels.map((_, i): DownBlockType =>
    hasPrefix(shapes, `down_blocks.${i}.attentions.`) ? 'CrossAttnDownBlock2D' : 'DownBlock2D',
  );
  const upBlockTypes = blockOutChannels.map((_, i): UpBlockType =>
    hasPrefix(shapes, `up_blocks.${i}.attentions.`) ? 'CrossAttnUpBlock2D' : 'UpBlock2D',
  );
  let crossAttentionDim = 768;
  for (const [k, s] of shapes) {
    if (k.endsWith('.attn2.to_k.weight') && s.length === 2) {
      crossAttentionDim = s[1]!;
      break;
    }
  }
  const cfg: UNetConfig = {
    inChannels: dim(shapes, 'conv_in.weight', 1, file),
    outChannels: dim(shapes, 'conv_out.weight', 0, file),
    blockOutChannels,
    layersPerBlock: countFrom0(shapes, 'down_blocks.0.resnets.', file),
    numAttentionHeads: 8,
    crossAttentionDim,
    normNumGroups: 32,
    normEps: 1e-5,
    downBlockTypes,
    upBlockTypes,
    sampleSize: 64,
  };
  return checkUNetConfig(cfg, file);
}

export function inferVaeConfig(shapes: ShapeMap, file: string): VaeConfig {
  const blocks = countFrom0(shapes, 'encoder.down_blocks.', file);
  if (blocks === 0) throw new ConfigError(file, 'encoder.down_blocks', 'has no blocks, so the VAE config cannot be inferred');
  const cfg: VaeConfig = {
    inChannels: dim(shapes, 'encoder.conv_in.weight', 1, file),
    outChannels: dim(shapes, 'decoder.conv_out.weight', 0, file),
    blockOutChannels: Array.from({ length: blocks }, (_, i) =>
      dim(shapes, `encoder.down_blocks.${i}.resnets.0.conv1.weight`, 0, file),
    ),
    layersPerBlock: countFrom0(shapes, 'encoder.down_blocks.0.resnets.', file),
    latentChannels: dim(shapes, 'decoder.conv_in.weight', 1, file),
    normNumGroups: 32,
    scalingFactor: 0.18215,
    sampleSize: 512,
  };
  return checkVaeConfig(cfg, file);
}

export function inferClipTextConfig(shapes: ShapeMap, file: string): ClipTextConfig {
  const hiddenSize = dim(shapes, 'text_model.embeddings.token_embedding.weight', 1, file);
  const cfg: ClipTextConfig = {
    vocabSize: dim(shapes, 'text_model.embeddings.token_embedding.weight', 0, file),
    hiddenSize,
    intermediateSize: dim(shapes, 'text_model.encoder.layers.0.mlp.fc1.weight', 0, file),
    numHiddenLayers: countFrom0(shapes, 'text_model.encoder.layers.', file),
    numAttentionHeads: Math.max(1, Math.floor(hiddenSize / 64)),
    maxPositionEmbeddings: dim(shapes, 'text_model.embeddings.position_embedding.weight', 0, file),
    layerNormEps: 1e-5,
    hiddenAct: 'quick_gelu',
  };
  return checkClipTextConfig(cfg, file);
}

// ---- overrides and validation ---------------------------------------------------------------------------------

/** `base` with the fields of `override` replaced, validated. */
export function applyOverrides(base: Omit<ModelConfigs, 'scheduler'>, o: ConfigOverrides | undefined, file: string): Omit<ModelConfigs, 'scheduler'> {
  if (!o) return base;
  return {
    unet: o.unet ? checkUNetConfig({ ...base.unet, ...o.unet }, `${file} (unet override)`) : base.unet,
    vae: o.vae ? checkVaeConfig({ ...base.vae, ...o.vae }, `${file} (vae override)`) : base.vae,
    textEncoder: o.textEncoder
      ? checkClipTextConfig({ ...base.textEncoder, ...o.textEncoder }, `${file} (textEncoder override)`)
      : base.textEncoder,
  };
}

/**
 * Upper bounds of the integer fields: several times anything published (SD 1.x/2.x, SDXL), low enough that a config
 * cannot make the loader or the tokenizer allocate gigabytes (`max_position_embeddings: 1e9`) before a weight is read.
 */
const MAX_INT: Readonly<Record<string, number>> = {
  inChannels: 64, outChannels: 64, latentChannels: 64, layersPerBlock: 16, numAttentionHeads: 256, crossAttentionDim: 16384,
  normNumGroups: 1024, sampleSize: 4096, vocabSize: 1_000_000, hiddenSize: 16384, intermediateSize: 65536, numHiddenLayers: 128,
  maxPositionEmbeddings: 4096,
};
const MAX_BLOCKS = 8;
const MAX_CHANNELS = 16384;

/** Positive integers up to their MAX_INT bound. */
function boundedInts(file: string, cfg: object, names: string[]): void {
  const rec = cfg as Record<string, unknown>;
  for (const n of names) {
    const v = rec[n];
    const max = MAX_INT[n] ?? Number.MAX_SAFE_INTEGER;
    if (!Number.isInteger(v) || (v as number) <= 0 || (v as number) > max) {
      throw new ConfigError(file, n, `must be an integer in 1..${max}, got ${briefJson(v)}`);
    }
  }
}

/** A float in (0, max]. */
function boundedFloat(file: string, name: string, v: number, max: number): void {
  if (!(v > 0 && v <= max)) throw new ConfigError(file, name, `must be in (0, ${max}], got ${v}`);
}

function channelList(file: string, name: string, list: unknown, groups: number): void {
  if (!Array.isArray(list) || list.length === 0 || list.length > MAX_BLOCKS
    || !list.every((c) => Number.isInteger(c) && c > 0 && c <= MAX_CHANNELS && c % groups === 0)) {
    throw new ConfigError(
      file, name, `must be a list of 1..${MAX_BLOCKS} multiples of the ${groups} norm groups up to ${MAX_CHANNELS}, got ${briefJson(list)}`,
    );
  }
}

export function checkUNetConfig(c: UNetConfig, file: string): UNetConfig {
  boundedInts(file, c, ['inChannels', 'outChannels', 'layersPerBlock', 'numAttentionHeads', 'crossAttentionDim', 'normNumGroups', 'sampleSize']);
  channelList(file, 'blockOutChannels', c.blockOutChannels, c.normNumGroups);
  const n = c.blockOutChannels.length;
  if (c.downBlockTypes.length !== n || c.upBlockTypes.length !== n) {
    throw new ConfigError(file, 'downBlockTypes', `and upBlockTypes must have ${n} entries (one per block), got ${c.downBlockTypes.length} and ${c.upBlockTypes.length}`);
  }
  c.downBlockTypes.forEach((t, i) => {
    if (!DOWN_TYPES.includes(t)) throw new ConfigError(file, `downBlockTypes[${i}]`, `must be one of ${DOWN_TYPES.join(', ')}, got ${briefJson(t)}`);
  });
  c.upBlockTypes.forEach((t, i) => {
    if (!UP_TYPES.includes(t)) throw new ConfigError(file, `upBlockTypes[${i}]`, `must be one of ${UP_TYPES.join(', ')}, got ${briefJson(t)}`);
  });
  for (const ch of c.blockOutChannels) {
    if (ch % c.numAttentionHeads !== 0) {
      throw new ConfigError(file, 'numAttentionHeads', `(${c.numAttentionHeads}) must divide every block width, not ${ch}`);
    }
  }
  boundedFloat(file, 'normEps', c.normEps, 1);
  return c;
}

export function checkVaeConfig(c: VaeConfig, file: string): VaeConfig {
  boundedInts(file, c, ['inChannels', 'outChannels', 'layersPerBlock', 'latentChannels', 'normNumGroups', 'sampleSize']);
  channelList(file, 'blockOutChannels', c.blockOutChannels, c.normNumGroups);
  boundedFloat(file, 'scalingFactor', c.scalingFactor, 100);
  return c;
}

export function checkClipTextConfig(c: ClipTextConfig, file: string): ClipTextConfig {
  boundedInts(file, c, ['vocabSize', 'hiddenSize', 'intermediateSize', 'numHiddenLayers', 'numAttentionHeads', 'maxPositionEmbeddings']);
  if (c.hiddenSize % c.numAttentionHeads !== 0) {
    throw new ConfigError(file, 'numAttentionHeads', `(${c.numAttentionHeads}) must divide hiddenSize ${c.hiddenSize}`);
  }
  boundedFloat(file, 'layerNormEps', c.layerNormEps, 1);
  if (c.hiddenAct !== 'quick_gelu' && c.hiddenAct !== 'gelu') {
    throw new ConfigError(file, 'hiddenAct', `must be quick_gelu or gelu, got ${briefJson(c.hiddenAct)}`);
  }
  return c;
}
