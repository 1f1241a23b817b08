/**
 * Loading TAESD weights: a diffusers `AutoencoderTiny` safetensors file (`encoder.layers.*`, `decoder.layers.*`), with
 * its `config.json` when there is one (without: madebyollin/taesd's layout, channel width read from the weights).
 * Strict accounting as for every model.
 */
import type { Device } from '@sd-webgpu/tensor';
import { type SafetensorsInput, openSafetensors } from '../safetensors/open.js';
import { ConfigError } from '../weights/errors.js';
import { rootScope } from '../weights/scope.js';
import { TensorStore, type WeightDType } from '../weights/store.js';
import { uploadWeights } from '../weights/upload.js';
import { AutoencoderTiny, type TaesdConfig, taesdDefaults } from './taesd.js';

/** `config.json` of an AutoencoderTiny folder → TaesdConfig (unsupported knobs rejected, not ignored). */
export function parseTaesdConfig(json: Record<string, unknown>, file = 'config.json'): TaesdConfig {
  const d = taesdDefaults();
  const ints = (k: string, fallback: number[]): number[] => {
    const v = json[k];
    if (v === undefined) return fallback;
    if (!Array.isArray(v) || !v.every((n) => Number.isInteger(n) && n > 0)) throw new ConfigError(file, k, `must be a list of positive integers, got ${JSON.stringify(v)}`);
    return v as number[];
  };
  const int = (k: string, fallback: number): number => {
    const v = json[k] ?? fallback;
    if (!Number.isInteger(v) || (v as number) < 1) throw new ConfigError(file, k, `must be a positive integer, got ${JSON.stringify(v)}`);
    return v as number;
  };
  if ((json.act_fn ?? 'relu') !== 'relu') throw new ConfigError(file, 'act_fn', `only relu is supported, got ${JSON.stringify(json.act_fn)}`);
  if ((json.upsampling_scaling_factor ?? 2) !== 2) throw new ConfigError(file, 'upsampling_scaling_factor', 'only 2 is supported');
  const sf = json.scaling_factor ?? 1;
  if (typeof sf !== 'number' || !(sf > 0)) throw new ConfigError(file, 'scaling_factor', `must be a positive number, got ${JSON.stringify(sf)}`);
  return {
    inChannels: int('in_channels', d.inChannels),
    outChannels: int('out_channels', d.outChannels),
    latentChannels: int('latent_channels', d.latentChannels),
    encoderBlockOutChannels: ints('encoder_block_out_channels', d.encoderBlockOutChannels),
    decoderBlockOutChannels: ints('decoder_block_out_channels', d.decoderBlockOutChannels),
    numEncoderBlocks: ints('num_encoder_blocks', d.numEncoderBlocks),
    numDecoderBlocks: ints('num_decoder_blocks', d.numDecoderBlocks),
    scalingFactor: sf,
  };
}

/** Uploads and builds a TAESD from its weights file (and parsed config.json, if any). */
export async function loadTaesd(
  weights: SafetensorsInput, device: Device, dtype: WeightDType, config?: Record<string, unknown>, name?: string,
): Promise<AutoencoderTiny> {
  const file = await openSafetensors(weights, { name: name ?? 'taesd' });
  try {
    let cfg: TaesdConfig;
    if (config) cfg = parseTaesdConfig(config);
    else {
      const c = file.entries.get('decoder.layers.0.weight')?.shape[0] ?? 64;
      cfg = { ...taesdDefaults(), encoderBlockOutChannels: [c, c, c, c], decoderBlockOutChannels: [c, c, c, c] };
    }
    const resolved = device.floatType(dtype);
    const items = file.keys().map((k) => ({ key: k, fileKey: k, shape: file.info(k).shape }));
    const store = new TensorStore(file.name, resolved, await uploadWeights(device, file, items, resolved));
    try {
      const model = new AutoencoderTiny(rootScope(store), cfg);
      store.finish();
      return model;
    } catch (e) {
      store.disposeAll();
      throw e;
    }
  } finally {
    await file.close();
  }
}
