import { describe, expect, it } from 'vitest';
import {
  ParametersFormatError, SAMPLER_DISPLAY_NAMES, formatParameters, parseParameters,
} from '../helpers/image';
import { SCHEDULER_NAMES } from '../../packages/pipeline/src/schedulers';

const base = {
  prompt: 'a photograph of an astronaut riding a horse',
  negativePrompt: '',
  steps: 25,
  guidanceScale: 7.5,
  seed: 42,
  scheduler: 'ddim' as const,
  width: 512,
  height: 512,
};

describe('formatParameters', () => {
  it('writes the A1111 layout for txt2img', () => {
    expect(formatParameters(base)).toBe(
      'a photograph of an astronaut riding a horse\nSteps: 25, Sampler: DDIM, CFG scale: 7.5, Seed: 42, Size: 512x512',
    );
  });

  it('adds the negative prompt line and the img2img denoising strength', () => {
    const t = formatParameters({ ...base, negativePrompt: 'blurry, low quality', strength: 0.75, width: 768, height: 64, guidanceScale: 7 });
    expect(t).toBe(
      'a photograph of an astronaut riding a horse\nNegative prompt: blurry, low quality\n' +
        'Steps: 25, Sampler: DDIM, CFG scale: 7, Seed: 42, Size: 768x64, Denoising strength: 0.75',
    );
  });

  it('uses the A1111 sampler names', () => {
    const want = { ddim: 'DDIM', pndm: 'PLMS', euler: 'Euler', euler_a: 'Euler a', dpmpp_2m: 'DPM++ 2M', dpmpp_2m_karras: 'DPM++ 2M Karras', lms: 'LMS', lcm: 'LCM' };
    expect(SAMPLER_DISPLAY_NAMES).toEqual(want);
    for (const s of SCHEDULER_NAMES) expect(formatParameters({ ...base, scheduler: s })).toContain(`Sampler: ${want[s]}, `);
    expect(() => formatParameters({ ...base, scheduler: 'heun' as never })).toThrow(/scheduler' must be one of ddim/);
  });

  it('prints 64-bit seeds exactly', () => {
    expect(formatParameters({ ...base, seed: 2n ** 64n - 1n })).toContain('Seed: 18446744073709551615,');
  });
});

describe('parseParameters', () => {
  it.each([
    ['plain', base],
    ['img2img with negative', { ...base, negativePrompt: 'blurry, low quality', strength: 0.15, scheduler: 'euler_a' as const }],
    ['multi-line prompts with colons and commas', {
      ...base, prompt: 'line one: a cat, a dog\nline two, "quoted"\n  indented', negativePrompt: 'neg: one\nneg two', scheduler: 'dpmpp_2m_karras' as const,
    }],
    ['unicode and an empty prompt', { ...base, prompt: '', negativePrompt: '宇宙 🐎', scheduler: 'lms' as const }],
    ['a 64-bit seed', { ...base, seed: 2n ** 64n - 1n, scheduler: 'pndm' as const, guidanceScale: 0 }],
  ])('round-trips %s', (_label, p) => {
    const r = parseParameters(formatParameters(p));
    expect(r.prompt).toBe(p.prompt);
    expect(r.negativePrompt).toBe(p.negativePrompt);
    expect(r.steps).toBe(p.steps);
    expect(r.guidanceScale).toBe(p.guidanceScale);
    expect(r.seed).toBe(p.seed);
    expect(r.scheduler).toBe(p.scheduler);
    expect([r.width, r.height]).toEqual([p.width, p.height]);
    expect(r.strength).toBe((p as { strength?: number }).strength);
  });

  it('reads real A1111 text with extra and quoted fields', () => {
    const text =
      'masterpiece, 1girl\r\nNegative prompt: lowres, bad anatomy\r\n' +
      'Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1234567890, Size: 512x768, ' +
      'Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Lora hashes: "a: 1f2e, b: 3c4d", Version: v1.9.4';
    const r = parseParameters(text);
    expect(r.prompt).toBe('masterpiece, 1girl');
    expect(r.negativePrompt).toBe('lowres, bad anatomy');
    expect(r.scheduler).toBe('dpmpp_2m_karras');
    expect(r.sampler).toBe('DPM++ 2M');
    expect([r.steps, r.guidanceScale, r.seed, r.width, r.height]).toEqual([20, 7, 1234567890, 512, 768]);
    expect(r.fields['Lora hashes']).toBe('a: 1f2e, b: 3c4d');
    expect(r.fields['Model hash']).toBe('6ce0161689');
    expect(r.fields.Version).toBe('v1.9.4');
  });

  it('keeps an unknown sampler name without a scheduler', () => {
    const r = parseParameters('x\nSteps: 20, Sampler: DPM++ SDE Karras, CFG scale: 7, Seed: 1, Size: 64x64');
    expect(r.sampler).toBe('DPM++ SDE Karras');
    expect(r.scheduler).toBeUndefined();
  });

  it('treats a last line with fewer than three pairs as prompt text', () => {
    const r = parseParameters('portrait\nstyle: oil, mood: calm');
    expect(r.prompt).toBe('portrait\nstyle: oil, mood: calm');
    expect(r.steps).toBeUndefined();
    expect(r.fields).toEqual({});
  });

  it('rejects unreadable values of known fields, naming the field', () => {
    const bad = (s: string) => () => parseParameters(`p\n${s}`);
    expect(bad('Steps: abc, Sampler: DDIM, CFG scale: 7, Seed: 1')).toThrow(ParametersFormatError);
    expect(bad('Steps: abc, Sampler: DDIM, CFG scale: 7, Seed: 1')).toThrow(`field 'Steps' must be a non-negative integer (got "abc")`);
    expect(bad('Steps: 2, CFG scale: high, Seed: 1')).toThrow(`field 'CFG scale' must be a number (got "high")`);
    expect(bad('Steps: 2, CFG scale: 7, Seed: -5')).toThrow(`field 'Seed' must be a non-negative integer (got "-5")`);
    expect(bad('Steps: 2, CFG scale: 7, Size: 512*512')).toThrow(`field 'Size' must be WIDTHxHEIGHT (got "512*512")`);
  });
});
