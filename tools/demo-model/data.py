"""Procedural scenes: one antialiased shape (circle, square, triangle) of one of 8 colours, centred,
on a flat background of a different colour, 64x64; captions "a <colour> <shape> on a <colour> background".
Everything is drawn from a torch.Generator, so a seed reproduces the data."""
import math

import torch

SIZE = 64
COLOURS = {
    'red': (220, 40, 40),
    'orange': (245, 140, 20),
    'yellow': (240, 220, 40),
    'green': (40, 170, 60),
    'blue': (40, 80, 220),
    'purple': (140, 50, 180),
    'white': (245, 245, 245),
    'black': (20, 20, 20),
}
COLOUR_NAMES = list(COLOURS)
SHAPES = ['circle', 'square', 'triangle']
PALETTE = torch.tensor([COLOURS[c] for c in COLOUR_NAMES], dtype=torch.float32)  # [8,3] 0..255

# CLIP BPE: each caption word is one token `word</w>` (checked against the engine's tokenizer by the eval script).
TOKENS = {'a': 320, 'an': 550, 'on': 525, 'background': 5994, 'circle': 7117, 'square': 3999, 'triangle': 14615,
          'red': 736, 'orange': 4287, 'yellow': 4481, 'green': 1901, 'blue': 1746, 'purple': 5496, 'white': 1579, 'black': 1449}
BOS, EOS, CTX = 49406, 49407, 77


def article(word):
    return 'an' if word[0] in 'aeiou' else 'a'


def caption(shape, colour, bg):
    return f'{article(colour)} {colour} {shape} on {article(bg)} {bg} background'


def tokenize(text):
    ids = [BOS] + [TOKENS[w] for w in text.split()] + [EOS]
    return ids + [EOS] * (CTX - len(ids))


def sdf(shape, px, py, cx, cy, r):
    """Signed distance in pixels (negative inside) for per-sample centre (cx, cy) and radius r: [B,1,1]."""
    x, y = px - cx, py - cy
    if shape == 'circle':
        return torch.sqrt(x * x + y * y) - r
    if shape == 'square':
        s = r * 0.86  # half side: same area as the circle of radius r
        dx, dy = x.abs() - s, y.abs() - s
        outside = torch.sqrt(dx.clamp(min=0) ** 2 + dy.clamp(min=0) ** 2)
        return outside + torch.maximum(dx, dy).clamp(max=0)
    # equilateral triangle pointing up, circumradius 1.25 r, centroid at the centre (image y grows downwards)
    R = r * 1.25
    k = math.sqrt(3.0)
    qx, qy = x.abs() / R, -y / R - 0.0
    # iq's sdEquilateralTriangle with side sqrt(3) (circumradius 1), in units of R
    qx = qx - 1.0 * k / 2
    qy = qy + 0.5
    flip = (qx + k * qy) > 0
    nx = torch.where(flip, (qx - k * qy) / 2, qx)
    ny = torch.where(flip, (-k * qx - qy) / 2, qy)
    nx = nx - nx.clamp(-k, 0)
    d = -torch.sqrt(nx * nx + ny * ny) * torch.sign(ny)
    return d * R


def render(shape_idx, fg_idx, bg_idx, gen, jitter=True):
    """Images [B,3,64,64] in [-1,1] for index tensors [B]."""
    b = shape_idx.shape[0]
    py, px = torch.meshgrid(torch.arange(SIZE, dtype=torch.float32) + 0.5, torch.arange(SIZE, dtype=torch.float32) + 0.5,
                            indexing='ij')
    u = lambda lo, hi: (lo + (hi - lo) * torch.rand(b, generator=gen))[:, None, None] if jitter else torch.full((b, 1, 1), (lo + hi) / 2)
    cx, cy, r = SIZE / 2 + u(-2, 2), SIZE / 2 + u(-2, 2), 16 + u(-1, 1)
    d = torch.zeros(b, SIZE, SIZE)
    for si, name in enumerate(SHAPES):
        sel = shape_idx == si
        if sel.any():
            d[sel] = sdf(name, px, py, cx[sel], cy[sel], r[sel])
    cover = (0.5 - d).clamp(0, 1)[:, None]
    jit = (torch.rand(b, 2, 3, generator=gen) * 16 - 8) if jitter else torch.zeros(b, 2, 3)
    fg = (PALETTE[fg_idx] + jit[:, 0]).clamp(0, 255)[:, :, None, None]
    bg = (PALETTE[bg_idx] + jit[:, 1]).clamp(0, 255)[:, :, None, None]
    img = cover * fg + (1 - cover) * bg
    return img / 127.5 - 1


def sample(b, gen, jitter=True):
    """Random scenes: (images, shape_idx, fg_idx, bg_idx) with bg != fg."""
    s = torch.randint(0, 3, (b,), generator=gen)
    fg = torch.randint(0, 8, (b,), generator=gen)
    bg = (fg + torch.randint(1, 8, (b,), generator=gen)) % 8
    return render(s, fg, bg, gen, jitter), s, fg, bg


def captions_ids(s, fg, bg):
    return torch.tensor([tokenize(caption(SHAPES[a], COLOUR_NAMES[b], COLOUR_NAMES[c])) for a, b, c in
                         zip(s.tolist(), fg.tolist(), bg.tolist())])


def classify(img):
    """img [3,H,W] in 0..255 float. -> (fg colour idx, bg colour idx, shape idx or -1). Shape colour: median of the
    central 8x8; background: median of the 2-pixel border; shape: from the mask of pixels nearer the shape colour,
    fill ratio of its bounding box (circle pi/4, square 1, triangle 1/2) and whether the top row is narrower."""
    c, h, w = img.shape
    cen = img[:, h // 2 - 4:h // 2 + 4, w // 2 - 4:w // 2 + 4].reshape(3, -1).median(dim=1).values
    border = torch.cat([img[:, :2].reshape(3, -1), img[:, -2:].reshape(3, -1), img[:, :, :2].reshape(3, -1),
                        img[:, :, -2:].reshape(3, -1)], dim=1).median(dim=1).values
    near = lambda v: int(((PALETTE - v[None]) ** 2).sum(1).argmin())
    fgc, bgc = near(cen), near(border)
    dfg = ((img - cen[:, None, None]) ** 2).sum(0)
    dbg = ((img - border[:, None, None]) ** 2).sum(0)
    mask = dfg < dbg
    if not mask.any():
        return fgc, bgc, -1
    ys, xs = torch.nonzero(mask, as_tuple=True)
    y0, y1, x0, x1 = ys.min(), ys.max(), xs.min(), xs.max()
    fill = float(mask.sum()) / float((y1 - y0 + 1) * (x1 - x0 + 1))
    top = mask[y0:y0 + max(1, int((y1 - y0) * 0.2))].sum(1).float().mean()
    bottom = mask[y1 - max(1, int((y1 - y0) * 0.2)) + 1:y1 + 1].sum(1).float().mean()
    if fill < 0.66 and top < 0.6 * bottom:
        return fgc, bgc, 2
    return fgc, bgc, 1 if fill > 0.88 else 0
