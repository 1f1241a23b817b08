/**
 * Prompt adherence of the bundled demo model, through this engine: for each of the 24 evaluation scenes (8 shape
 * colours × 3 shapes, each on a different background colour) it generates one 64×64 image per seed (DDIM, 20 steps,
 * guidance 7.5), classifies shape colour, background colour and shape, and reports the fractions right. Also runs the
 * img2img check (a rendered red circle → "a blue circle on a <its background> background" at strength 0.6).
 *
 *   XDG_RUNTIME_DIR=/tmp npm run eval:demo -- [--model DIR] [--seeds 4] [--steps 20] [--guidance 7.5] [--out DIR]
 *
 * Writes OUT/contact-sheet.png (per row: the ideal render of the prompt, then one image per seed; the bar under each
 * image is green when colours and shape are right, yellow when only the shape is wrong, red when a colour is wrong),
 * OUT/img2img.png (input, then one output per seed) and OUT/eval.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { StableDiffusion } from '@sd-webgpu/pipeline';
import { encodePng } from '@sd-webgpu/pipeline/node';
import { classify, evalScenes, prompt, renderScene, type Scene } from './scenes.js';
import { contactSheet, type Tile } from './sheet.js';

const root = process.env.SD_WEBGPU_ROOT ?? process.cwd();
const { values } = parseArgs({
  options: {
    model: { type: 'string', default: resolve(root, 'packages/demo-model/model') },
    seeds: { type: 'string', default: '4' },
    steps: { type: 'string', default: '20' },
    guidance: { type: 'string', default: '7.5' },
    out: { type: 'string', default: resolve(root, 'bench/results/demo-eval') },
  },
});
const seeds = Number(values.seeds);
const steps = Number(values.steps);
const guidanceScale = Number(values.guidance);
const out = resolve(values.out);
mkdirSync(out, { recursive: true });

const GREEN = [40, 200, 70] as const;
const YELLOW = [240, 200, 30] as const;
const RED = [230, 30, 30] as const;

const sd = await StableDiffusion.load(values.model, { dtype: 'f32' });
const rows: Tile[][] = [];
const records: Record<string, unknown>[] = [];
let [colourRight, backgroundRight, bothRight, shapeRight, allRight, n] = [0, 0, 0, 0, 0, 0];
const times: number[] = [];
try {
  for (const scene of evalScenes()) {
    const row: Tile[] = [{ image: renderScene(scene) }];
    for (let seed = 0; seed < seeds; seed++) {
      const t = performance.now();
      const [img] = await sd.txt2img({ prompt: prompt(scene), steps, guidanceScale, seed, scheduler: 'ddim', width: 64, height: 64 });
      times.push((performance.now() - t) / 1000);
      const c = classify(img!);
      const ok = { colour: c.colour === scene.colour, background: c.background === scene.background, shape: c.shape === scene.shape };
      n++;
      colourRight += +ok.colour;
      backgroundRight += +ok.background;
      bothRight += +(ok.colour && ok.background);
      shapeRight += +ok.shape;
      allRight += +(ok.colour && ok.background && ok.shape);
      row.push({ image: img!, bar: ok.colour && ok.background ? (ok.shape ? GREEN : YELLOW) : RED });
      records.push({ prompt: prompt(scene), seed, got: c, ...ok });
    }
    rows.push(row);
    console.log(`${prompt(scene).padEnd(44)} ${row.slice(1).map((t) => (t.bar === GREEN ? 'ok' : t.bar === YELLOW ? 'shape' : 'COLOUR')).join(' ')}`);
  }

  // img2img: a red circle becomes a blue one
  const source: Scene = { shape: 'circle', colour: 'red', background: 'white' };
  const target: Scene = { ...source, colour: 'blue' };
  const i2iRow: Tile[] = [{ image: renderScene(source) }];
  const i2i: Record<string, unknown>[] = [];
  for (let seed = 0; seed < seeds; seed++) {
    const [img] = await sd.img2img({ prompt: prompt(target), image: renderScene(source), strength: 0.6, steps, guidanceScale, seed, scheduler: 'ddim' });
    const c = classify(img!);
    const ok = c.colour === 'blue' && c.background === 'white' && c.shape === 'circle';
    i2iRow.push({ image: img!, bar: ok ? GREEN : RED });
    i2i.push({ seed, got: c, ok });
  }
  writeFileSync(resolve(out, 'img2img.png'), encodePng(contactSheet([i2iRow], 64)));

  // two blocks of 12 rows side by side
  const half = Math.ceil(rows.length / 2);
  const sheetRows = rows.slice(0, half).map((r, i) => [...r, null, ...(rows[half + i] ?? [])]);
  writeFileSync(resolve(out, 'contact-sheet.png'), encodePng(contactSheet(sheetRows, 64)));

  times.sort((a, b) => a - b);
  const pct = (k: number) => Math.round((1000 * k) / n) / 10;
  const summary = {
    model: values.model,
    protocol: { scheduler: 'ddim', steps, guidanceScale, size: 64, seeds: Array.from({ length: seeds }, (_, i) => i), scenes: rows.length },
    n,
    shapeColour: pct(colourRight),
    background: pct(backgroundRight),
    bothColours: pct(bothRight),
    shape: pct(shapeRight),
    all: pct(allRight),
    img2img: { from: prompt(source), prompt: prompt(target), strength: 0.6, right: i2i.filter((r) => r.ok).length, of: seeds, results: i2i },
    secondsPerImage: { median: times[Math.floor(times.length / 2)], min: times[0], max: times[times.length - 1] },
    results: records,
  };
  writeFileSync(resolve(out, 'eval.json'), JSON.stringify(summary, null, 2) + '\n');
  console.log(`n=${n}: shape colour ${summary.shapeColour} %, background ${summary.background} %, both colours ${summary.bothColours} %, ` +
    `shape ${summary.shape} %, all three ${summary.all} %; img2img red→blue ${summary.img2img.right}/${seeds}; ` +
    `median ${summary.secondsPerImage.median?.toFixed(2)} s per 64×64 ${steps}-step image`);
  console.log(`wrote ${out}/contact-sheet.png, img2img.png, eval.json`);
} finally {
  sd.dispose();
}
