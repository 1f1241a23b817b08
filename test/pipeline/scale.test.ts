/**
 * Pipeline options for scale, on the tiny model: any multiple-of-8 size, prompt truncation reported in the result,
 * automatic and forced VAE tiling, and `lowMemory` (same image, the text encoder and VAE encoder not resident).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ParameterError } from '@sd-webgpu/tensor';
import { moduleTensors } from '@sd-webgpu/models';
import { StableDiffusion, autoVaeTiling } from '@sd-webgpu/pipeline';
import { testDevice } from '../helpers/device';
import { TINY_PATHS } from '../helpers/tiny';

let sd: StableDiffusion;
beforeAll(async () => {
  sd = await StableDiffusion.load(TINY_PATHS.folder, { device: await testDevice() });
});
afterAll(() => sd?.dispose());

const base = { prompt: 'a lighthouse at dusk', seed: 11, scheduler: 'ddim' as const, steps: 2 };

describe('sizes', () => {
  it('generates any multiple of 8, including sides under 64 (80x48, 8x16)', async () => {
    for (const [width, height] of [[80, 48], [8, 16]] as const) {
      const [img] = await sd.txt2img({ ...base, width, height });
      expect([img!.width, img!.height]).toEqual([width, height]);
      expect(img!.data.length).toBe(width * height * 4);
    }
  });

  it('names the nearest valid sizes for a side that is not a multiple of 8', async () => {
    await expect(sd.txt2img({ ...base, width: 81, height: 48 })).rejects.toBeInstanceOf(ParameterError);
    await expect(sd.txt2img({ ...base, width: 81, height: 48 })).rejects.toThrow(/'width' must be a multiple of 8 in 8\.\.2048 \(got 81; nearest valid: 80 or 88\)/);
    await expect(sd.txt2img({ ...base, width: 64, height: 3000 })).rejects.toThrow(/nearest valid: 2048/);
  });
});

describe('prompt truncation', () => {
  it('reports the text past 75 tokens and nothing for short prompts', async () => {
    const words = Array.from({ length: 80 }, (_, i) => `w${i}`); // "w12" is two BPE tokens: well past 75
    const long = words.join(' ');
    const [img] = await sd.txt2img({ ...base, width: 16, height: 16, prompt: long, negativePrompt: 'blurry' });
    const kept = sd.tokenizer.decode(sd.tokenizer.encode(long).slice(0, 75));
    expect(img!.truncated?.prompt).toBeTruthy();
    expect(img!.truncated!.negativePrompt).toBeUndefined();
    // the kept and the dropped parts make up the prompt (decoding spaces out digits: compare without whitespace)
    const bare = (t: string) => t.replace(/\s+/g, '');
    expect(bare(kept) + bare(img!.truncated!.prompt!)).toBe(bare(long));
    expect(bare(img!.truncated!.prompt!).length).toBeGreaterThan(0);
    const [short] = await sd.txt2img({ ...base, width: 16, height: 16 });
    expect(short!.truncated).toBeUndefined();
  });
});

describe('VAE tiling in the pipeline', () => {
  it('tiles by default only above 512 px and one tile, and honours vaeTiling', async () => {
    expect([autoVaeTiling(512, 512, 512), autoVaeTiling(520, 64, 512), autoVaeTiling(128, 80, 64)]).toEqual([false, true, false]);
    expect([autoVaeTiling(768, 768, 1024), autoVaeTiling(1032, 8, 1024)]).toEqual([false, true]);
    const opts = { ...base, width: 128, height: 80, returnLatents: true };
    const [auto] = await sd.txt2img(opts); // beyond one 64 px tile of the tiny VAE, but under 512 px: decoded whole
    const [on] = await sd.txt2img({ ...opts, vaeTiling: true });
    const [off] = await sd.txt2img({ ...opts, vaeTiling: false });
    expect(Array.from(auto!.latents!)).toEqual(Array.from(off!.latents!)); // tiling touches only the decode
    expect(Array.from(auto!.data)).toEqual(Array.from(off!.data));
    expect(Array.from(on!.data)).not.toEqual(Array.from(off!.data));
    // at one tile or less, tiling decodes whole (diffusers' rule)
    const [small] = await sd.txt2img({ ...base, width: 64, height: 64, vaeTiling: true });
    const [whole] = await sd.txt2img({ ...base, width: 64, height: 64, vaeTiling: false });
    expect(Array.from(small!.data)).toEqual(Array.from(whole!.data));
    await expect(sd.txt2img({ ...base, vaeTiling: 'yes' as never })).rejects.toThrow(/'vaeTiling' must be a boolean/);
  });
});

describe('lowMemory', () => {
  it('makes the same images while holding neither the text encoder nor the VAE encoder', async () => {
    const dev = sd.device;
    const low = await StableDiffusion.load(TINY_PATHS.folder, { device: dev, lowMemory: true });
    try {
      expect(low.lowMemory).toBe(true);
      // weights are exact buffers, 256-byte multiples
      const resident = [low.unet, low.vae.decoder, low.vae.post_quant_conv]
        .flatMap((m) => moduleTensors(m)).reduce((n, t) => n + Math.max(256, Math.ceil(t.byteLength / 256) * 256), 0);
      const opts = { ...base, width: 64, height: 64, guidanceScale: 5 };
      const [ref] = await sd.txt2img(opts);
      let live = 0;
      for (let i = 0; i < 2; i++) { // the second call loads the text encoder again
        const [img] = await low.txt2img(opts);
        expect(Array.from(img!.data)).toEqual(Array.from(ref!.data));
        await dev.sync();
        if (i === 0) live = dev.poolStats().liveBytes;
        else expect(dev.poolStats().liveBytes).toBe(live); // nothing left behind: the text encoder was freed again
      }
      expect(() => low.textEncoder).toThrow(/freed by lowMemory/);
      // img2img loads the VAE encoder for its encode only
      const [a] = await sd.img2img({ ...opts, image: ref!, strength: 0.5 });
      const [b] = await low.img2img({ ...opts, image: ref!, strength: 0.5 });
      expect(Array.from(b!.data)).toEqual(Array.from(a!.data));
      low.dispose();
      await dev.sync();
      // what `low` held between generations: exactly the UNet and the VAE decoder
      expect(live - dev.poolStats().liveBytes).toBe(resident);
    } finally {
      low.dispose();
    }
  });
});
