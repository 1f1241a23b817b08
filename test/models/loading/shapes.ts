/**
 * Expected weight shapes of the SD 1.x networks (diffusers naming, relative to the component), enumerated from the
 * configs the way diffusers' UNet2DConditionModel / AutoencoderKL and HF CLIPTextModel build their parameters.
 * Independent of the loaders under test: it is checked against the tiny model's diffusers files.
 */
import type { ClipTextConfig, UNetConfig, VaeConfig } from '../../../packages/models/src/configs';

type Shapes = Map<string, number[]>;

function conv(out: Shapes, key: string, o: number, i: number, k: number): void {
  out.set(`${key}.weight`, [o, i, k, k]);
  out.set(`${key}.bias`, [o]);
}

function lin(out: Shapes, key: string, o: number, i: number, bias = true): void {
  out.set(`${key}.weight`, [o, i]);
  if (bias) out.set(`${key}.bias`, [o]);
}

function norm(out: Shapes, key: string, c: number): void {
  out.set(`${key}.weight`, [c]);
  out.set(`${key}.bias`, [c]);
}

/** ResnetBlock2D (UNet: with time_emb_proj; VAE: temb = null). */
function resnet(out: Shapes, key: string, inC: number, outC: number, temb: number | null): void {
  norm(out, `${key}.norm1`, inC);
  conv(out, `${key}.conv1`, outC, inC, 3);
  if (temb !== null) lin(out, `${key}.time_emb_proj`, outC, temb);
  norm(out, `${key}.norm2`, outC);
  conv(out, `${key}.conv2`, outC, outC, 3);
  if (inC !== outC) conv(out, `${key}.conv_shortcut`, outC, inC, 1);
}

/** Transformer2DModel with one BasicTransformerBlock, 1x1-conv projections (SD 1.x). */
function transformer(out: Shapes, key: string, c: number, ctx: number): void {
  norm(out, `${key}.norm`, c);
  conv(out, `${key}.proj_in`, c, c, 1);
  const b = `${key}.transformer_blocks.0`;
  for (const n of ['norm1', 'norm2', 'norm3']) norm(out, `${b}.${n}`, c);
  for (const [attn, kv] of [['attn1', c], ['attn2', ctx]] as const) {
    lin(out, `${b}.${attn}.to_q`, c, c, false);
    lin(out, `${b}.${attn}.to_k`, c, kv, false);
    lin(out, `${b}.${attn}.to_v`, c, kv, false);
    lin(out, `${b}.${attn}.to_out.0`, c, c);
  }
  lin(out, `${b}.ff.net.0.proj`, 8 * c, c);
  lin(out, `${b}.ff.net.2`, c, 4 * c);
  conv(out, `${key}.proj_out`, c, c, 1);
}

export function unetShapes(cfg: UNetConfig): Shapes {
  const out: Shapes = new Map();
  const b = cfg.blockOutChannels;
  const n = b.length;
  const L = cfg.layersPerBlock;
  const temb = 4 * b[0]!;
  conv(out, 'conv_in', b[0]!, cfg.inChannels, 3);
  lin(out, 'time_embedding.linear_1', temb, b[0]!);
  lin(out, 'time_embedding.linear_2', temb, temb);
  for (let i = 0; i < n; i++) {
    const cross = cfg.downBlockTypes[i] === 'CrossAttnDownBlock2D';
    for (let j = 0; j < L; j++) {
      const inC = j === 0 ? (i === 0 ? b[0]! : b[i - 1]!) : b[i]!;
      resnet(out, `down_blocks.${i}.resnets.${j}`, inC, b[i]!, temb);
      if (cross) transformer(out, `down_blocks.${i}.attentions.${j}`, b[i]!, cfg.crossAttentionDim);
    }
    if (i < n - 1) conv(out, `down_blocks.${i}.downsamplers.0.conv`, b[i]!, b[i]!, 3);
  }
  const last = b[n - 1]!;
  resnet(out, 'mid_block.resnets.0', last, last, temb);
  transformer(out, 'mid_block.attentions.0', last, cfg.crossAttentionDim);
  resnet(out, 'mid_block.resnets.1', last, last, temb);
  const rev = [...b].reverse();
  let prev = rev[0]!;
  for (let i = 0; i < n; i++) {
    const outC = rev[i]!;
    const inC = rev[Math.min(i + 1, n - 1)]!;
    const cross = cfg.upBlockTypes[i] === 'CrossAttnUpBlock2D';
    for (let j = 0; j <= L; j++) {
      const skip = j === L ? inC : outC;
      const resIn = j === 0 ? prev : outC;
      resnet(out, `up_blocks.${i}.resnets.${j}`, resIn + skip, outC, temb);
      if (cross) transformer(out, `up_blocks.${i}.attentions.${j}`, outC, cfg.crossAttentionDim);
    }
    if (i < n - 1) conv(out, `up_blocks.${i}.upsamplers.0.conv`, outC, outC, 3);
    prev = outC;
  }
  norm(out, 'conv_norm_out', b[0]!);
  conv(out, 'conv_out', cfg.outChannels, b[0]!, 3);
  return out;
}

function vaeMid(out: Shapes, key: string, c: number): void {
  resnet(out, `${key}.resnets.0`, c, c, null);
  norm(out, `${key}.attentions.0.group_norm`, c);
  for (const p of ['to_q', 'to_k', 'to_v', 'to_out.0']) lin(out, `${key}.attentions.0.${p}`, c, c);
  resnet(out, `${key}.resnets.1`, c, c, null);
}

export function vaeShapes(cfg: VaeConfig): Shapes {
  const out: Shapes = new Map();
  const b = cfg.blockOutChannels;
  const n = b.length;
  const L = cfg.layersPerBlock;
  const last = b[n - 1]!;
  const lat = cfg.latentChannels;
  conv(out, 'encoder.conv_in', b[0]!, cfg.inChannels, 3);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < L; j++) {
      const inC = j === 0 ? (i === 0 ? b[0]! : b[i - 1]!) : b[i]!;
      resnet(out, `encoder.down_blocks.${i}.resnets.${j}`, inC, b[i]!, null);
    }
    if (i < n - 1) conv(out, `encoder.down_blocks.${i}.downsamplers.0.conv`, b[i]!, b[i]!, 3);
  }
  vaeMid(out, 'encoder.mid_block', last);
  norm(out, 'encoder.conv_norm_out', last);
  conv(out, 'encoder.conv_out', 2 * lat, last, 3);
  conv(out, 'quant_conv', 2 * lat, 2 * lat, 1);
  conv(out, 'post_quant_conv', lat, lat, 1);
  conv(out, 'decoder.conv_in', last, lat, 3);
  vaeMid(out, 'decoder.mid_block', last);
  const rev = [...b].reverse();
  let prev = rev[0]!;
  for (let i = 0; i < n; i++) {
    const outC = rev[i]!;
    for (let j = 0; j <= L; j++) resnet(out, `decoder.up_blocks.${i}.resnets.${j}`, j === 0 ? prev : outC, outC, null);
    if (i < n - 1) conv(out, `decoder.up_blocks.${i}.upsamplers.0.conv`, outC, outC, 3);
    prev = outC;
  }
  norm(out, 'decoder.conv_norm_out', b[0]!);
  conv(out, 'decoder.conv_out', cfg.outChannels, b[0]!, 3);
  return out;
}

export function clipShapes(cfg: ClipTextConfig): Shapes {
  const out: Shapes = new Map();
  const h = cfg.hiddenSize;
  out.set('text_model.embeddings.token_embedding.weight', [cfg.vocabSize, h]);
  out.set('text_model.embeddings.position_embedding.weight', [cfg.maxPositionEmbeddings, h]);
  for (let i = 0; i < cfg.numHiddenLayers; i++) {
    const l = `text_model.encoder.layers.${i}`;
    for (const p of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) lin(out, `${l}.self_attn.${p}`, h, h);
    norm(out, `${l}.layer_norm1`, h);
    lin(out, `${l}.mlp.fc1`, cfg.intermediateSize, h);
    lin(out, `${l}.mlp.fc2`, h, cfg.intermediateSize);
    norm(out, `${l}.layer_norm2`, h);
  }
  norm(out, 'text_model.final_layer_norm', h);
  return out;
}

export function parameterCount(shapes: Shapes): number {
  let n = 0;
  for (const s of shapes.values()) n += s.reduce((a, d) => a * d, 1);
  return n;
}

/** Sorted "key [shape]" lines, for readable set comparisons. */
export function describeShapes(shapes: ReadonlyMap<string, readonly number[]>): string[] {
  return [...shapes].map(([k, s]) => `${k} [${s.join(',')}]`).sort();
}
