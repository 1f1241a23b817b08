/**
 * The one place that knows checkpoint dialects. Everything after loading uses diffusers names, relative to the
 * component (`unet`: `down_blocks.0.resnets.1.conv1.weight`; `vae`: `decoder.up_blocks.0.upsamplers.0.conv.bias`;
 * `text_encoder`: `text_model.encoder.layers.0.mlp.fc1.weight`).
 *
 * Dialects:
 * - original single-file (CompVis / LDM) checkpoints: `model.diffusion_model.*` (UNet), `first_stage_model.*` (VAE),
 *   `cond_stage_model.transformer.*` (HF CLIP names, with or without the `text_model.` level). Block counts and
 *   layers per block come from the keys present, so any SD 1.x-structured model maps (SD 1.5 or the tiny test model).
 * - legacy diffusers VAE folders (before diffusers 0.14) name the mid attention `query/key/value/proj_attn`.
 *
 * Renames that change a shape: the original VAE mid-attention `q/k/v/proj_out` are 1x1 convs `[C,C,1,1]`; diffusers
 * holds them as linear `[C,C]` (`to_q/to_k/to_v/to_out.0`). The bytes are the same, only the shape is squeezed.
 */
import { isIgnoredKey } from './weights/store.js';
import { ConfigError } from './weights/errors.js';

export type Component = 'unet' | 'vae' | 'text_encoder';
export const COMPONENTS: readonly Component[] = ['unet', 'vae', 'text_encoder'];

/** Key prefixes of each component in original single-file checkpoints. */
export const ORIGINAL_PREFIXES: Readonly<Record<Component, string>> = {
  unet: 'model.diffusion_model.',
  vae: 'first_stage_model.',
  text_encoder: 'cond_stage_model.transformer.',
};

/** A weight of one component, in diffusers naming. */
export interface MappedWeight {
  /** The key in the file. */
  fileKey: string;
  /** The shape under the diffusers key (differs from the file's only for squeezed 1x1 convs). */
  shape: number[];
}

export interface OriginalKeyMap {
  /** Per component: diffusers key → file key and shape. */
  components: Record<Component, Map<string, MappedWeight>>;
  /** Per component: file keys under the component's prefix that match no rule. */
  unmapped: Record<Component, string[]>;
  /** Keys outside every component prefix and not on the allow-list. */
  unassigned: string[];
  /** Allow-listed keys (EMA copies, schedule buffers, position_ids). */
  ignored: string[];
}

/** Maps every key of an original single-file checkpoint. `file` names the checkpoint in errors. */
export function mapOriginalCheckpoint(entries: Iterable<readonly [string, readonly number[]]>, file: string): OriginalKeyMap {
  const all = [...entries];
  const out: OriginalKeyMap = {
    components: { unet: new Map(), vae: new Map(), text_encoder: new Map() },
    unmapped: { unet: [], vae: [], text_encoder: [] },
    unassigned: [],
    ignored: [],
  };
  const byComponent: Record<Component, [string, readonly number[]][]> = { unet: [], vae: [], text_encoder: [] };
  for (const [key, shape] of all) {
    if (isIgnoredKey(key)) {
      out.ignored.push(key);
      continue;
    }
    const c = COMPONENTS.find((comp) => key.startsWith(ORIGINAL_PREFIXES[comp]));
    if (c) byComponent[c].push([key.slice(ORIGINAL_PREFIXES[c].length), shape]);
    else out.unassigned.push(key);
  }
  const unetRule = unetMapper(byComponent.unet.map(([k]) => k));
  const vaeRule = vaeMapper(byComponent.vae.map(([k]) => k));
  const rules: Record<Component, (rest: string, shape: readonly number[]) => MappedTarget | null> = {
    unet: (rest) => keep(unetRule(rest)),
    vae: vaeRule,
    text_encoder: (rest) => keep(textKey(rest)),
  };
  for (const c of COMPONENTS) {
    const target = out.components[c];
    for (const [rest, shape] of byComponent[c]) {
      const fileKey = ORIGINAL_PREFIXES[c] + rest;
      const m = rules[c](rest, shape);
      if (!m) {
        out.unmapped[c].push(fileKey);
        continue;
      }
      const prev = target.get(m.key);
      if (prev) throw new ConfigError(file, fileKey, `maps to ${c} weight '${m.key}', which '${prev.fileKey}' already maps to`);
      target.set(m.key, { fileKey, shape: m.shape ?? [...shape] });
    }
  }
  return out;
}

/**
 * A key of a diffusers-folder component → the current diffusers key (and shape). Renames the legacy VAE attention
 * names; everything else passes through. Returns the input unchanged when no rule applies.
 */
export function mapDiffusersKey(component: Component, key: string, shape: readonly number[]): { key: string; shape: number[] } {
  if (component === 'vae') {
    const m = /^((?:encoder|decoder)\.mid_block\.attentions\.\d+\.)(query|key|value|proj_attn)\.(weight|bias)$/.exec(key);
    if (m) return { key: `${m[1]}${LEGACY_VAE_ATTN[m[2]!]}.${m[3]}`, shape: squeeze1x1(shape) };
  }
  if (component === 'text_encoder' && /^(embeddings|encoder|final_layer_norm)\./.test(key)) {
    return { key: `text_model.${key}`, shape: [...shape] };
  }
  return { key, shape: [...shape] };
}

const LEGACY_VAE_ATTN: Record<string, string> = { query: 'to_q', key: 'to_k', value: 'to_v', proj_attn: 'to_out.0' };

interface MappedTarget {
  key: string;
  shape?: number[];
}

function keep(key: string | null): MappedTarget | null {
  return key === null ? null : { key };
}

/** `[C, C, 1, 1]` → `[C, C]`; any other shape is returned as is. */
function squeeze1x1(shape: readonly number[]): number[] {
  return shape.length === 4 && shape[2] === 1 && shape[3] === 1 ? [shape[0]!, shape[1]!] : [...shape];
}

// ---- UNet -----------------------------------------------------------------------------------------------------

const WB = '(weight|bias)';

/** CompVis ResBlock part → diffusers ResnetBlock2D part. */
function unetResnet(tail: string): string | null {
  const m = new RegExp(`^(in_layers\\.0|in_layers\\.2|emb_layers\\.1|out_layers\\.0|out_layers\\.3|skip_connection)\\.${WB}$`).exec(tail);
  if (!m) return null;
  const part: Record<string, string> = {
    'in_layers.0': 'norm1',
    'in_layers.2': 'conv1',
    'emb_layers.1': 'time_emb_proj',
    'out_layers.0': 'norm2',
    'out_layers.3': 'conv2',
    skip_connection: 'conv_shortcut',
  };
  return `${part[m[1]!]}.${m[2]}`;
}

/** SpatialTransformer internals keep their diffusers names; only known parts are accepted. */
function unetAttention(tail: string): string | null {
  return /^(norm|proj_in|proj_out)\.(weight|bias)$/.test(tail) || /^transformer_blocks\.\d+\./.test(tail) ? tail : null;
}

/**
 * Builds the UNet rule for a checkpoint's keys (relative to `model.diffusion_model.`). With L resnets per down block,
 * `input_blocks.{(L+1)i+j+1}` is resnet/attention j of down block i (j < L) or its downsampler (j = L), and
 * `output_blocks.{(L+1)i+j}` is resnet/attention j of up block i, the upsampler sitting after the last one.
 */
function unetMapper(keys: readonly string[]): (rest: string) => string | null {
  const L = layersPerBlock(keys);
  return (rest) => {
    let m = new RegExp(`^time_embed\\.(0|2)\\.${WB}$`).exec(rest);
    if (m) return `time_embedding.linear_${m[1] === '0' ? 1 : 2}.${m[2]}`;
    m = new RegExp(`^input_blocks\\.0\\.0\\.${WB}$`).exec(rest);
    if (m) return `conv_in.${m[1]}`;
    m = new RegExp(`^out\\.(0|2)\\.${WB}$`).exec(rest);
    if (m) return `${m[1] === '0' ? 'conv_norm_out' : 'conv_out'}.${m[2]}`;

    m = /^input_blocks\.(\d+)\.(\d+)\.(.+)$/.exec(rest);
    if (m) {
      const n = Number(m[1]);
      if (n < 1) return null;
      const i = Math.floor((n - 1) / (L + 1));
      const j = (n - 1) % (L + 1);
      const [part, tail] = [m[2], m[3]!];
      if (j === L) {
        const op = new RegExp(`^op\\.${WB}$`).exec(tail);
        return part === '0' && op ? `down_blocks.${i}.downsamplers.0.conv.${op[1]}` : null;
      }
      return sub(`down_blocks.${i}`, j, part!, tail, false);
    }

    m = /^middle_block\.(0|1|2)\.(.+)$/.exec(rest);
    if (m) {
      const tail = m[2]!;
      if (m[1] === '1') return prefixed('mid_block.attentions.0', unetAttention(tail));
      return prefixed(`mid_block.resnets.${m[1] === '0' ? 0 : 1}`, unetResnet(tail));
    }

    m = /^output_blocks\.(\d+)\.(\d+)\.(.+)$/.exec(rest);
    if (m) {
      const n = Number(m[1]);
      return sub(`up_blocks.${Math.floor(n / (L + 1))}`, n % (L + 1), m[2]!, m[3]!, n % (L + 1) === L);
    }
    return null;
  };

  /** Part 0 = resnet j; part 1 = attention j or (last layer only) the upsampler; part 2 = upsampler after attention. */
  function sub(block: string, j: number, part: string, tail: string, last: boolean): string | null {
    const up = new RegExp(`^conv\\.${WB}$`).exec(tail);
    if (part === '0') return prefixed(`${block}.resnets.${j}`, unetResnet(tail));
    if (up && last && (part === '1' || part === '2')) return `${block}.upsamplers.0.conv.${up[1]}`;
    if (part === '1') return prefixed(`${block}.attentions.${j}`, unetAttention(tail));
    return null;
  }
}

function prefixed(prefix: string, tail: string | null): string | null {
  return tail === null ? null : `${prefix}.${tail}`;
}

/** L = resnets per down block: the first downsampler sits at input_blocks.{L+1}. Without one, the highest index. */
function layersPerBlock(keys: readonly string[]): number {
  let firstOp = Infinity;
  let maxIndex = 0;
  for (const k of keys) {
    const m = /^input_blocks\.(\d+)\.(\d+)\./.exec(k);
    if (!m) continue;
    const n = Number(m[1]);
    maxIndex = Math.max(maxIndex, n);
    if (m[2] === '0' && /^input_blocks\.\d+\.0\.op\./.test(k) && n >= 1) firstOp = Math.min(firstOp, n);
  }
  return Math.max(1, Number.isFinite(firstOp) ? firstOp - 1 : maxIndex);
}

// ---- VAE ------------------------------------------------------------------------------------------------------

function vaeResnet(tail: string): string | null {
  const m = new RegExp(`^(norm1|conv1|norm2|conv2|nin_shortcut)\\.${WB}$`).exec(tail);
  if (!m) return null;
  return `${m[1] === 'nin_shortcut' ? 'conv_shortcut' : m[1]}.${m[2]}`;
}

const VAE_ATTN: Record<string, string> = { q: 'to_q', k: 'to_k', v: 'to_v', proj_out: 'to_out.0', norm: 'group_norm' };

/** The VAE rule; the decoder's `up.{k}` counts from the output side, so up block i is `up.{N-1-i}`. */
function vaeMapper(keys: readonly string[]): (rest: string, shape: readonly number[]) => MappedTarget | null {
  let maxUp = -1;
  for (const k of keys) {
    const m = /^decoder\.up\.(\d+)\./.exec(k);
    if (m) maxUp = Math.max(maxUp, Number(m[1]));
  }
  const N = maxUp + 1;
  return (rest, shape) => {
    let m = new RegExp(`^(quant_conv|post_quant_conv)\\.${WB}$`).exec(rest);
    if (m) return { key: rest };
    m = new RegExp(`^(encoder|decoder)\\.(conv_in|conv_out|norm_out)\\.${WB}$`).exec(rest);
    if (m) return { key: `${m[1]}.${m[2] === 'norm_out' ? 'conv_norm_out' : m[2]}.${m[3]}` };
    m = /^encoder\.down\.(\d+)\.block\.(\d+)\.(.+)$/.exec(rest);
    if (m) return keep(prefixed(`encoder.down_blocks.${m[1]}.resnets.${m[2]}`, vaeResnet(m[3]!)));
    m = new RegExp(`^encoder\\.down\\.(\\d+)\\.downsample\\.conv\\.${WB}$`).exec(rest);
    if (m) return { key: `encoder.down_blocks.${m[1]}.downsamplers.0.conv.${m[2]}` };
    m = /^decoder\.up\.(\d+)\.block\.(\d+)\.(.+)$/.exec(rest);
    if (m) return keep(prefixed(`decoder.up_blocks.${N - 1 - Number(m[1])}.resnets.${m[2]}`, vaeResnet(m[3]!)));
    m = new RegExp(`^decoder\\.up\\.(\\d+)\\.upsample\\.conv\\.${WB}$`).exec(rest);
    if (m) return { key: `decoder.up_blocks.${N - 1 - Number(m[1])}.upsamplers.0.conv.${m[2]}` };
    m = /^(encoder|decoder)\.mid\.block_(1|2)\.(.+)$/.exec(rest);
    if (m) return keep(prefixed(`${m[1]}.mid_block.resnets.${Number(m[2]) - 1}`, vaeResnet(m[3]!)));
    m = new RegExp(`^(encoder|decoder)\\.mid\\.attn_1\\.(q|k|v|proj_out|norm)\\.${WB}$`).exec(rest);
    if (m) {
      const key = `${m[1]}.mid_block.attentions.0.${VAE_ATTN[m[2]!]}.${m[3]}`;
      return m[2] === 'norm' ? { key } : { key, shape: squeeze1x1(shape) };
    }
    return null;
  };
}

// ---- text encoder ---------------------------------------------------------------------------------------------

/** HF CLIP names; some older checkpoints omit the `text_model.` level (CLIPTextTransformer saved directly). */
function textKey(rest: string): string | null {
  const inner = rest.startsWith('text_model.') ? rest.slice('text_model.'.length) : rest;
  return /^(embeddings|encoder|final_layer_norm)\./.test(inner) ? `text_model.${inner}` : null;
}
