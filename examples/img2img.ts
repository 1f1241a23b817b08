/**
 * Image to image: load a model, redraw an input picture guided by a prompt, write a PNG with the parameters chunk.
 *
 *   XDG_RUNTIME_DIR=/tmp node scripts/run-ts.mjs examples/img2img.ts [model] [input.png|.jpg] [prompt] [out.png]
 *
 * `model` defaults to the bundled tiny demo model, `input` to a 64x64 test picture. The output has the input's size
 * (rounded down to a multiple of 8); `strength` is how much of the schedule runs (1 ignores the input entirely).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { StableDiffusion, formatParameters } from '@sd-webgpu/pipeline';
import { decodeImage, encodePng } from '@sd-webgpu/pipeline/node';

const root = process.env.SD_WEBGPU_ROOT ?? process.cwd();
const [
  model = resolve(root, 'test/fixtures/models/tiny-sd'),
  input = resolve(root, 'test/fixtures/pipeline/img2img_input_64x64.png'),
  prompt = 'a painting in the style of van gogh',
  out = 'out/img2img.png',
] = process.argv.slice(2);

// Decode first: a bad input file fails before the model is loaded (ImageFormatError names the file).
const image = decodeImage(readFileSync(input), { source: input });

console.log(`loading ${model}`);
const sd = await StableDiffusion.load(model, { dtype: 'f32' });
try {
  const [result] = await sd.img2img({
    image,
    prompt,
    strength: 0.6,
    steps: 25,
    guidanceScale: 7.5,
    seed: 1234,
    scheduler: 'ddim',
    onProgress: ({ step, totalSteps }) => process.stdout.write(`\rstep ${step}/${totalSteps}`),
  });
  process.stdout.write('\n');
  const png = encodePng(result!, { parameters: formatParameters(result!.params) });
  mkdirSync(dirname(resolve(out)), { recursive: true });
  writeFileSync(out, png);
  console.log(`wrote ${out} (${result!.width}x${result!.height} from ${input}, seed ${result!.seed})`);
} finally {
  sd.dispose();
}
