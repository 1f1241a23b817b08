// `npm run bench -- vae [--size 8] [--dtype f32|f16] [--no-encode] [--warmup 1|0] [--iters 1] [--write]`: one VAE decode
// of a `size`x`size` latent (8 → 64 px images, 64 → 512 px) with the full SD 1.5 config and random weights, then one
// encode of an image of that output size. Prints the time and the pool's peak live bytes of each.
import { Device, ParameterError } from '@sd-webgpu/tensor';
import { sd15 } from '../packages/models/src/configs';
import { AutoencoderKL } from '../packages/models/src/vae/vae';
import { RandomStore } from '../packages/models/src/weights/random';
import { rootScope } from '../packages/models/src/weights/scope';
import { type BenchResult, benchCases, writeResults } from './harness';

const MiB = 2 ** 20;

function intFlag(args: Record<string, string | true>, name: string, fallback: number, min = 1): number {
  const v = args[name];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (v === true || !Number.isInteger(n) || n < min) throw new ParameterError('bench vae', `--${name}`, `must be an integer ≥ ${min}, got ${String(v)}`);
  return n;
}

export async function main(args: Record<string, string | true>): Promise<void> {
  const size = intFlag(args, 'size', 8);
  const warmup = intFlag(args, 'warmup', 1, 0); // 0: time the first run, pipeline compilation included
  const iters = intFlag(args, 'iters', 1);
  const requested = args.dtype ?? 'f32';
  if (requested !== 'f16' && requested !== 'f32') throw new ParameterError('bench vae', '--dtype', `must be f16 or f32, got ${String(requested)}`);

  const device = await Device.create();
  try {
    const t0 = performance.now();
    const store = new RandomStore(device, 1, requested);
    const cfg = sd15().vae;
    const vae = new AutoencoderKL(rootScope(store), cfg);
    await device.sync();
    const weightBytes = device.pool.stats.liveBytes;
    console.log(
      `SD 1.5 VAE, random ${vae.dtype} weights: ${vae.parameterCount().toLocaleString('en-US')} parameters, ` +
        `${(weightBytes / MiB).toFixed(0)} MiB, built in ${((performance.now() - t0) / 1000).toFixed(1)} s on ${device.adapterInfo.description}`,
    );

    const px = size * vae.downscale;
    const rand = (n: number) => Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
    const z = device.tensor(rand(cfg.latentChannels * size * size), [1, cfg.latentChannels, size, size], vae.dtype);
    const image = device.tensor(rand(cfg.inChannels * px * px), [1, cfg.inChannels, px, px], vae.dtype);
    const cases = [{ name: `vae decode sd15 1x${cfg.latentChannels}x${size}x${size} → ${px}x${px} ${vae.dtype}`, run: () => void vae.decode(z) }];
    if (!args['no-encode']) {
      cases.push({ name: `vae encode sd15 1x${cfg.inChannels}x${px}x${px} ${vae.dtype}`, run: () => void vae.encode(image) });
    }
    const results: BenchResult[] = [];
    for (const c of cases) {
      // One case at a time, so that each reports its own peak.
      const [r] = await benchCases(device, [c], { warmup, iters });
      results.push(r!);
      console.log(
        `  ${r!.ms.toFixed(1)} ms (${r!.timing}; wall ${r!.msWall.toFixed(1)} ms), peak pool ${(r!.peakPoolBytes / MiB).toFixed(1)} MiB ` +
          `(weights ${(weightBytes / MiB).toFixed(1)} MiB + inputs and activations ${((r!.peakPoolBytes - weightBytes) / MiB).toFixed(1)} MiB)`,
      );
    }
    console.log(`${device.dispatchCount} dispatches in all`);
    if (args.write) writeResults('vae', device, { size, dtype: vae.dtype, weightBytes, results });
    z.dispose();
    image.dispose();
    vae.dispose();
  } finally {
    device.dispose();
  }
}
