"""SD 1.x networks in plain PyTorch with the diffusers / transformers parameter names that
packages/models loads: CLIPTextModel, UNet2DConditionModel (SD 1.x block types) and AutoencoderKL.
Only the configuration options SD 1.x uses are implemented. Attention scores come from a plain matmul,
never from baddbmm on an uninitialised buffer (see the NaN trap in the shared fixtures README)."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def attention(q, k, v, heads, mask=None):
    """q [B,N,C], k/v [B,M,C] -> [B,N,C]; softmax(q k^T / sqrt(d)) v per head."""
    b, n, c = q.shape
    m = k.shape[1]
    d = c // heads
    q = q.reshape(b, n, heads, d).transpose(1, 2)
    k = k.reshape(b, m, heads, d).transpose(1, 2)
    v = v.reshape(b, m, heads, d).transpose(1, 2)
    scores = torch.matmul(q, k.transpose(-1, -2)) * (d ** -0.5)
    if mask is not None:
        scores = scores + mask
    out = torch.matmul(scores.softmax(dim=-1), v)
    return out.transpose(1, 2).reshape(b, n, c)


# ---------------------------------------------------------------- CLIP text encoder (transformers names)

class CLIPAttention(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(width, width) for _ in range(4))

    def forward(self, x, mask):
        return self.out_proj(attention(self.q_proj(x), self.k_proj(x), self.v_proj(x), self.heads, mask))


class CLIPMLP(nn.Module):
    def __init__(self, width, inter):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(width, inter), nn.Linear(inter, width)

    def forward(self, x):
        h = self.fc1(x)
        return self.fc2(h * torch.sigmoid(1.702 * h))  # quick_gelu


class CLIPEncoderLayer(nn.Module):
    def __init__(self, width, heads, inter, eps):
        super().__init__()
        self.self_attn = CLIPAttention(width, heads)
        self.layer_norm1 = nn.LayerNorm(width, eps=eps)
        self.mlp = CLIPMLP(width, inter)
        self.layer_norm2 = nn.LayerNorm(width, eps=eps)

    def forward(self, x, mask):
        x = x + self.self_attn(self.layer_norm1(x), mask)
        return x + self.mlp(self.layer_norm2(x))


class _Embeddings(nn.Module):
    def __init__(self, vocab, width, ctx):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab, width)
        self.position_embedding = nn.Embedding(ctx, width)


class _Encoder(nn.Module):
    def __init__(self, layers):
        super().__init__()
        self.layers = nn.ModuleList(layers)


class _TextModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        w = cfg['hidden_size']
        self.embeddings = _Embeddings(cfg['vocab_size'], w, cfg['max_position_embeddings'])
        self.encoder = _Encoder([CLIPEncoderLayer(w, cfg['num_attention_heads'], cfg['intermediate_size'], cfg['layer_norm_eps'])
                                 for _ in range(cfg['num_hidden_layers'])])
        self.final_layer_norm = nn.LayerNorm(w, eps=cfg['layer_norm_eps'])


class CLIPTextModel(nn.Module):
    """Returns the last hidden state [B, 77, width] (what SD 1.x conditions on)."""

    def __init__(self, cfg):
        super().__init__()
        self.config = cfg
        self.text_model = _TextModel(cfg)

    def forward(self, ids):
        tm = self.text_model
        n = ids.shape[1]
        x = tm.embeddings.token_embedding(ids) + tm.embeddings.position_embedding.weight[:n]
        mask = torch.full((n, n), float('-inf'), dtype=x.dtype).triu_(1)
        for layer in tm.encoder.layers:
            x = layer(x, mask)
        return tm.final_layer_norm(x)


# ---------------------------------------------------------------- shared 2D blocks (diffusers names)

class ResnetBlock2D(nn.Module):
    def __init__(self, cin, cout, groups, eps, temb=None):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin, eps=eps)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        if temb is not None:
            self.time_emb_proj = nn.Linear(temb, cout)
        self.norm2 = nn.GroupNorm(groups, cout, eps=eps)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        if cin != cout:
            self.conv_shortcut = nn.Conv2d(cin, cout, 1)

    def forward(self, x, temb=None):
        h = self.conv1(F.silu(self.norm1(x)))
        if temb is not None:
            h = h + self.time_emb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        if hasattr(self, 'conv_shortcut'):
            x = self.conv_shortcut(x)
        return x + h


class Downsample2D(nn.Module):
    """padding 1 (UNet) or 0 with an asymmetric (0,1,0,1) pad first (VAE encoder)."""

    def __init__(self, c, padding):
        super().__init__()
        self.padding = padding
        self.conv = nn.Conv2d(c, c, 3, stride=2, padding=padding)

    def forward(self, x):
        if self.padding == 0:
            x = F.pad(x, (0, 1, 0, 1))
        return self.conv(x)


class Upsample2D(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode='nearest'))


class Attention(nn.Module):
    """diffusers Attention: to_q/to_k/to_v (+bias for the VAE), to_out.0."""

    def __init__(self, dim, heads, cross_dim=None, bias=False):
        super().__init__()
        self.heads = heads
        self.to_q = nn.Linear(dim, dim, bias=bias)
        self.to_k = nn.Linear(cross_dim or dim, dim, bias=bias)
        self.to_v = nn.Linear(cross_dim or dim, dim, bias=bias)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim)])

    def forward(self, x, ctx=None):
        ctx = x if ctx is None else ctx
        return self.to_out[0](attention(self.to_q(x), self.to_k(ctx), self.to_v(ctx), self.heads))


class GEGLU(nn.Module):
    def __init__(self, dim, inner):
        super().__init__()
        self.proj = nn.Linear(dim, inner * 2)

    def forward(self, x):
        h, gate = self.proj(x).chunk(2, dim=-1)
        return h * F.gelu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.net = nn.ModuleList([GEGLU(dim, dim * 4), nn.Dropout(0.0), nn.Linear(dim * 4, dim)])

    def forward(self, x):
        for m in self.net:
            x = m(x)
        return x


class BasicTransformerBlock(nn.Module):
    def __init__(self, dim, heads, cross_dim):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn1 = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.attn2 = Attention(dim, heads, cross_dim)
        self.norm3 = nn.LayerNorm(dim)
        self.ff = FeedForward(dim)

    def forward(self, x, ctx):
        x = x + self.attn1(self.norm1(x))
        x = x + self.attn2(self.norm2(x), ctx)
        return x + self.ff(self.norm3(x))


class Transformer2DModel(nn.Module):
    """SD 1.x spatial transformer: GroupNorm, 1x1-conv proj_in/proj_out (use_linear_projection false)."""

    def __init__(self, c, heads, cross_dim, groups):
        super().__init__()
        self.norm = nn.GroupNorm(groups, c, eps=1e-6)
        self.proj_in = nn.Conv2d(c, c, 1)
        self.transformer_blocks = nn.ModuleList([BasicTransformerBlock(c, heads, cross_dim)])
        self.proj_out = nn.Conv2d(c, c, 1)

    def forward(self, x, ctx):
        b, c, h, w = x.shape
        t = self.proj_in(self.norm(x)).permute(0, 2, 3, 1).reshape(b, h * w, c)
        for blk in self.transformer_blocks:
            t = blk(t, ctx)
        return self.proj_out(t.reshape(b, h, w, c).permute(0, 3, 1, 2)) + x


# ---------------------------------------------------------------- UNet2DConditionModel

class _Block(nn.Module):
    """A down/up block: resnets, optional attentions, optional down/upsamplers (diffusers layout)."""

    def __init__(self, resnets, attentions=None, downsamplers=None, upsamplers=None):
        super().__init__()
        self.resnets = nn.ModuleList(resnets)
        if attentions:
            self.attentions = nn.ModuleList(attentions)
        if downsamplers:
            self.downsamplers = nn.ModuleList(downsamplers)
        if upsamplers:
            self.upsamplers = nn.ModuleList(upsamplers)


class _TimeEmbedding(nn.Module):
    def __init__(self, c, d):
        super().__init__()
        self.linear_1, self.linear_2 = nn.Linear(c, d), nn.Linear(d, d)

    def forward(self, x):
        return self.linear_2(F.silu(self.linear_1(x)))


def timestep_embedding(t, dim):
    """diffusers Timesteps(dim, flip_sin_to_cos=True, freq_shift=0)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class UNet2DConditionModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.config = cfg
        ch = cfg['block_out_channels']
        L, G, eps = cfg['layers_per_block'], cfg['norm_num_groups'], cfg['norm_eps']
        heads, xdim = cfg['attention_head_dim'], cfg['cross_attention_dim']
        temb = ch[0] * 4
        self.conv_in = nn.Conv2d(cfg['in_channels'], ch[0], 3, padding=1)
        self.time_embedding = _TimeEmbedding(ch[0], temb)
        down = []
        for i, kind in enumerate(cfg['down_block_types']):
            cin = ch[0] if i == 0 else ch[i - 1]
            cout, last = ch[i], i == len(ch) - 1
            res = [ResnetBlock2D(cin if j == 0 else cout, cout, G, eps, temb) for j in range(L)]
            att = [Transformer2DModel(cout, heads, xdim, G) for _ in range(L)] if kind == 'CrossAttnDownBlock2D' else None
            down.append(_Block(res, att, downsamplers=None if last else [Downsample2D(cout, 1)]))
        self.down_blocks = nn.ModuleList(down)
        self.mid_block = _Block([ResnetBlock2D(ch[-1], ch[-1], G, eps, temb) for _ in range(2)],
                                [Transformer2DModel(ch[-1], heads, xdim, G)])
        rev = list(reversed(ch))
        up = []
        for i, kind in enumerate(cfg['up_block_types']):
            prev, cout = rev[max(i - 1, 0)], rev[i]
            cin = rev[min(i + 1, len(ch) - 1)]
            res = []
            for j in range(L + 1):
                skip = cin if j == L else cout
                res.append(ResnetBlock2D((prev if j == 0 else cout) + skip, cout, G, eps, temb))
            att = [Transformer2DModel(cout, heads, xdim, G) for _ in range(L + 1)] if kind == 'CrossAttnUpBlock2D' else None
            last = i == len(ch) - 1
            up.append(_Block(res, att, upsamplers=None if last else [Upsample2D(cout)]))
        self.up_blocks = nn.ModuleList(up)
        self.conv_norm_out = nn.GroupNorm(G, ch[0], eps=eps)
        self.conv_out = nn.Conv2d(ch[0], cfg['out_channels'], 3, padding=1)

    def forward(self, x, t, ctx):
        if t.ndim == 0:
            t = t.expand(x.shape[0])
        emb = self.time_embedding(timestep_embedding(t, self.config['block_out_channels'][0]).to(x.dtype))
        h = self.conv_in(x)
        skips = [h]
        for blk in self.down_blocks:
            for j, res in enumerate(blk.resnets):
                h = res(h, emb)
                if hasattr(blk, 'attentions'):
                    h = blk.attentions[j](h, ctx)
                skips.append(h)
            if hasattr(blk, 'downsamplers'):
                h = blk.downsamplers[0](h)
                skips.append(h)
        m = self.mid_block
        h = m.attentions[0](m.resnets[0](h, emb), ctx)
        h = m.resnets[1](h, emb)
        for blk in self.up_blocks:
            for j, res in enumerate(blk.resnets):
                h = res(torch.cat([h, skips.pop()], dim=1), emb)
                if hasattr(blk, 'attentions'):
                    h = blk.attentions[j](h, ctx)
            if hasattr(blk, 'upsamplers'):
                h = blk.upsamplers[0](h)
        return self.conv_out(F.silu(self.conv_norm_out(h)))


# ---------------------------------------------------------------- AutoencoderKL

class VAEMidBlock(nn.Module):
    def __init__(self, c, groups):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(c, c, groups, 1e-6) for _ in range(2)])
        self.attentions = nn.ModuleList([VAEAttention(c, groups)])

    def forward(self, x):
        return self.resnets[1](self.attentions[0](self.resnets[0](x)))


class VAEAttention(Attention):
    """Single-head self-attention with its own GroupNorm and a residual connection."""

    def __init__(self, c, groups):
        super().__init__(c, 1, bias=True)
        self.group_norm = nn.GroupNorm(groups, c, eps=1e-6)

    def forward(self, x):
        b, c, h, w = x.shape
        t = self.group_norm(x).reshape(b, c, h * w).transpose(1, 2)
        t = super().forward(t)
        return t.transpose(1, 2).reshape(b, c, h, w) + x


class Encoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        ch, L, G = cfg['block_out_channels'], cfg['layers_per_block'], cfg['norm_num_groups']
        self.conv_in = nn.Conv2d(cfg['in_channels'], ch[0], 3, padding=1)
        blocks = []
        for i in range(len(ch)):
            cin = ch[0] if i == 0 else ch[i - 1]
            res = [ResnetBlock2D(cin if j == 0 else ch[i], ch[i], G, 1e-6) for j in range(L)]
            blocks.append(_Block(res, downsamplers=None if i == len(ch) - 1 else [Downsample2D(ch[i], 0)]))
        self.down_blocks = nn.ModuleList(blocks)
        self.mid_block = VAEMidBlock(ch[-1], G)
        self.conv_norm_out = nn.GroupNorm(G, ch[-1], eps=1e-6)
        self.conv_out = nn.Conv2d(ch[-1], 2 * cfg['latent_channels'], 3, padding=1)

    def forward(self, x):
        h = self.conv_in(x)
        for blk in self.down_blocks:
            for res in blk.resnets:
                h = res(h)
            if hasattr(blk, 'downsamplers'):
                h = blk.downsamplers[0](h)
        h = self.mid_block(h)
        return self.conv_out(F.silu(self.conv_norm_out(h)))


class Decoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        ch, L, G = cfg['block_out_channels'], cfg['layers_per_block'], cfg['norm_num_groups']
        rev = list(reversed(ch))
        self.conv_in = nn.Conv2d(cfg['latent_channels'], rev[0], 3, padding=1)
        self.mid_block = VAEMidBlock(rev[0], G)
        blocks = []
        for i in range(len(ch)):
            prev = rev[max(i - 1, 0)]
            res = [ResnetBlock2D(prev if j == 0 else rev[i], rev[i], G, 1e-6) for j in range(L + 1)]
            blocks.append(_Block(res, upsamplers=None if i == len(ch) - 1 else [Upsample2D(rev[i])]))
        self.up_blocks = nn.ModuleList(blocks)
        self.conv_norm_out = nn.GroupNorm(G, ch[0], eps=1e-6)
        self.conv_out = nn.Conv2d(ch[0], cfg['out_channels'], 3, padding=1)

    def forward(self, z):
        h = self.mid_block(self.conv_in(z))
        for blk in self.up_blocks:
            for res in blk.resnets:
                h = res(h)
            if hasattr(blk, 'upsamplers'):
                h = blk.upsamplers[0](h)
        return self.conv_out(F.silu(self.conv_norm_out(h)))


class AutoencoderKL(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.config = cfg
        lc = cfg['latent_channels']
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        self.quant_conv = nn.Conv2d(2 * lc, 2 * lc, 1)
        self.post_quant_conv = nn.Conv2d(lc, lc, 1)

    def encode(self, x):
        """-> posterior mean, logvar (clamped to [-30, 20] as diffusers does)."""
        mean, logvar = self.quant_conv(self.encoder(x)).chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def decode(self, z):
        return self.decoder(self.post_quant_conv(z))
