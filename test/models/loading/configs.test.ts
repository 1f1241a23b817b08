import { describe, expect, it } from 'vitest';
import {
  applyOverrides,
  inferClipTextConfig,
  inferUNetConfig,
  inferVaeConfig,
  parseClipTextConfig,
  parseUNetConfig,
  parseVaeConfig,
  sd15,
} from '../../../packages/models/src/configs';
import { ConfigError } from '../../../packages/models/src/weights/errors';
import { readFixtureJson } from '../../helpers/fixtures';
import { clipShapes, parameterCount, unetShapes, vaeShapes } from './shapes';

const tinyJson = async () => ({
  unet: await readFixtureJson('models/tiny-sd/unet/config.json'),
  vae: await readFixtureJson('models/tiny-sd/vae/config.json'),
  text: await readFixtureJson('models/tiny-sd/text_encoder/config.json'),
});

describe('configs', () => {
  it('parses the tiny diffusers configs (attention_head_dim 8 = 8 heads)', async () => {
    const j = await tinyJson();
    expect(parseUNetConfig(j.unet)).toEqual({
      inChannels: 4,
      outChannels: 4,
      blockOutChannels: [32, 64, 64, 64],
      layersPerBlock: 2,
      numAttentionHeads: 8,
      crossAttentionDim: 64,
      normNumGroups: 32,
      normEps: 1e-5,
      downBlockTypes: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
      upBlockTypes: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
      sampleSize: 8,
    });
    expect(parseVaeConfig(j.vae)).toEqual({
      inChannels: 3,
      outChannels: 3,
      blockOutChannels: [32, 64, 64, 64],
      layersPerBlock: 2,
      latentChannels: 4,
      normNumGroups: 32,
      scalingFactor: 0.18215,
      sampleSize: 64,
    });
    expect(parseClipTextConfig(j.text)).toEqual({
      vocabSize: 49408,
      hiddenSize: 64,
      intermediateSize: 256,
      numHiddenLayers: 3,
      numAttentionHeads: 4,
      maxPositionEmbeddings: 77,
      layerNormEps: 1e-5,
      hiddenAct: 'quick_gelu',
    });
  });

  it('prefers num_attention_heads when a config sets it, and accepts a uniform per-block list', async () => {
    const { unet } = await tinyJson();
    expect(parseUNetConfig({ ...unet, num_attention_heads: 4 }).numAttentionHeads).toBe(4);
    expect(parseUNetConfig({ ...unet, attention_head_dim: [8, 8, 8, 8] }).numAttentionHeads).toBe(8);
    expect(() => parseUNetConfig({ ...unet, attention_head_dim: [5, 10, 20, 20] })).toThrow(/attention_head_dim/);
  });

  it('rejects bad fields with the file and field named', async () => {
    const { unet, vae, text } = await tinyJson();
    const e = (() => {
      try {
        parseUNetConfig({ ...unet, block_out_channels: 'wide' }, 'x/unet/config.json');
      } catch (err) {
        return err;
      }
    })();
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as ConfigError).message).toContain("'x/unet/config.json'");
    expect((e as ConfigError).message).toContain('block_out_channels');
    expect(() => parseUNetConfig({ ...unet, down_block_types: ['CrossAttnDownBlock2D', 'SimpleCrossAttnDownBlock2D'] })).toThrow(
      /down_block_types\[1\]/,
    );
    expect(() => parseUNetConfig({ ...unet, up_block_types: ['UpBlock2D'] })).toThrow(/4 entries/);
    expect(() => parseVaeConfig({ ...vae, block_out_channels: [32, 48] })).toThrow(/multiples of the 32 norm groups/);
    expect(() => parseClipTextConfig({ ...text, num_attention_heads: 5 })).toThrow(/must divide hiddenSize 64/);
    expect(() => parseClipTextConfig({ ...text, hidden_act: 'relu' })).toThrow(/hidden_act/);
    expect(() => parseClipTextConfig({ ...text, hidden_size: undefined })).toThrow(/hidden_size/);
  });

  it('bounds every size and float so a config cannot make the loader allocate gigabytes', async () => {
    const { unet, vae, text } = await tinyJson();
    const deep = JSON.parse('['.repeat(1e5) + ']'.repeat(1e5));
    const cases: [() => unknown, RegExp][] = [
      [() => parseClipTextConfig({ ...text, max_position_embeddings: 1e9 }), /'maxPositionEmbeddings' must be an integer in 1\.\.4096, got 1000000000/],
      [() => parseClipTextConfig({ ...text, num_hidden_layers: 1e6 }), /numHiddenLayers/],
      [() => parseClipTextConfig({ ...text, layer_norm_eps: 1e300 }), /'layerNormEps' must be in \(0, 1\]/],
      [() => parseUNetConfig({ ...unet, sample_size: 1e9 }), /sampleSize/],
      [() => parseUNetConfig({ ...unet, block_out_channels: [32, 64, 64, 1 << 20] }), /blockOutChannels.*got \[32,64,64,1048576\]/],
      [() => parseUNetConfig({ ...unet, block_out_channels: Array(9).fill(32) }), /list of 1\.\.8 multiples/],
      [() => parseVaeConfig({ ...vae, scaling_factor: 1e9 }), /'scalingFactor' must be in \(0, 100\]/],
      [() => parseVaeConfig({ ...vae, block_out_channels: deep }), /got \[\[\.\.\.\]\]/], // no stack overflow
      [() => parseUNetConfig({ ...unet, down_block_types: deep }), /down_block_types/],
    ];
    for (const [f, msg] of cases) {
      expect(f).toThrow(ConfigError);
      expect(f).toThrow(msg);
    }
  });

  it('infers configs from shapes (SD 1.x rules for what shapes cannot tell)', async () => {
    const j = await tinyJson();
    const unet = parseUNetConfig(j.unet);
    const vae = parseVaeConfig(j.vae);
    const text = parseClipTextConfig(j.text);
    expect(inferUNetConfig(unetShapes(unet), 'u')).toEqual({ ...unet, sampleSize: 64 });
    expect(inferVaeConfig(vaeShapes(vae), 'v')).toEqual({ ...vae, sampleSize: 512 });
    expect(inferClipTextConfig(clipShapes(text), 't')).toEqual({ ...text, numAttentionHeads: 1 });
    const sd = sd15();
    expect(inferUNetConfig(unetShapes(sd.unet), 'u')).toEqual(sd.unet);
    expect(inferVaeConfig(vaeShapes(sd.vae), 'v')).toEqual(sd.vae);
    expect(inferClipTextConfig(clipShapes(sd.textEncoder), 't')).toEqual(sd.textEncoder);
    const noConvIn = unetShapes(unet);
    noConvIn.delete('conv_in.weight');
    expect(() => inferUNetConfig(noConvIn, 'u.safetensors')).toThrow(/conv_in\.weight.*missing/);
  });

  it('sd15() has the published parameter counts', () => {
    const sd = sd15();
    expect(parameterCount(unetShapes(sd.unet))).toBe(859_520_964);
    expect(parameterCount(vaeShapes(sd.vae))).toBe(83_653_863);
    expect(parameterCount(clipShapes(sd.textEncoder))).toBe(123_060_480);
  });

  it('applies and validates overrides', () => {
    const sd = sd15();
    const o = applyOverrides(sd, { textEncoder: { numAttentionHeads: 4 }, unet: { sampleSize: 96 } }, 'ckpt');
    expect(o.textEncoder.numAttentionHeads).toBe(4);
    expect(o.unet.sampleSize).toBe(96);
    expect(o.vae).toBe(sd.vae);
    expect(() => applyOverrides(sd, { textEncoder: { numAttentionHeads: 7 } }, 'ckpt')).toThrow(/textEncoder override/);
    expect(() => applyOverrides(sd, { unet: { normNumGroups: 0 } }, 'ckpt')).toThrow(/normNumGroups/);
  });
});
