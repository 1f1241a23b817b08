/**
 * The full SD 1.5 VAE config (KL-f8, 128/256/512/512 channels) from random weights: structure (parameter count, the
 * keys and shapes the modules ask for) and one decode of an 8x8 latent to a 64x64 image on the real device limits,
 * plus an encode of that size back. Slow on a CPU WebGPU: one pass each.
 */
import { describe, expect, it } from 'vitest';
import { bucketSize } from '@sd-webgpu/tensor';
import { sd15 } from '../../../packages/models/src/configs';
import { AutoencoderKL } from '../../../packages/models/src/vae/vae';
import { RandomStore } from '../../../packages/models/src/weights/random';
import { rootScope } from '../../../packages/models/src/weights/scope';
import { testDevice } from '../../helpers/device';

/** diffusers: `sum(p.numel() for p in AutoencoderKL.from_config(sd15_vae_config).parameters())`. */
const SD15_VAE_PARAMETERS = 83_653_863;

/** Deterministic values in [-1, 1) (LCG), for inputs whose exact values do not matter. */
function uniform(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 31) - 1);
}

const MiB = 2 ** 20;

describe('SD 1.5 VAE from random weights', () => {
  it('has 83,653,863 parameters in the diffusers layout', { timeout: 10 * 60_000 }, async () => {
    const dev = await testDevice();
    const store = new RandomStore(dev, 7, 'f32');
    const vae = new AutoencoderKL(rootScope(store), sd15().vae);
    expect(vae.parameterCount()).toBe(SD15_VAE_PARAMETERS);
    expect(store.parameterCount).toBe(SD15_VAE_PARAMETERS);
    expect(vae.downscale).toBe(8);
    // Keys and shapes that pin the layout (diffusers names, SD 1.5 sizes).
    const shapes = store.takenShapes();
    expect(shapes.get('encoder.conv_in.weight')).toEqual([128, 3, 3, 3]);
    expect(shapes.get('encoder.down_blocks.1.resnets.0.conv_shortcut.weight')).toEqual([256, 128, 1, 1]);
    expect(shapes.get('encoder.down_blocks.2.downsamplers.0.conv.weight')).toEqual([512, 512, 3, 3]);
    expect(shapes.has('encoder.down_blocks.3.downsamplers.0.conv.weight')).toBe(false);
    expect(shapes.get('encoder.mid_block.attentions.0.group_norm.weight')).toEqual([512]);
    expect(shapes.get('encoder.mid_block.attentions.0.to_q.bias')).toEqual([512]);
    expect(shapes.get('encoder.conv_out.weight')).toEqual([8, 512, 3, 3]);
    expect(shapes.get('quant_conv.weight')).toEqual([8, 8, 1, 1]);
    expect(shapes.get('post_quant_conv.weight')).toEqual([4, 4, 1, 1]);
    expect(shapes.get('decoder.conv_in.weight')).toEqual([512, 4, 3, 3]);
    expect(shapes.get('decoder.mid_block.attentions.0.to_out.0.weight')).toEqual([512, 512]);
    // up_blocks.0 is the deepest: 512 channels, three resnets, an upsampler; up_blocks.3 the 128-channel output level.
    expect(shapes.get('decoder.up_blocks.0.resnets.2.conv2.weight')).toEqual([512, 512, 3, 3]);
    expect(shapes.has('decoder.up_blocks.0.resnets.3.conv1.weight')).toBe(false);
    expect(shapes.get('decoder.up_blocks.0.upsamplers.0.conv.weight')).toEqual([512, 512, 3, 3]);
    expect(shapes.get('decoder.up_blocks.2.resnets.0.conv_shortcut.weight')).toEqual([256, 512, 1, 1]);
    expect(shapes.get('decoder.up_blocks.3.resnets.0.conv1.weight')).toEqual([128, 256, 3, 3]);
    expect(shapes.has('decoder.up_blocks.3.upsamplers.0.conv.weight')).toBe(false);
    expect(shapes.get('decoder.conv_out.weight')).toEqual([3, 128, 3, 3]);
    vae.dispose();
  });

  it('decodes an 8x8 latent to a 64x64 image and encodes it back on the device limits', { timeout: 30 * 60_000 }, async () => {
    const dev = await testDevice();
    const store = new RandomStore(dev, 7, 'f32');
    const vae = new AutoencoderKL(rootScope(store), sd15().vae);
    const z = dev.tensor(uniform(4 * 8 * 8, 1), [1, 4, 8, 8]);
    await dev.sync();
    dev.pool.resetPeak();
    const liveBefore = dev.pool.stats.liveBytes;

    let t0 = performance.now();
    const image = vae.decode(z);
    const pixels = await image.float32();
    await dev.sync(); // throws any validation error (a binding over the device's limits would be one)
    const decodePeak = dev.pool.stats.peakLiveBytes - liveBefore;
    console.log(`SD 1.5 VAE decode 1x4x8x8 → 64x64 f32: ${((performance.now() - t0) / 1000).toFixed(1)} s, peak activations ${(decodePeak / MiB).toFixed(1)} MiB`);
    expect(image.shape).toEqual([1, 3, 64, 64]);
    expect(pixels.every(Number.isFinite)).toBe(true);
    expect(pixels.some((v) => v !== 0)).toBe(true);
    // The largest activations are [1, 256, 64, 64] f32 (4 MiB, up_blocks.3's input); a resnet holds a few at once.
    expect(decodePeak).toBeLessThan(48 * MiB);
    // Everything the decode made is freed again except its output.
    expect(dev.pool.stats.liveBytes - liveBefore).toBe(bucketSize(image.byteLength));

    dev.pool.resetPeak();
    t0 = performance.now();
    const { mean, logvar, std } = vae.encode(image);
    const m = await mean.float32();
    const s = await std.float32();
    await dev.sync();
    console.log(`SD 1.5 VAE encode 1x3x64x64 f32: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    expect(mean.shape).toEqual([1, 4, 8, 8]);
    expect(m.every(Number.isFinite) && s.every((v) => v > 0 && Number.isFinite(v))).toBe(true);
    const outputs = [mean, logvar, std].reduce((n, t) => n + bucketSize(t.byteLength), 0);
    expect(dev.pool.stats.liveBytes - liveBefore).toBe(bucketSize(image.byteLength) + outputs);
    for (const t of [z, image, mean, logvar, std]) t.dispose();
    vae.dispose();
  });
});
