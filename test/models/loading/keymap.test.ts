import { describe, expect, it } from 'vitest';
import { COMPONENTS, type Component, mapDiffusersKey, mapOriginalCheckpoint } from '../../../packages/models/src/keymap';
import { openSafetensors } from '../../../packages/models/src/safetensors';
import { isIgnoredKey } from '../../../packages/models/src/weights/store';
import { fixturePath } from '../../helpers/fixtures';
import { describeShapes } from './shapes';

const SINGLE = 'models/tiny-sd-v1-original.safetensors';
const FOLDER_FILES: Record<Component, string> = {
  unet: 'models/tiny-sd/unet/diffusion_pytorch_model.safetensors',
  vae: 'models/tiny-sd/vae/diffusion_pytorch_model.safetensors',
  text_encoder: 'models/tiny-sd/text_encoder/model.safetensors',
};

async function header(rel: string): Promise<[string, number[]][]> {
  const f = await openSafetensors(fixturePath(rel));
  try {
    return [...f.entries.values()].map((e) => [e.name, e.shape]);
  } finally {
    await f.close();
  }
}

describe('keymap: original single file → diffusers', () => {
  it('maps every key of the tiny single file onto exactly the keys and shapes of the folder files', async () => {
    const entries = await header(SINGLE);
    expect(entries.length).toBe(981);
    const map = mapOriginalCheckpoint(entries, SINGLE);
    expect(map.unassigned).toEqual([]);
    expect(map.ignored).toEqual(['cond_stage_model.transformer.text_model.embeddings.position_ids']);
    for (const c of COMPONENTS) {
      expect(map.unmapped[c], c).toEqual([]);
      const folder = new Map((await header(FOLDER_FILES[c])).filter(([k]) => !isIgnoredKey(k)));
      const mapped = new Map([...map.components[c]].map(([k, w]) => [k, w.shape]));
      expect(describeShapes(mapped), c).toEqual(describeShapes(folder));
    }
  });

  it('applies the documented renames', async () => {
    const map = mapOriginalCheckpoint(await header(SINGLE), SINGLE);
    const fileKey = (c: Component, key: string) => map.components[c].get(key)?.fileKey;
    const U = 'model.diffusion_model.';
    expect(fileKey('unet', 'time_embedding.linear_2.weight')).toBe(`${U}time_embed.2.weight`);
    expect(fileKey('unet', 'conv_in.weight')).toBe(`${U}input_blocks.0.0.weight`);
    expect(fileKey('unet', 'down_blocks.1.resnets.0.conv_shortcut.weight')).toBe(`${U}input_blocks.4.0.skip_connection.weight`);
    expect(fileKey('unet', 'down_blocks.2.downsamplers.0.conv.bias')).toBe(`${U}input_blocks.9.0.op.bias`);
    expect(fileKey('unet', 'down_blocks.1.attentions.1.proj_in.weight')).toBe(`${U}input_blocks.5.1.proj_in.weight`);
    expect(fileKey('unet', 'mid_block.resnets.1.time_emb_proj.weight')).toBe(`${U}middle_block.2.emb_layers.1.weight`);
    expect(fileKey('unet', 'up_blocks.0.upsamplers.0.conv.weight')).toBe(`${U}output_blocks.2.1.conv.weight`);
    expect(fileKey('unet', 'up_blocks.2.upsamplers.0.conv.weight')).toBe(`${U}output_blocks.8.2.conv.weight`);
    expect(fileKey('unet', 'up_blocks.3.attentions.2.norm.bias')).toBe(`${U}output_blocks.11.1.norm.bias`);
    expect(fileKey('unet', 'up_blocks.3.resnets.2.norm2.weight')).toBe(`${U}output_blocks.11.0.out_layers.0.weight`);
    expect(fileKey('unet', 'conv_norm_out.weight')).toBe(`${U}out.0.weight`);
    expect(fileKey('unet', 'conv_out.bias')).toBe(`${U}out.2.bias`);
    const V = 'first_stage_model.';
    expect(fileKey('vae', 'decoder.up_blocks.0.upsamplers.0.conv.weight')).toBe(`${V}decoder.up.3.upsample.conv.weight`);
    expect(fileKey('vae', 'decoder.up_blocks.3.resnets.0.conv_shortcut.weight')).toBe(`${V}decoder.up.0.block.0.nin_shortcut.weight`);
    expect(fileKey('vae', 'encoder.mid_block.attentions.0.group_norm.weight')).toBe(`${V}encoder.mid.attn_1.norm.weight`);
    expect(fileKey('vae', 'decoder.mid_block.attentions.0.to_out.0.weight')).toBe(`${V}decoder.mid.attn_1.proj_out.weight`);
    expect(fileKey('vae', 'decoder.conv_norm_out.bias')).toBe(`${V}decoder.norm_out.bias`);
    // 1x1 conv → linear: same bytes, squeezed shape.
    expect(map.components.vae.get('encoder.mid_block.attentions.0.to_q.weight')?.shape).toEqual([64, 64]);
    expect(fileKey('text_encoder', 'text_model.final_layer_norm.weight')).toBe('cond_stage_model.transformer.text_model.final_layer_norm.weight');
  });

  it('takes the block structure from the keys (1 resnet per level, 2 levels, no attention in level 1)', () => {
    const U = 'model.diffusion_model.';
    const res = (p: string) => ['in_layers.0.weight', 'in_layers.2.weight', 'emb_layers.1.weight', 'out_layers.0.weight', 'out_layers.3.weight'].map((s) => `${p}.${s}`);
    const keys = [
      `${U}input_blocks.0.0.weight`,
      ...res(`${U}input_blocks.1.0`),
      `${U}input_blocks.1.1.proj_in.weight`,
      `${U}input_blocks.2.0.op.weight`,
      ...res(`${U}input_blocks.3.0`),
      ...res(`${U}output_blocks.0.0`),
      ...res(`${U}output_blocks.1.0`),
      `${U}output_blocks.1.1.conv.weight`,
      ...res(`${U}output_blocks.2.0`),
      `${U}output_blocks.2.1.transformer_blocks.0.attn1.to_q.weight`,
      ...res(`${U}output_blocks.3.0`),
      `${U}output_blocks.3.1.norm.weight`,
      'first_stage_model.decoder.up.0.block.0.conv1.weight',
      'first_stage_model.decoder.up.1.upsample.conv.weight',
      'cond_stage_model.transformer.embeddings.token_embedding.weight',
    ];
    const map = mapOriginalCheckpoint(keys.map((k) => [k, [1]] as const), 'synthetic');
    const unet = [...map.components.unet.keys()];
    expect(unet).toContain('down_blocks.0.resnets.0.norm1.weight');
    expect(unet).toContain('down_blocks.0.attentions.0.proj_in.weight');
    expect(unet).toContain('down_blocks.0.downsamplers.0.conv.weight');
    expect(unet).toContain('down_blocks.1.resnets.0.conv2.weight');
    expect(unet).toContain('up_blocks.0.resnets.1.conv1.weight');
    expect(unet).toContain('up_blocks.0.upsamplers.0.conv.weight');
    expect(unet).toContain('up_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q.weight');
    expect(unet).toContain('up_blocks.1.attentions.1.norm.weight');
    expect(map.unmapped.unet).toEqual([]);
    // Two decoder levels: up.0 is the last diffusers up block.
    expect([...map.components.vae.keys()].sort()).toEqual([
      'decoder.up_blocks.0.upsamplers.0.conv.weight',
      'decoder.up_blocks.1.resnets.0.conv1.weight',
    ]);
    // Old checkpoints without the text_model level.
    expect([...map.components.text_encoder.keys()]).toEqual(['text_model.embeddings.token_embedding.weight']);
  });

  it('sorts keys into ignored (allow-list), unassigned and unmapped', () => {
    const keys = [
      'betas',
      'alphas_cumprod',
      'sqrt_recipm1_alphas_cumprod',
      'posterior_mean_coef1',
      'log_one_minus_alphas_cumprod',
      'model_ema.num_updates',
      'model_ema.diffusion_modelinput_blocks00weight',
      'some_other_thing',
      'model.diffusion_model.input_blocks.0.0.weight',
      'model.diffusion_model.mystery.weight',
      'first_stage_model.encoder.conv_in.weight',
      'first_stage_model.loss.logvar',
      'cond_stage_model.transformer.text_model.pooler.weight',
    ];
    const map = mapOriginalCheckpoint(keys.map((k) => [k, [1]] as const), 'synthetic');
    expect(map.ignored).toEqual(keys.slice(0, 7));
    expect(map.unassigned).toEqual(['some_other_thing']);
    expect(map.unmapped.unet).toEqual(['model.diffusion_model.mystery.weight']);
    expect(map.unmapped.vae).toEqual(['first_stage_model.loss.logvar']);
    expect(map.unmapped.text_encoder).toEqual(['cond_stage_model.transformer.text_model.pooler.weight']);
  });
});

describe('keymap: legacy diffusers names', () => {
  it('renames the pre-0.14 VAE attention and leaves current names alone', () => {
    expect(mapDiffusersKey('vae', 'decoder.mid_block.attentions.0.query.weight', [512, 512])).toEqual({
      key: 'decoder.mid_block.attentions.0.to_q.weight',
      shape: [512, 512],
    });
    expect(mapDiffusersKey('vae', 'encoder.mid_block.attentions.0.proj_attn.bias', [512]).key).toBe(
      'encoder.mid_block.attentions.0.to_out.0.bias',
    );
    expect(mapDiffusersKey('vae', 'decoder.mid_block.attentions.0.to_k.weight', [8, 8])).toEqual({
      key: 'decoder.mid_block.attentions.0.to_k.weight',
      shape: [8, 8],
    });
    expect(mapDiffusersKey('unet', 'down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight', [3, 3]).key).toBe(
      'down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight',
    );
    expect(mapDiffusersKey('text_encoder', 'encoder.layers.0.mlp.fc1.bias', [4]).key).toBe('text_model.encoder.layers.0.mlp.fc1.bias');
  });
});
