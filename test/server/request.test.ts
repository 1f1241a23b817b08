/**
 * A1111 request bodies → checked jobs, without a GPU: defaults, sampler names, every bad field refused as a 422
 * naming the A1111 field with the library's own ParameterError text, unsupported A1111 features refused, init images
 * decoded; and the worker-side check of raw job data.
 */
import { describe, expect, it } from 'vitest';
import { ParameterError } from '@sd-webgpu/tensor';
import { resolveOptions, resolveStrength } from '@sd-webgpu/pipeline';
import { JobDataError, RequestError, parseA1111Request, validateJob } from '@sd-webgpu/server';
import { encodePng } from '../helpers/image';

const seven = () => 7;

function refused(mode: 'txt2img' | 'img2img', body: unknown): RequestError {
  try {
    parseA1111Request(mode, body, seven);
  } catch (e) {
    expect(e).toBeInstanceOf(RequestError);
    return e as RequestError;
  }
  throw new Error(`accepted ${JSON.stringify(body).slice(0, 200)}`);
}

function libraryMessage(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ParameterError);
    return (e as Error).message;
  }
  throw new Error('the library accepted it');
}

function png(width: number, height: number): string {
  const data = new Uint8Array(width * height * 4).map((_, i) => (i % 4 === 3 ? 255 : (i * 37) % 256));
  return Buffer.from(encodePng({ width, height, data })).toString('base64');
}

describe('parseA1111Request', () => {
  it('fills the defaults and draws the seed when it is -1 or absent', () => {
    expect(parseA1111Request('txt2img', { prompt: 'a cat' }, seven).spec).toEqual({
      mode: 'txt2img', prompt: 'a cat', negativePrompt: '', steps: 25, guidanceScale: 7.5, seed: 7, scheduler: 'pndm',
      width: 512, height: 512, numImages: 1,
    });
    expect(parseA1111Request('txt2img', { seed: -1 }, seven).spec.seed).toBe(7);
    expect(parseA1111Request('txt2img', { seed: 123 }, seven).spec.seed).toBe(123);
    const random = parseA1111Request('txt2img', {}).spec.seed;
    expect(Number.isInteger(random) && random >= 0 && random < 2 ** 32).toBe(true);
  });

  it('maps A1111 sampler names (and the separate Karras schedule) to schedulers', () => {
    const s = (b: object) => parseA1111Request('txt2img', b, seven).spec.scheduler;
    expect(s({ sampler_name: 'Euler a' })).toBe('euler_a');
    expect(s({ sampler_name: 'euler' })).toBe('euler');
    expect(s({ sampler_name: 'DDIM' })).toBe('ddim');
    expect(s({ sampler_name: 'LMS' })).toBe('lms');
    expect(s({ sampler_name: 'DPM++ 2M Karras' })).toBe('dpmpp_2m_karras');
    expect(s({ sampler_name: 'DPM++ 2M', scheduler: 'Karras' })).toBe('dpmpp_2m_karras');
    expect(s({ sampler_name: 'DPM++ 2M', scheduler: 'Automatic' })).toBe('dpmpp_2m');
    expect(s({ sampler_index: 'Euler a' })).toBe('euler_a');
    const e = refused('txt2img', { sampler_name: 'Heun' });
    expect([e.status, e.field]).toEqual([422, 'sampler_name']);
    expect(e.message).toContain('Euler a');
  });

  it('refuses each bad field as a 422 naming the A1111 field, with the library rule', () => {
    const base = { prompt: 'x', width: 64, height: 64 };
    const lib = (o: object) => libraryMessage(() => resolveOptions({ prompt: 'x', seed: 1, ...o } as never, { width: 64, height: 64 }));
    const cases: Array<[object, string, string]> = [
      [{ steps: 0 }, 'steps', lib({ steps: 0 })],
      [{ steps: 'abc' }, 'steps', lib({ steps: 'abc' })],
      [{ steps: 2.5 }, 'steps', lib({ steps: 2.5 })],
      [{ cfg_scale: -1 }, 'cfg_scale', lib({ guidanceScale: -1 })],
      [{ width: 100 }, 'width', lib({ width: 100 })],
      [{ height: 4096 }, 'height', lib({ height: 4096 })],
      [{ batch_size: 17 }, 'batch_size', lib({ numImages: 17 })],
      [{ seed: -2 }, 'seed', lib({ seed: -2 })],
      [{ seed: 1.5 }, 'seed', lib({ seed: 1.5 })],
      [{ prompt: 5 }, 'prompt', lib({ prompt: 5 })],
      [{ negative_prompt: ['no'] }, 'negative_prompt', lib({ negativePrompt: ['no'] })],
    ];
    for (const [body, field, message] of cases) {
      const e = refused('txt2img', { ...base, ...body });
      expect([e.status, e.field], JSON.stringify(body)).toEqual([422, field]);
      expect(e.message).toContain(message);
    }
    expect(refused('txt2img', [1, 2]).field).toBeNull();
    expect(refused('txt2img', 'text').status).toBe(422);
  });

  it('refuses A1111 features it does not implement unless they are at their neutral value', () => {
    expect(() => parseA1111Request('txt2img', { n_iter: 1, enable_hr: false, restore_faces: false, tiling: false, subseed_strength: 0, script_name: null, alwayson_scripts: {}, override_settings: {}, styles: [] }, seven)).not.toThrow();
    for (const [body, field] of [[{ n_iter: 2 }, 'n_iter'], [{ enable_hr: true }, 'enable_hr'], [{ subseed_strength: 0.5 }, 'subseed_strength'], [{ mask: 'abc' }, 'mask'], [{ script_name: 'x/y/z plot' }, 'script_name'], [{ alwayson_scripts: { controlnet: {} } }, 'alwayson_scripts']] as const) {
      const e = refused('img2img', { init_images: [png(64, 64)], ...body });
      expect([e.status, e.field]).toEqual([422, field]);
    }
  });

  it('decodes the init image: its size (rounded down to 8) is the default, strength is checked like the library', () => {
    const job = parseA1111Request('img2img', { prompt: 'x', init_images: [png(72, 66)], steps: 4 }, seven);
    expect(job.spec).toMatchObject({ mode: 'img2img', width: 72, height: 64, strength: 0.8, steps: 4 });
    expect([job.image!.width, job.image!.height]).toEqual([72, 66]);
    expect(parseA1111Request('img2img', { init_images: [`data:image/png;base64,${png(64, 64)}`], width: 128, height: 64 }, seven).spec).toMatchObject({ width: 128, height: 64 });

    const e1 = refused('img2img', { init_images: [png(64, 64)], denoising_strength: 0 });
    expect([e1.status, e1.field]).toEqual([422, 'denoising_strength']);
    expect(e1.message).toContain(libraryMessage(() => resolveStrength(0, 25)));
    const e2 = refused('img2img', { init_images: [png(64, 64)], denoising_strength: 0.1, steps: 5 });
    expect(e2.message).toContain(libraryMessage(() => resolveStrength(0.1, 5)));
    for (const images of [undefined, [], [png(64, 64), png(64, 64)], ['%%%'], [Buffer.from('GIF89a....').toString('base64')], [42]]) {
      const e = refused('img2img', { init_images: images });
      expect([e.status, e.field], JSON.stringify(images)).toEqual([422, 'init_images']);
    }
    expect(refused('img2img', { init_images: [Buffer.from('GIF89a....').toString('base64')] }).message).toContain('GIF');
  });
});

describe('validateJob (worker side)', () => {
  const good = { mode: 'txt2img', prompt: 'x', negativePrompt: '', steps: 2, guidanceScale: 7.5, seed: 3, scheduler: 'ddim', width: 64, height: 64, numImages: 1 };

  it('accepts a complete job and names the field of a bad one', () => {
    expect(validateJob(good).spec).toEqual(good);
    const bad = (d: unknown) => {
      try {
        validateJob(d);
      } catch (e) {
        expect(e).toBeInstanceOf(JobDataError);
        return (e as JobDataError).field;
      }
      throw new Error('accepted');
    };
    expect(bad(null)).toBe('(job)');
    expect(bad({ ...good, mode: 'upscale' })).toBe('mode');
    expect(bad({ ...good, seed: undefined })).toBe('seed');
    expect(bad({ ...good, seed: '3' })).toBe('seed');
    expect(bad({ ...good, steps: 'abc' })).toBe('steps');
    expect(bad({ ...good, scheduler: 'heun' })).toBe('scheduler');
    expect(bad({ ...good, extra: 1 })).toBe('extra');
    expect(bad({ ...good, mode: 'img2img', strength: 0.5 })).toBe('initImage');
    expect(bad({ ...good, mode: 'img2img', strength: 0.5, initImage: 'bm90IGFuIGltYWdl' })).toBe('initImage');
  });
});
