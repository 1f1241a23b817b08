// End-to-end: `npm run bench -- pipeline [--size 64] [--steps 2] [--f32] [--skip-sd15]`.
// Times txt2img (DDIM, classifier-free guidance) with the tiny fixture model and with the full SD 1.5 configuration on
// random weights (the real shapes and memory, not a real picture): load, text encoding + denoising steps + decode,
// seconds per step, peak pool bytes.
import { resolve } from 'node:path';
import { Device } from '@sd-webgpu/tensor';
import { RandomStore, sd15 } from '@sd-webgpu/models';
import { StableDiffusion } from '@sd-webgpu/pipeline';
import { writeResults } from './harness';

interface E2eResult {
  model: string;
  dtype: string;
  size: string;
  steps: number;
  loadS: number;
  totalS: number;
  perStepS: number;
  peakPoolBytes: number;
  weightBytes: number;
}

async function timeGeneration(name: string, sd: StableDiffusion, size: number, steps: number, loadS: number): Promise<E2eResult> {
  const dev = sd.device;
  const weightBytes = dev.pool.stats.liveBytes;
  dev.pool.resetPeak();
  const stepTimes: number[] = [];
  let last = performance.now();
  const t0 = last;
  await sd.txt2img({
    prompt: 'a photograph of an astronaut riding a horse', steps, seed: 42, scheduler: 'ddim', width: size, height: size,
    onProgress: () => {
      const now = performance.now();
      stepTimes.push(now - last);
      last = now;
    },
  });
  const totalS = (performance.now() - t0) / 1000;
  // the first step also carries the text encoder and pipeline compilation: report the median of the others
  const later = stepTimes.slice(1).sort((a, b) => a - b);
  const perStepS = (later.length ? later[Math.floor(later.length / 2)]! : stepTimes[0]!) / 1000;
  const r: E2eResult = {
    model: name, dtype: sd.dtype, size: `${size}x${size}`, steps, loadS, totalS, perStepS,
    peakPoolBytes: dev.pool.stats.peakLiveBytes, weightBytes,
  };
  console.log(`${name.padEnd(24)} ${r.dtype} ${r.size.padEnd(8)} load ${loadS.toFixed(1)} s  total ${totalS.toFixed(1)} s  ` +
    `${perStepS.toFixed(2)} s/step  weights ${(weightBytes / 2 ** 20).toFixed(0)} MiB  peak ${(r.peakPoolBytes / 2 ** 20).toFixed(0)} MiB`);
  return r;
}

export async function main(args: Record<string, string | true>): Promise<void> {
  const size = Number(args.size ?? 64);
  const steps = Number(args.steps ?? 2);
  const device = await Device.create();
  const dtype = args.f32 ? 'f32' : device.floatType('f16');
  const results: E2eResult[] = [];
  try {
    let t = performance.now();
    const tiny = await StableDiffusion.load(resolve(process.env.SD_WEBGPU_ROOT ?? '.', 'test/fixtures/models/tiny-sd'), { device });
    results.push(await timeGeneration('tiny-sd (fixture)', tiny, 64, 10, (performance.now() - t) / 1000));
    tiny.dispose();
    if (!args['skip-sd15']) {
      t = performance.now();
      const configs = { ...sd15(), scheduler: null };
      const sd = await StableDiffusion.fromWeights({
        device, configs,
        stores: { textEncoder: new RandomStore(device, 1, dtype), unet: new RandomStore(device, 2, dtype), vae: new RandomStore(device, 3, dtype) },
      });
      await device.sync();
      results.push(await timeGeneration('SD 1.5 (random weights)', sd, size, steps, (performance.now() - t) / 1000));
      sd.dispose();
    }
    writeResults('pipeline', device, results);
  } finally {
    device.dispose();
  }
}
