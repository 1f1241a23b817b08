/**
 * Text to image, the whole round trip: load a model, generate, write a PNG that carries its generation parameters.
 *
 *   XDG_RUNTIME_DIR=/tmp node scripts/run-ts.mjs examples/txt2img.ts [model] [prompt] [out.png]
 *
 * `model` is a diffusers folder or a single .safetensors file (default: the bundled tiny random-weight demo model,
 * which draws noise-like pictures). The PNG's `parameters` text chunk is the A1111 format other tools read.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { StableDiffusion, formatParameters } from '@sd-webgpu/pipeline';
import { encodePng } from '@sd-webgpu/pipeline/node';

const root = process.env.SD_WEBGPU_ROOT ?? process.cwd();
const [model = resolve(root, 'test/fixtures/models/tiny-sd'), prompt = 'a photograph of an astronaut riding a horse', out = 'out/txt2img.png'] =
  process.argv.slice(2);

console.log(`loading ${model}`);
const sd = await StableDiffusion.load(model, { dtype: 'f32' });
try {
  const [image] = await sd.txt2img({
    prompt,
    negativePrompt: 'blurry',
    steps: 20,
    guidanceScale: 7.5,
    seed: 42,
    scheduler: 'dpmpp_2m_karras',
    onProgress: ({ step, totalSteps }) => process.stdout.write(`\rstep ${step}/${totalSteps}`),
  });
  process.stdout.write('\n');
  const png = encodePng(image!, { parameters: formatParameters(image!.params) });
  mkdirSync(dirname(resolve(out)), { recursive: true });
  writeFileSync(out, png);
  console.log(`wrote ${out} (${image!.width}x${image!.height}, seed ${image!.seed})`);
} finally {
  sd.dispose();
}
