"""Checks nets.py against the diffusers 0.27.2 reference outputs of the tiny fixture model: the fixture weights through
our modules must reproduce the fixture outputs (float64 evaluation, like the references, and float32).
Usage: python3 verify.py [FIXTURES_DIR]   (default: test/fixtures/models of this repo)"""
import json
import os
import sys

import torch

import nets
import st

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT = os.path.join(HERE, '..', '..', 'test', 'fixtures', 'models')


def load_model(cls, folder, file):
    cfg = json.load(open(os.path.join(folder, 'config.json')))
    m = cls(cfg)
    sd = {k: v.float() for k, v in st.load(os.path.join(folder, file)).items() if not k.endswith('position_ids')}
    m.load_state_dict(sd, strict=True)
    return m.eval()


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else DEFAULT
    tiny = os.path.join(root, 'tiny-sd')
    unet = load_model(nets.UNet2DConditionModel, os.path.join(tiny, 'unet'), 'diffusion_pytorch_model.safetensors')
    vae = load_model(nets.AutoencoderKL, os.path.join(tiny, 'vae'), 'diffusion_pytorch_model.safetensors')
    te = load_model(nets.CLIPTextModel, os.path.join(tiny, 'text_encoder'), 'model.safetensors')
    checks = []  # (name, f64 max abs error, f32 max abs error, tolerance)

    def case(name):
        return st.load(os.path.join(root, name + '.safetensors'))

    def run(name, fn, ref, tol):
        errs = []
        for dt in (torch.float64, torch.float32):
            with torch.no_grad():
                out = fn(dt)
            errs.append((out.double() - ref.double()).abs().max().item())
        checks.append((name, errs[0], errs[1], tol))

    c = case('text_encoder_last_hidden_state')
    run('text_encoder', lambda dt: te.to(dt)(c['in.input_ids']), c['out.last_hidden_state'], 1e-4)
    for hw in ('8x8', '8x16'):
        for t in (1, 500, 999):
            c = case(f'unet_{hw}_t{t}')
            run(f'unet_{hw}_t{t}', lambda dt, c=c: unet.to(dt)(c['in.sample'].to(dt), c['in.timestep'],
                                                                c['in.encoder_hidden_states'].to(dt)), c['out.sample'], 2e-3)
    for hw in ('8x8', '8x12'):
        c = case(f'vae_decode_{hw}')
        run(f'vae_decode_{hw}', lambda dt, c=c: vae.to(dt).decode(c['in.z'].to(dt)), c['out.image'], 1e-4)
    for hw in ('64x64', '48x80'):
        c = case(f'vae_encode_{hw}')
        run(f'vae_encode_{hw}_mean', lambda dt, c=c: vae.to(dt).encode(c['in.image'].to(dt))[0], c['out.mean'], 1e-4)
        run(f'vae_encode_{hw}_logvar', lambda dt, c=c: vae.to(dt).encode(c['in.image'].to(dt))[1], c['out.logvar'], 1e-4)
    ok = True
    for name, e64, e32, tol in checks:
        good = e32 <= tol
        ok &= good
        print(f'{"ok  " if good else "FAIL"} {name:28s} max|err| f64 {e64:.2e}  f32 {e32:.2e}  (tolerance {tol:g})')
    print('all match' if ok else 'MISMATCH')
    return 0 if ok else 1


if __name__ == '__main__':
    torch.set_num_threads(1)
    sys.exit(main())
