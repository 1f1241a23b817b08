"""Trains the demo model on the CPU: `vae` (AutoencoderKL), `bank` (encodes a latent bank with it), `unet`
(UNet + CLIP text encoder jointly, eps-prediction, min-SNR-5, high-t sampling, caption dropout 10 %, EMA).
Every random draw comes from --seed. The learning rate follows a cosine over a wall-clock budget; the rate used at each
step is saved with the checkpoint, and --replay-lr replays exactly that schedule (the run is then reproducible)."""
import argparse
import copy
import json
import math
import os
import sys
import time

import torch

import configs
import data
import nets

torch.set_num_threads(int(os.environ.get('TRAIN_THREADS', '1')))  # 1: OpenMP threads spin-wait on an oversubscribed CPU


def log(f, msg):
    line = time.strftime('%H:%M:%S ') + msg
    print(line, flush=True)
    f.write(line + '\n')
    f.flush()


def cosine_lr(peak, progress, warm_frac_steps, step, floor=0.02):
    if step < warm_frac_steps:
        return peak * (step + 1) / warm_frac_steps
    p = min(max(progress, 0.0), 1.0)
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * p)))


class Schedule:
    """lr per step: cosine over the wall-clock budget, or replayed from a saved list."""

    def __init__(self, peak, minutes, warmup, replay=None):
        self.peak, self.budget, self.warmup, self.replay = peak, minutes * 60, warmup, replay
        self.t0 = time.time()
        self.used = []

    def next(self, step):
        if self.replay is not None:
            if step >= len(self.replay):
                return None
            lr = self.replay[step]
        else:
            progress = (time.time() - self.t0) / self.budget
            if progress >= 1:
                return None
            lr = cosine_lr(self.peak, progress, self.warmup, step)
        self.used.append(lr)
        return lr


def train_vae(a):
    gen = torch.Generator().manual_seed(a.seed)
    torch.manual_seed(a.seed)
    vae = nets.AutoencoderKL(dict(configs.VAE))
    done_before, lrs_before = 0, []
    if a.resume:  # continue a VAE run (a second session with its own seed and schedule)
        prev = torch.load(os.path.join(a.out, 'vae.pt'))
        vae.load_state_dict(prev['vae'])
        done_before, lrs_before = prev['steps'], prev.get('sessions', [prev['lrs']])
    opt = torch.optim.Adam(vae.parameters(), lr=a.lr)
    sched = Schedule(a.lr, a.minutes, 50, load_replay(a))
    f = open(os.path.join(a.out, 'vae.log'), 'a')
    log(f, f'vae params {sum(p.numel() for p in vae.parameters())}')
    step = 0
    while True:
        lr = sched.next(step)
        if lr is None:
            break
        for g in opt.param_groups:
            g['lr'] = lr
        full = (sched.replay is None and time.time() - sched.t0 > a.full_from * sched.budget) or \
            (sched.replay is not None and step >= a.full_from * len(sched.replay))
        x = data.sample(a.full_batch if full else a.batch, gen)[0]
        if not full:
            c = a.crop
            oy, ox = torch.randint(0, 65 - c, (2,), generator=gen).tolist()
            x = x[:, :, oy:oy + c, ox:ox + c]
        mean, logvar = vae.encode(x)
        z = mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=gen)
        xr = vae.decode(z)
        rec = ((x - xr).abs() + (x - xr) ** 2).flatten(1).sum(1)
        kl = 0.5 * (mean ** 2 + logvar.exp() - 1 - logvar).flatten(1).sum(1)
        loss = (rec + 1e-6 * kl).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0:
            log(f, f'vae step {step} lr {lr:.2e} loss {loss.item():.2f} rec/px {rec.mean().item() / x[0].numel():.4f} full {full}')
        step += 1
    sessions = lrs_before + [sched.used] if a.resume else [sched.used]
    torch.save({'vae': vae.state_dict(), 'steps': done_before + step, 'lrs': sched.used, 'sessions': sessions, 'seed': a.seed,
                'args': vars(a)}, os.path.join(a.out, 'vae.pt'))
    vae.eval()
    with torch.no_grad():
        g2 = torch.Generator().manual_seed(12345)
        x = data.sample(64, g2)[0]
        xr = vae.decode(vae.encode(x)[0]).clamp(-1, 1)
        mse = ((x - xr) ** 2).flatten(1).mean(1) / 4  # in [0,1] units
        psnr = (10 * torch.log10(1 / mse)).mean().item()
    log(f, f'vae done: {step} steps this session, {done_before + step} in all, held-out PSNR {psnr:.2f} dB')


def make_bank(a):
    vae = nets.AutoencoderKL(dict(configs.VAE))
    vae.load_state_dict(torch.load(os.path.join(a.out, 'vae.pt'))['vae'])
    vae.eval()
    gen = torch.Generator().manual_seed(a.seed + 1)
    means, stds, ids = [], [], []
    with torch.no_grad():
        for _ in range(a.bank // 64):
            x, s, fg, bg = data.sample(64, gen)
            m, lv = vae.encode(x)
            means.append(m)
            stds.append(torch.exp(0.5 * lv))
            ids.append(data.captions_ids(s, fg, bg))
    mean, std = torch.cat(means), torch.cat(stds)
    z = mean + std * torch.randn(mean.shape, generator=gen)
    scale = 1.0 / z.std().item()
    torch.save({'mean': mean, 'std': std, 'ids': torch.cat(ids), 'scaling_factor': scale}, os.path.join(a.out, 'bank.pt'))
    with open(os.path.join(a.out, 'vae.log'), 'a') as f:
        log(f, f'bank {mean.shape[0]} latents, scaling_factor {scale:.5f}')


def load_replay(a):
    if not a.replay_lr:
        return None
    return torch.load(a.replay_lr)['lrs']


def alphas_cumprod():
    betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float64) ** 2
    return torch.cumprod(1 - betas, 0).float()


def ema_update(ema, model, decay):
    with torch.no_grad():
        for pe, pm in zip(ema.parameters(), model.parameters()):
            pe.mul_(decay).add_(pm.detach(), alpha=1 - decay)


def train_unet(a):
    gen = torch.Generator().manual_seed(a.seed + 2)
    torch.manual_seed(a.seed + 2)
    bank = torch.load(os.path.join(a.out, 'bank.pt'))
    unet, te = nets.UNet2DConditionModel(dict(configs.UNET)), nets.CLIPTextModel(dict(configs.TEXT_ENCODER))
    with torch.no_grad():  # CLIP-style init of the embeddings
        te.text_model.embeddings.token_embedding.weight.normal_(0, 0.02, generator=gen)
        te.text_model.embeddings.position_embedding.weight.normal_(0, 0.01, generator=gen)
    ema_u, ema_t = copy.deepcopy(unet), copy.deepcopy(te)
    params = list(unet.parameters()) + list(te.parameters())
    opt = torch.optim.AdamW(params, lr=a.lr, weight_decay=0.0)
    sched = Schedule(a.lr, a.minutes, 200, load_replay(a))
    ac = alphas_cumprod()
    empty = torch.tensor([data.BOS, data.EOS] + [data.EOS] * 75)
    f = open(os.path.join(a.out, 'unet.log'), 'a')
    log(f, f'unet params {sum(p.numel() for p in unet.parameters())} text encoder {sum(p.numel() for p in te.parameters())} '
           f'bank {bank["mean"].shape[0]} scale {bank["scaling_factor"]:.5f}')
    n = bank['mean'].shape[0]
    step, last_ckpt, t_loss = 0, time.time(), 0.0
    while True:
        lr = sched.next(step)
        if lr is None:
            break
        for g in opt.param_groups:
            g['lr'] = lr
        idx = torch.randint(0, n, (a.batch,), generator=gen)
        z0 = (bank['mean'][idx] + bank['std'][idx] * torch.randn((a.batch, 4, 8, 8), generator=gen)) * bank['scaling_factor']
        ids = bank['ids'][idx].clone()
        drop = torch.rand(a.batch, generator=gen) < 0.1
        ids[drop] = empty
        half = a.batch // 2
        t = torch.cat([torch.randint(0, 1000, (half,), generator=gen), torch.randint(500, 1000, (a.batch - half,), generator=gen)])
        noise = torch.randn(z0.shape, generator=gen)
        abar = ac[t][:, None, None, None]
        zt = abar.sqrt() * z0 + (1 - abar).sqrt() * noise
        pred = unet(zt, t, te(ids))
        snr = ac[t] / (1 - ac[t])
        w = snr.clamp(max=5.0) / snr
        loss = (w * ((pred - noise) ** 2).flatten(1).mean(1)).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        if not all(torch.isfinite(p.grad).all() for p in params if p.grad is not None):
            log(f, f'step {step}: non-finite gradient, skipped')
            step += 1
            continue
        opt.step()
        decay = min(0.999, (1 + step) / (10 + step))
        ema_update(ema_u, unet, decay)
        ema_update(ema_t, te, decay)
        t_loss += loss.item()
        step += 1
        if step % 50 == 0:
            el = time.time() - sched.t0
            log(f, f'unet step {step} lr {lr:.2e} loss {t_loss / 50:.4f} {el / step:.2f} s/step')
            t_loss = 0.0
        if time.time() - last_ckpt > a.ckpt_minutes * 60:
            save_unet(a, step, unet, te, ema_u, ema_t, sched, bank, f)
            last_ckpt = time.time()
    save_unet(a, step, unet, te, ema_u, ema_t, sched, bank, f)
    log(f, f'unet done: {step} steps in {(time.time() - sched.t0) / 60:.1f} min')


def save_unet(a, step, unet, te, ema_u, ema_t, sched, bank, f):
    ck = {'unet': unet.state_dict(), 'text_encoder': te.state_dict(), 'ema_unet': ema_u.state_dict(),
          'ema_text_encoder': ema_t.state_dict(), 'steps': step, 'lrs': list(sched.used), 'seed': a.seed,
          'scaling_factor': bank['scaling_factor'], 'minutes': (time.time() - sched.t0) / 60}
    tmp = os.path.join(a.out, 'unet.pt.tmp')
    torch.save(ck, tmp)
    os.replace(tmp, os.path.join(a.out, 'unet.pt'))
    log(f, f'checkpoint at step {step}')


def main():
    p = argparse.ArgumentParser()
    p.add_argument('phase', choices=['vae', 'bank', 'unet'])
    p.add_argument('--out', default='runs/main')
    p.add_argument('--seed', type=int, default=1234)
    p.add_argument('--minutes', type=float, default=12)
    p.add_argument('--lr', type=float, default=None)
    p.add_argument('--batch', type=int, default=None)
    p.add_argument('--bank', type=int, default=2048)
    p.add_argument('--ckpt-minutes', type=float, default=4)
    p.add_argument('--resume', action='store_true', help='vae: continue from OUT/vae.pt')
    p.add_argument('--crop', type=int, default=32, help='vae: side of the random crops')
    p.add_argument('--full-from', type=float, default=0.8, help='vae: fraction of the budget after which full images are used')
    p.add_argument('--full-batch', type=int, default=12, help='vae: batch of the full images')
    p.add_argument('--replay-lr', default=None, help='a checkpoint whose per-step learning rates to replay')
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    if a.phase == 'vae':
        a.lr, a.batch = a.lr or 2e-3, a.batch or 12
        train_vae(a)
    elif a.phase == 'bank':
        make_bank(a)
    else:
        a.lr, a.batch = a.lr or 1e-3, a.batch or 64
        train_unet(a)


if __name__ == '__main__':
    sys.exit(main())
