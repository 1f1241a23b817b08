import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmod, cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Device } from '@sd-webgpu/tensor';
import { type DiffusersCheckpoint, openCheckpoint } from '../../../packages/models/src/checkpoint';
import { openSafetensors, serializeSafetensors, type TensorToWrite } from '../../../packages/models/src/safetensors';
import {
  MissingComponentError,
  MissingWeightError,
  NotSafetensorsError,
  UnsupportedModelError,
  UnusedWeightsError,
  WeightShapeError,
} from '../../../packages/models/src/weights/errors';
import { WeightScope } from '../../../packages/models/src/weights/scope';
import { fixturePath } from '../../helpers/fixtures';
import { testDevice } from '../../helpers/device';

const FOLDER = fixturePath('models/tiny-sd');
const SINGLE = fixturePath('models/tiny-sd-v1-original.safetensors');

let device: Device;
let tmp: string;

beforeAll(async () => {
  device = await testDevice();
  tmp = await mkdtemp(join(tmpdir(), 'sd-loading-'));
});

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** Catches what `fn` throws (fails the test when it does not throw). */
async function caught(fn: () => unknown): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

const f16 = (shape: number[]): TensorToWrite => ({ dtype: 'F16', shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });

/** A minimal SD-1.x-shaped single file plus `extra` tensors. */
async function syntheticSingle(name: string, extra: Record<string, TensorToWrite>, drop: string[] = []): Promise<string> {
  const base: Record<string, TensorToWrite> = {
    'model.diffusion_model.input_blocks.0.0.weight': f16([32, 4, 3, 3]),
    'model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight': f16([32, 768]),
    'first_stage_model.encoder.conv_in.weight': f16([32, 3, 3, 3]),
    'cond_stage_model.transformer.text_model.embeddings.token_embedding.weight': f16([16, 8]),
  };
  for (const k of drop) delete base[k];
  const path = join(tmp, name);
  await writeFile(path, serializeSafetensors({ ...base, ...extra }));
  return path;
}

/** A copy of the tiny folder whose files can be edited. */
async function folderCopy(name: string): Promise<string> {
  const dir = join(tmp, name);
  await cp(FOLDER, dir, { recursive: true });
  await chmod(dir, 0o755);
  for (const sub of ['unet', 'vae', 'text_encoder', 'tokenizer', 'scheduler']) await chmod(join(dir, sub), 0o755);
  return dir;
}

async function rewrite(path: string, content: string | Uint8Array): Promise<void> {
  await rm(path, { force: true });
  await writeFile(path, content);
}

describe('weight lookups', () => {
  it('names the full key, both shapes and the file on a shape mismatch', async () => {
    const ckpt = await openCheckpoint(FOLDER);
    const store = await ckpt.loadComponent('unet', device, 'f32');
    const scope = new WeightScope(store).pp('down_blocks').pp(1).pp('resnets').pp(0).pp('conv1');
    const e = await caught(() => scope.get('weight', [64, 32, 1, 1]));
    expect(e).toBeInstanceOf(WeightShapeError);
    const w = e as WeightShapeError;
    expect(w.key).toBe('down_blocks.1.resnets.0.conv1.weight');
    expect(w.expected).toEqual([64, 32, 1, 1]);
    expect(w.got).toEqual([64, 32, 3, 3]);
    expect(w.message).toContain("'down_blocks.1.resnets.0.conv1.weight'");
    expect(w.message).toContain('[64,32,3,3]');
    expect(w.message).toContain('[64,32,1,1]');
    expect(w.message).toContain('unet/diffusion_pytorch_model.safetensors');
    store.dispose();
  });

  it('names the original file key for single-file checkpoints', async () => {
    const ckpt = await openCheckpoint(SINGLE);
    const store = await ckpt.loadComponent('vae', device, 'f32');
    const e = await caught(() => new WeightScope(store).pp('decoder.mid_block.attentions.0').get('to_q.weight', [64, 64, 1, 1]));
    expect(e).toBeInstanceOf(WeightShapeError);
    expect(e.message).toContain("file key 'first_stage_model.decoder.mid.attn_1.q.weight'");
    store.dispose();
    await ckpt.close();
  });

  it('reports a missing key with its full dotted name and the nearest stored keys', async () => {
    const ckpt = await openCheckpoint(FOLDER);
    const store = await ckpt.loadComponent('text_encoder', device, 'f32');
    const scope = new WeightScope(store).pp('text_model').pp('encoder').pp('layers').pp(7);
    expect(scope.has('layer_norm1.weight')).toBe(false);
    expect(new WeightScope(store).pp('text_model.encoder.layers.2').has('layer_norm1.weight')).toBe(true);
    const e = await caught(() => scope.pp('layer_norm1').get('weight', [64]));
    expect(e).toBeInstanceOf(MissingWeightError);
    expect((e as MissingWeightError).key).toBe('text_model.encoder.layers.7.layer_norm1.weight');
    expect(e.message).toContain('text_encoder/model.safetensors');
    expect(e.message).toContain("keys under 'text_model.encoder.layers.'");
    store.dispose();
  });

  it('lists every unused key at finish()', async () => {
    const ckpt = await openCheckpoint(FOLDER);
    const store = await ckpt.loadComponent('text_encoder', device, 'f32');
    const skipped = ['text_model.final_layer_norm.weight', 'text_model.final_layer_norm.bias'];
    for (const k of store.keys()) if (!skipped.includes(k)) store.take(k, store.shapeOf(k)!).dispose();
    expect(store.unusedKeys().sort()).toEqual([...skipped].sort());
    const e = await caught(() => store.finish());
    expect(e).toBeInstanceOf(UnusedWeightsError);
    expect([...(e as UnusedWeightsError).keys].sort()).toEqual([...skipped].sort());
    expect(e.message).toContain('2 weight(s)');
    // position_ids is in the file but on the allow-list.
    expect(store.has('text_model.embeddings.position_ids')).toBe(false);
    store.dispose();

    const single = await openCheckpoint(SINGLE);
    const vae = await single.loadComponent('vae', device, 'f32');
    for (const k of vae.keys()) if (k !== 'quant_conv.bias') vae.take(k, vae.shapeOf(k)!).dispose();
    const e2 = await caught(() => vae.finish());
    expect((e2 as UnusedWeightsError).keys).toEqual(['quant_conv.bias']);
    expect(e2.message).toContain("'quant_conv.bias' (file key 'first_stage_model.quant_conv.bias')");
    vae.dispose();
    await single.close();
  });
});

describe('checkpoint accounting', () => {
  it('rejects single-file keys outside every component unless strict is off, and reports unmappable component keys', async () => {
    const src = await openSafetensors(SINGLE);
    const tensors: Record<string, TensorToWrite> = {};
    for (const info of src.entries.values()) {
      tensors[info.name] = { dtype: info.dtype, shape: info.shape, data: await src.readRaw(info.name) };
    }
    await src.close();
    tensors['stray_tensor'] = f16([3]);
    tensors['model.diffusion_model.mystery.weight'] = f16([2]);
    tensors['betas'] = { dtype: 'F32', shape: [1000], data: new Float32Array(1000) };
    tensors['model_ema.num_updates'] = { dtype: 'I32', shape: [], data: new Int32Array(1) };
    const path = join(tmp, 'extra.safetensors');
    await writeFile(path, serializeSafetensors(tensors));

    const e = await caught(() => openCheckpoint(path));
    expect(e).toBeInstanceOf(UnusedWeightsError);
    expect((e as UnusedWeightsError).keys).toEqual(['stray_tensor']);

    const ckpt = await openCheckpoint(path, { strict: false });
    const store = await ckpt.loadComponent('unet', device, 'f32');
    for (const k of store.keys()) store.take(k, store.shapeOf(k)!).dispose();
    expect(store.unusedKeys()).toEqual(['model.diffusion_model.mystery.weight']);
    expect(() => store.finish()).toThrow(UnusedWeightsError);
    await ckpt.close();
  });
});

describe('unsupported models', () => {
  const cases: [string, Record<string, TensorToWrite>, string, string, string[]?][] = [
    ['sd2-openclip', { 'cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight': f16([3, 1]) }, 'cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight', 'Stable Diffusion 2.x'],
    ['sd2-context', { 'model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight': f16([32, 1024]) }, 'model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight', 'Stable Diffusion 2.x'],
    ['sdxl-conditioner', { 'conditioner.embedders.0.transformer.text_model.final_layer_norm.weight': f16([8]) }, 'conditioner.embedders.0.transformer.text_model.final_layer_norm.weight', 'SDXL', ['cond_stage_model.transformer.text_model.embeddings.token_embedding.weight']],
    ['sdxl-label-emb', { 'model.diffusion_model.label_emb.0.0.weight': f16([8, 4]) }, 'model.diffusion_model.label_emb.0.0.weight', 'SDXL'],
  ];
  for (const [name, extra, key, family, drop] of cases) {
    it(`detects ${name} from '${key}'`, async () => {
      const path = await syntheticSingle(`${name}.safetensors`, extra, drop);
      const e = await caught(() => openCheckpoint(path));
      expect(e).toBeInstanceOf(UnsupportedModelError);
      const u = e as UnsupportedModelError;
      expect(u.key).toBe(key);
      expect(u.family).toBe(family);
      expect(u.file).toBe(path);
      expect(u.message).toContain(path);
      expect(u.message).toContain(key);
    });
  }

  it('detects SD 2.x and SDXL diffusers folders from their configs', async () => {
    const sd2 = await folderCopy('sd2');
    const unetCfg = JSON.parse(await (await import('node:fs/promises')).readFile(join(sd2, 'unet/config.json'), 'utf8'));
    await rewrite(join(sd2, 'unet/config.json'), JSON.stringify({ ...unetCfg, cross_attention_dim: 1024 }));
    const e = await caught(() => openCheckpoint(sd2));
    expect(e).toBeInstanceOf(UnsupportedModelError);
    expect((e as UnsupportedModelError).key).toBe('cross_attention_dim');
    expect((e as UnsupportedModelError).file).toBe(join(sd2, 'unet/config.json'));

    const xl = await folderCopy('sdxl');
    await rewrite(join(xl, 'model_index.json'), JSON.stringify({ _class_name: 'StableDiffusionXLPipeline', text_encoder_2: ['transformers', 'CLIPTextModelWithProjection'] }));
    const e2 = await caught(() => openCheckpoint(xl));
    expect(e2).toBeInstanceOf(UnsupportedModelError);
    expect((e2 as UnsupportedModelError).family).toBe('SDXL');
    expect((e2 as UnsupportedModelError).key).toBe('text_encoder_2');

    const lcm = await folderCopy('lcm');
    await rewrite(join(lcm, 'unet/config.json'), JSON.stringify({ ...unetCfg, time_cond_proj_dim: 256 }));
    const e3 = await caught(() => openCheckpoint(lcm));
    expect(e3).toBeInstanceOf(UnsupportedModelError);
    expect((e3 as UnsupportedModelError).key).toBe('time_cond_proj_dim');
  });
});

describe('missing components and non-safetensors files', () => {
  it('names the folder and the missing component', async () => {
    const dir = await folderCopy('no-vae');
    await rm(join(dir, 'vae'), { recursive: true, force: true });
    const e = await caught(() => openCheckpoint(dir));
    expect(e).toBeInstanceOf(MissingComponentError);
    expect((e as MissingComponentError).component).toBe('vae');
    expect((e as MissingComponentError).file).toBe(dir);
    expect(e.message).toContain('vae/config.json');
  });

  it('names a component folder without weights', async () => {
    const dir = await folderCopy('no-unet-weights');
    await rm(join(dir, 'unet/diffusion_pytorch_model.safetensors'));
    const e = await caught(() => openCheckpoint(dir));
    expect(e).toBeInstanceOf(MissingComponentError);
    expect((e as MissingComponentError).component).toBe('unet');
    expect(e.message).toContain('diffusion_pytorch_model.safetensors');
  });

  it('names the component missing from a single file', async () => {
    const path = await syntheticSingle('no-vae.safetensors', {}, ['first_stage_model.encoder.conv_in.weight']);
    const e = await caught(() => openCheckpoint(path));
    expect(e).toBeInstanceOf(MissingComponentError);
    expect((e as MissingComponentError).component).toBe('vae');
    expect(e.message).toContain("'first_stage_model.'");
  });

  it('refuses pickled checkpoints with a typed error', async () => {
    const zip = join(tmp, 'model.ckpt');
    await writeFile(zip, new Uint8Array([0x50, 0x4b, 0x03, 0x04, 0x14, 0, 0, 0, 0, 0, 1, 2, 3]));
    const e = await caught(() => openCheckpoint(zip));
    expect(e).toBeInstanceOf(NotSafetensorsError);
    expect(e.message).toContain(zip);
    expect(e.message).toContain('zip');

    const pickle = join(tmp, 'legacy.pt');
    await writeFile(pickle, new Uint8Array([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20]));
    expect(await caught(() => openCheckpoint(pickle))).toBeInstanceOf(NotSafetensorsError);

    const dir = await folderCopy('bin-unet');
    await rm(join(dir, 'unet/diffusion_pytorch_model.safetensors'));
    await writeFile(join(dir, 'unet/diffusion_pytorch_model.bin'), new Uint8Array([0x50, 0x4b, 0x03, 0x04]));
    const e2 = await caught(() => openCheckpoint(dir));
    expect(e2).toBeInstanceOf(NotSafetensorsError);
    expect(e2.message).toContain('diffusion_pytorch_model.bin');
  });

  it('prefers the fp16 variant only when asked', async () => {
    const dir = await folderCopy('variants');
    await cp(join(dir, 'vae/diffusion_pytorch_model.safetensors'), join(dir, 'vae/diffusion_pytorch_model.fp16.safetensors'));
    const plain = (await openCheckpoint(dir)) as DiffusersCheckpoint;
    const fp16 = (await openCheckpoint(dir, { variant: 'fp16' })) as DiffusersCheckpoint;
    expect(plain.weightsFile('vae')).toBe('vae/diffusion_pytorch_model.safetensors');
    expect(fp16.weightsFile('vae')).toBe('vae/diffusion_pytorch_model.fp16.safetensors');
    expect(fp16.weightsFile('unet')).toBe('unet/diffusion_pytorch_model.safetensors');
    await rm(join(dir, 'vae/diffusion_pytorch_model.safetensors'));
    expect(((await openCheckpoint(dir)) as DiffusersCheckpoint).weightsFile('vae')).toBe(
      'vae/diffusion_pytorch_model.fp16.safetensors',
    );
  });
});
