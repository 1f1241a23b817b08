/**
 * The bundled demo model draws what the prompt says, through this engine: one scene per shape colour (each shape in
 * turn, a differing background), DDIM 20 steps at guidance 7.5, seed 0, classified as `npm run eval:demo` does
 * (bench/demo/scenes.ts); and img2img turns a rendered red circle blue at strength 0.6. The full measurement (24
 * scenes × 4 seeds) is `npm run eval:demo`; this is its seeded smoke test in CI.
 */
import { describe, expect, it } from 'vitest';
import { resolve } from 'node:path';
import { StableDiffusion } from '@sd-webgpu/pipeline';
import { testDevice } from '../helpers/device';
import { COLOUR_NAMES, classify, evalScenes, prompt, renderScene, type Scene } from '../../bench/demo/scenes';

const FOLDER = resolve(import.meta.dirname, '../../packages/demo-model/model');
const GEN = { steps: 20, guidanceScale: 7.5, seed: 0, scheduler: 'ddim' as const };

describe('demo model prompt adherence', () => {
  it('draws the requested shape colour on the requested background (8 colours, seed 0)', { timeout: 300_000 }, async () => {
    const device = await testDevice();
    const sd = await StableDiffusion.load(FOLDER, { device, dtype: 'f32' });
    try {
      const scenes = COLOUR_NAMES.map((_, i) => evalScenes()[i * 3 + (i % 3)]!);
      const wrong: string[] = [];
      for (const scene of scenes) {
        const [img] = await sd.txt2img({ ...GEN, prompt: prompt(scene), width: 64, height: 64 });
        const c = classify(img!);
        if (c.colour !== scene.colour || c.background !== scene.background) wrong.push(`"${prompt(scene)}" gave ${c.colour} on ${c.background}`);
      }
      expect(wrong.length, wrong.join('; ')).toBeLessThanOrEqual(1);
    } finally {
      sd.dispose();
    }
  });

  it('img2img turns a red circle into a blue one at strength 0.6', { timeout: 120_000 }, async () => {
    const device = await testDevice();
    const sd = await StableDiffusion.load(FOLDER, { device, dtype: 'f32' });
    try {
      const source: Scene = { shape: 'circle', colour: 'red', background: 'white' };
      const [img] = await sd.img2img({ ...GEN, prompt: prompt({ ...source, colour: 'blue' }), image: renderScene(source), strength: 0.6 });
      const c = classify(img!);
      expect([c.colour, c.background], `got ${c.colour} ${c.shape} on ${c.background}`).toEqual(['blue', 'white']);
    } finally {
      sd.dispose();
    }
  });
});
