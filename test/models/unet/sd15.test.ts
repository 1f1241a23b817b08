/**
 * The full SD 1.5 UNet config from random weights: structure (parameter count, every key and shape the modules ask
 * for), and one batch-2 forward at an 8x8 latent on the real device limits. Slow on a CPU WebGPU: one forward only.
 */
import { describe, expect, it } from 'vitest';
import { bucketSize } from '@sd-webgpu/tensor';
import { sd15 } from '../../../packages/models/src/configs';
import { UNet2DConditionModel } from '../../../packages/models/src/unet/unet';
import { RandomStore } from '../../../packages/models/src/weights/random';
import { rootScope } from '../../../packages/models/src/weights/scope';
import { testDevice } from '../../helpers/device';

/** diffusers: `sum(p.numel() for p in UNet2DConditionModel.from_config(sd15_unet_config).parameters())`. */
const SD15_UNET_PARAMETERS = 859_520_964;

/** Deterministic values in [-1, 1) (LCG), for inputs whose exact values do not matter. */
function uniform(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 31) - 1);
}

describe('SD 1.5 UNet from random weights', () => {
  it('has 859,520,964 parameters and runs one batch-2 forward at 8x8', { timeout: 40 * 60_000 }, async () => {
    const dev = await testDevice();
    // f16 halves the weight upload (1.7 GB instead of 3.4 GB) and the bytes every kernel reads.
    const store = new RandomStore(dev, 1234, 'f16');
    const unet = new UNet2DConditionModel(rootScope(store), sd15().unet);
    expect(unet.parameterCount()).toBe(SD15_UNET_PARAMETERS);
    expect(store.parameterCount).toBe(SD15_UNET_PARAMETERS);
    // A few keys and shapes that pin the layout (diffusers names, SD 1.5 sizes).
    const shapes = store.takenShapes();
    expect(shapes.get('conv_in.weight')).toEqual([320, 4, 3, 3]);
    expect(shapes.get('time_embedding.linear_1.weight')).toEqual([1280, 320]);
    expect(shapes.get('down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight')).toEqual([320, 768]);
    expect(shapes.get('down_blocks.2.attentions.1.transformer_blocks.0.ff.net.0.proj.weight')).toEqual([10240, 1280]);
    expect(shapes.get('mid_block.attentions.0.proj_in.weight')).toEqual([1280, 1280, 1, 1]);
    expect(shapes.get('up_blocks.0.resnets.0.conv1.weight')).toEqual([1280, 2560, 3, 3]);
    expect(shapes.get('up_blocks.1.resnets.2.conv_shortcut.weight')).toEqual([1280, 1920, 1, 1]);
    expect(shapes.get('up_blocks.3.resnets.0.conv1.weight')).toEqual([320, 960, 3, 3]);
    expect(shapes.get('up_blocks.2.upsamplers.0.conv.weight')).toEqual([640, 640, 3, 3]);
    expect(shapes.has('up_blocks.3.upsamplers.0.conv.weight')).toBe(false);
    expect(shapes.get('conv_out.weight')).toEqual([4, 320, 3, 3]);

    const dtype = unet.dtype;
    const sample = dev.tensor(uniform(2 * 4 * 8 * 8, 1), [2, 4, 8, 8], dtype);
    const context = dev.tensor(uniform(2 * 77 * 768, 2), [2, 77, 768], dtype);
    await dev.sync();
    dev.pool.resetPeak();
    const liveBefore = dev.pool.stats.liveBytes;
    const t0 = performance.now();
    const out = unet.forward(sample, 981, context);
    const y = await out.float32();
    await dev.sync(); // throws any validation error (a binding over the device's limits would be one)
    const ms = performance.now() - t0;
    const peak = dev.pool.stats.peakLiveBytes - liveBefore;
    console.log(`SD 1.5 UNet ${dtype} 2x4x8x8: ${(ms / 1000).toFixed(1)} s, peak activations ${(peak / 2 ** 20).toFixed(1)} MiB`);

    expect(out.shape).toEqual([2, 4, 8, 8]);
    expect(y.every(Number.isFinite)).toBe(true);
    expect(y.some((v) => v !== 0)).toBe(true);
    // Activations at 8x8 are small next to the weights: the largest are the 1280-channel GEGLU hidden states.
    expect(peak).toBeLessThan(256 * 2 ** 20);
    // Everything the forward made is freed again except its output.
    expect(dev.pool.stats.liveBytes - liveBefore).toBe(bucketSize(out.byteLength));
    for (const t of [sample, context, out]) t.dispose();
    unet.dispose();
  });
});
