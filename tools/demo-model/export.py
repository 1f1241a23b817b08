"""Exports a training run as a diffusers folder (model_index.json, configs as diffusers/transformers write them,
F16 safetensors, the CLIP tokenizer files) and as an original (CompVis/LDM) single .safetensors file.
Usage: python3 export.py RUN_DIR OUT_DIR [--raw]   (EMA weights unless --raw)"""
import argparse
import json
import os
import shutil

import torch

import configs
import st

HERE = os.path.dirname(os.path.abspath(__file__))
TOKENIZER_FILES = os.path.join(HERE, '..', '..', 'test', 'fixtures', 'models', 'tiny-sd', 'tokenizer')
SINGLE_FILE = 'sd-webgpu-demo.safetensors'


def unet_to_original(sd, layers):
    """diffusers UNet names -> CompVis `model.diffusion_model.*` names (as diffusers' convert script writes them)."""
    res = {'norm1': 'in_layers.0', 'conv1': 'in_layers.2', 'time_emb_proj': 'emb_layers.1', 'norm2': 'out_layers.0',
           'conv2': 'out_layers.3', 'conv_shortcut': 'skip_connection'}
    fixed = {'time_embedding.linear_1': 'time_embed.0', 'time_embedding.linear_2': 'time_embed.2', 'conv_in': 'input_blocks.0.0',
             'conv_norm_out': 'out.0', 'conv_out': 'out.2'}
    n = layers + 1
    has_attn_up = {}
    for k in sd:
        p = k.split('.')
        if p[0] == 'up_blocks' and p[2] == 'attentions':
            has_attn_up[int(p[1])] = True
    out = {}
    for k, v in sd.items():
        p = k.split('.')
        name = None
        for a, b in fixed.items():
            if k.startswith(a + '.'):
                name = b + k[len(a):]
        if p[0] == 'down_blocks':
            i, kind = int(p[1]), p[2]
            if kind == 'downsamplers':
                name = f'input_blocks.{n * (i + 1)}.0.op.' + '.'.join(p[5:])
            else:
                j = int(p[3])
                sub = '0' if kind == 'resnets' else '1'
                rest = '.'.join(p[4:])
                if kind == 'resnets':
                    rest = res[p[4]] + '.' + '.'.join(p[5:])
                name = f'input_blocks.{n * i + j + 1}.{sub}.{rest}'
        elif p[0] == 'mid_block':
            kind, j = p[1], int(p[2])
            idx = {('resnets', 0): 0, ('attentions', 0): 1, ('resnets', 1): 2}[(kind, j)]
            rest = res[p[3]] + '.' + '.'.join(p[4:]) if kind == 'resnets' else '.'.join(p[3:])
            name = f'middle_block.{idx}.{rest}'
        elif p[0] == 'up_blocks':
            i, kind = int(p[1]), p[2]
            if kind == 'upsamplers':
                name = f'output_blocks.{n * i + layers}.{2 if has_attn_up.get(i) else 1}.conv.' + '.'.join(p[5:])
            else:
                j = int(p[3])
                sub = '0' if kind == 'resnets' else '1'
                rest = res[p[4]] + '.' + '.'.join(p[5:]) if kind == 'resnets' else '.'.join(p[4:])
                name = f'output_blocks.{n * i + j}.{sub}.{rest}'
        if name is None:
            raise KeyError(f'no original name for unet key {k}')
        out['model.diffusion_model.' + name] = v
    return out


def vae_to_original(sd, nblocks):
    """diffusers AutoencoderKL names -> LDM `first_stage_model.*` names; mid-attention linears become 1x1 convs."""
    out = {}
    attn = {'group_norm': 'norm', 'to_q': 'q', 'to_k': 'k', 'to_v': 'v', 'to_out.0': 'proj_out'}
    for k, v in sd.items():
        name = k.replace('conv_shortcut', 'nin_shortcut').replace('conv_norm_out', 'norm_out')
        p = name.split('.')
        if p[0] in ('encoder', 'decoder') and p[1] == 'mid_block':
            if p[2] == 'resnets':
                name = f'{p[0]}.mid.block_{int(p[3]) + 1}.' + '.'.join(p[4:])
            else:
                rest = '.'.join(p[4:])
                for a, b in attn.items():
                    if rest.startswith(a + '.'):
                        rest = b + rest[len(a):]
                name = f'{p[0]}.mid.attn_1.{rest}'
                if v.ndim == 2:
                    v = v[:, :, None, None]
        elif p[0] == 'encoder' and p[1] == 'down_blocks':
            i = p[2]
            if p[3] == 'resnets':
                name = f'encoder.down.{i}.block.{p[4]}.' + '.'.join(p[5:])
            else:
                name = f'encoder.down.{i}.downsample.conv.' + '.'.join(p[6:])
        elif p[0] == 'decoder' and p[1] == 'up_blocks':
            i = nblocks - 1 - int(p[2])
            if p[3] == 'resnets':
                name = f'decoder.up.{i}.block.{p[4]}.' + '.'.join(p[5:])
            else:
                name = f'decoder.up.{i}.upsample.conv.' + '.'.join(p[6:])
        out['first_stage_model.' + name] = v
    return out


def write_json(path, obj):
    with open(path, 'w') as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write('\n')


def write_reference(path, unet_sd, vae_sd, te_sd, vae_cfg):
    """PyTorch (float64) outputs of the exported weights, for the engine parity test: the text encoder on two prompts, the
    UNet on seeded latents at t=500 with that conditioning, and the VAE decoder on those latents."""
    import data
    import nets
    f64 = lambda sd: {k: v.double() for k, v in sd.items()}
    te = nets.CLIPTextModel(dict(configs.TEXT_ENCODER)).double()
    te.load_state_dict(f64(te_sd))
    unet = nets.UNet2DConditionModel(dict(configs.UNET)).double()
    unet.load_state_dict(f64(unet_sd))
    vae = nets.AutoencoderKL(dict(vae_cfg)).double()
    vae.load_state_dict(f64(vae_sd))
    prompts = ['', 'a red circle on a blue background']
    ids = torch.tensor([data.tokenize(p) if p else [data.BOS, data.EOS] + [data.EOS] * 75 for p in prompts])
    latents = torch.randn((2, 4, 8, 8), generator=torch.Generator().manual_seed(7)).float()
    with torch.no_grad():
        ctx = te(ids)
        eps = unet(latents.double(), torch.tensor([500]), ctx)
        image = vae.decode(latents.double() / vae_cfg['scaling_factor'])
    st.save({'in.input_ids': ids, 'in.latents': latents, 'in.timestep': torch.tensor([500]), 'out.last_hidden_state': ctx.float(),
             'out.eps': eps.float(), 'out.image': image.float()}, path,
            {'prompts': json.dumps(prompts), 'note': 'float64 PyTorch (tools/demo-model/nets.py) on the exported F16 weights'})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('run')
    ap.add_argument('out')
    ap.add_argument('--raw', action='store_true', help='export the raw weights instead of the EMA weights')
    ap.add_argument('--reference', help='also write reference outputs of the exported (f16-rounded) weights to this file')
    a = ap.parse_args()
    ck = torch.load(os.path.join(a.run, 'unet.pt'))
    vae_sd = torch.load(os.path.join(a.run, 'vae.pt'))['vae']
    unet_sd = ck['unet' if a.raw else 'ema_unet']
    te_sd = ck['text_encoder' if a.raw else 'ema_text_encoder']
    half = lambda sd: {k: v.half() for k, v in sd.items()}
    vae_cfg = dict(configs.VAE, scaling_factor=round(float(ck['scaling_factor']), 5))
    for sub in ('unet', 'vae', 'text_encoder', 'tokenizer', 'scheduler'):
        os.makedirs(os.path.join(a.out, sub), exist_ok=True)
    write_json(os.path.join(a.out, 'model_index.json'), configs.MODEL_INDEX)
    write_json(os.path.join(a.out, 'unet', 'config.json'), configs.UNET)
    write_json(os.path.join(a.out, 'vae', 'config.json'), vae_cfg)
    write_json(os.path.join(a.out, 'text_encoder', 'config.json'), configs.TEXT_ENCODER)
    write_json(os.path.join(a.out, 'scheduler', 'scheduler_config.json'), configs.SCHEDULER)
    for f in ('merges.txt', 'special_tokens_map.json', 'tokenizer_config.json', 'vocab.json'):
        shutil.copyfile(os.path.join(TOKENIZER_FILES, f), os.path.join(a.out, 'tokenizer', f))
    meta = {'format': 'pt', 'steps': ck['steps'], 'weights': 'raw' if a.raw else 'ema'}
    st.save(half(unet_sd), os.path.join(a.out, 'unet', 'diffusion_pytorch_model.safetensors'), meta)
    st.save(half(vae_sd), os.path.join(a.out, 'vae', 'diffusion_pytorch_model.safetensors'), meta)
    st.save(half(te_sd), os.path.join(a.out, 'text_encoder', 'model.safetensors'), meta)
    single = {}
    single.update(unet_to_original(half(unet_sd), configs.UNET['layers_per_block']))
    single.update(vae_to_original(half(vae_sd), len(configs.VAE['block_out_channels'])))
    single.update({'cond_stage_model.transformer.' + k: v for k, v in half(te_sd).items()})
    st.save(single, os.path.join(a.out, SINGLE_FILE), meta)
    if a.reference:
        write_reference(a.reference, half(unet_sd), half(vae_sd), half(te_sd), vae_cfg)
    print(f'exported step {ck["steps"]} ({meta["weights"]} weights) to {a.out}; scaling_factor {vae_cfg["scaling_factor"]}')


if __name__ == '__main__':
    main()
