/**
 * Model-family detection: SD 2.x and SDXL checkpoints (and SD 1.x UNet variants this engine does not implement) are
 * rejected at open with `UnsupportedModelError` naming the file and the key that gave them away, instead of failing
 * later with a puzzling shape error.
 */
import { briefJson } from '../json_describe.js';
import { ORIGINAL_PREFIXES } from '../keymap.js';
import { UnsupportedModelError } from '../weights/errors.js';

export const SD2 = 'Stable Diffusion 2.x';
export const SDXL = 'SDXL';
const VARIANT = 'non-standard SD 1.x UNet';

type Entry = readonly [string, readonly number[]];

/** Checks the keys and shapes of an original single-file checkpoint. */
export function detectOriginalFamily(entries: readonly Entry[], file: string): void {
  const unet = ORIGINAL_PREFIXES.unet;
  const rules: [(k: string, s: readonly number[]) => boolean, string, string][] = [
    [(k) => k.startsWith('conditioner.embedders.'), SDXL, 'SDXL keeps its text encoders under conditioner.embedders'],
    [(k) => k.startsWith('cond_stage_model.model.'), SD2, 'an OpenCLIP text encoder (cond_stage_model.model)'],
    [(k) => k.startsWith(`${unet}label_emb.`), SDXL, 'label_emb: class / size conditioning of the UNet'],
    [(k, s) => isContextKey(k, unet) && s[1] === 2048, SDXL, 'cross-attention context dim 2048'],
    [(k, s) => isContextKey(k, unet) && s[1] === 1024, SD2, 'cross-attention context dim 1024 (OpenCLIP ViT-H)'],
    [(k, s) => k.startsWith(unet) && k.endsWith('.proj_in.weight') && s.length === 2, SD2, 'linear proj_in (use_linear_projection)'],
    [(k) => k.startsWith(unet) && /\.transformer_blocks\.[1-9]\d*\./.test(k), SDXL, 'more than one transformer block per attention'],
  ];
  for (const [test, family, detail] of rules) {
    const hit = entries.find(([k, s]) => test(k, s));
    if (hit) throw new UnsupportedModelError(file, hit[0], family, detail);
  }
}

function isContextKey(k: string, prefix: string): boolean {
  return k.startsWith(prefix) && k.endsWith('.attn2.to_k.weight');
}

/** Checks a diffusers `model_index.json`. */
export function detectPipelineIndex(json: Record<string, unknown>, file: string): void {
  if ('text_encoder_2' in json) throw new UnsupportedModelError(file, 'text_encoder_2', SDXL, 'a second text encoder');
  const cls = json._class_name;
  if (typeof cls === 'string' && /XL/.test(cls)) throw new UnsupportedModelError(file, '_class_name', SDXL, `pipeline class ${cls}`);
}

/**
 * Checks a diffusers UNet `config.json` for the families and knobs SD 1.x does not have. `upcast_attention` is
 * accepted: attention accumulates in f32 here anyway.
 */
export function detectUNetConfig(json: Record<string, unknown>, file: string): void {
  const cross = json.cross_attention_dim;
  if (cross === 2048 || Array.isArray(cross)) throw new UnsupportedModelError(file, 'cross_attention_dim', SDXL, `context dim ${briefJson(cross)}`);
  if (cross === 1024) throw new UnsupportedModelError(file, 'cross_attention_dim', SD2, 'context dim 1024 (OpenCLIP ViT-H)');
  if (json.addition_embed_type != null) {
    throw new UnsupportedModelError(file, 'addition_embed_type', SDXL, `addition_embed_type ${briefJson(json.addition_embed_type)}`);
  }
  const tlpb = json.transformer_layers_per_block;
  if (tlpb != null && tlpb !== 1) throw new UnsupportedModelError(file, 'transformer_layers_per_block', SDXL, `${briefJson(tlpb)} transformer layers`);
  if (json.use_linear_projection === true) throw new UnsupportedModelError(file, 'use_linear_projection', SD2, 'linear proj_in/proj_out');
  // Knobs that change the computation away from SD 1.x; their SD 1.x values are listed.
  const expected: [string, unknown][] = [
    ['class_embed_type', null],
    ['time_cond_proj_dim', null],
    ['encoder_hid_dim', null],
    ['num_class_embeds', null],
    ['center_input_sample', false],
    ['flip_sin_to_cos', true],
    ['freq_shift', 0],
    ['only_cross_attention', false],
    ['dual_cross_attention', false],
    ['resnet_time_scale_shift', 'default'],
    ['mid_block_type', 'UNetMidBlock2DCrossAttn'],
    ['time_embedding_type', 'positional'],
    ['conv_in_kernel', 3],
    ['conv_out_kernel', 3],
    ['downsample_padding', 1],
    ['mid_block_scale_factor', 1],
    ['act_fn', 'silu'],
    ['resnet_out_scale_factor', 1],
    ['attention_type', 'default'],
  ];
  for (const [field, want] of expected) {
    const got = json[field];
    if (got !== undefined && got !== want && !(want === null && got === null)) {
      throw new UnsupportedModelError(file, field, VARIANT, `${field} is ${briefJson(got)}, SD 1.x has ${briefJson(want)}`);
    }
  }
}
