// `npm run bench -- unet [--size 8] [--dtype f16|f32] [--warmup 1] [--iters 1] [--write]`: one UNet evaluation of
// the full SD 1.5 config with random weights, batch 2 (classifier-free guidance: unconditional + prompt), at a
// `size`x`size` latent (8 → 64 px images, 64 → 512 px). Prints the time and the pool's peak live bytes.
import { Device, ParameterError } from '@sd-webgpu/tensor';
import { sd15 } from '../packages/models/src/configs';
import { UNet2DConditionModel } from '../packages/models/src/unet/unet';
import { RandomStore } from '../packages/models/src/weights/random';
import { rootScope } from '../packages/models/src/weights/scope';
import { benchCases, writeResults } from './harness';

const MiB = 2 ** 20;

function intFlag(args: Record<string, string | true>, name: string, fallback: number, min = 1): number {
  const v = args[name];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (v === true || !Number.isInteger(n) || n < min) throw new ParameterError('bench unet', `--${name}`, `must be an integer ≥ ${min}, got ${String(v)}`);
  return n;
}

export async function main(args: Record<string, string | true>): Promise<void> {
  const size = intFlag(args, 'size', 8);
  const warmup = intFlag(args, 'warmup', 1, 0);
  const iters = intFlag(args, 'iters', 1);
  const requested = args.dtype ?? 'f16';
  if (requested !== 'f16' && requested !== 'f32') throw new ParameterError('bench unet', '--dtype', `must be f16 or f32, got ${String(requested)}`);

  const device = await Device.create();
  try {
    const t0 = performance.now();
    const store = new RandomStore(device, 1, requested);
    const cfg = sd15().unet;
    const unet = new UNet2DConditionModel(rootScope(store), cfg);
    await device.sync();
    const weightBytes = device.pool.stats.liveBytes;
    console.log(
      `SD 1.5 UNet, random ${unet.dtype} weights: ${unet.parameterCount().toLocaleString('en-US')} parameters, ` +
        `${(weightBytes / MiB).toFixed(0)} MiB, built in ${((performance.now() - t0) / 1000).toFixed(1)} s on ${device.adapterInfo.description}`,
    );

    const rand = (n: number) => Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
    const sample = device.tensor(rand(2 * cfg.inChannels * size * size), [2, cfg.inChannels, size, size], unet.dtype);
    const context = device.tensor(rand(2 * 77 * cfg.crossAttentionDim), [2, 77, cfg.crossAttentionDim], unet.dtype);
    const [result] = await benchCases(
      device,
      [{ name: `unet sd15 2x${cfg.inChannels}x${size}x${size} ${unet.dtype}`, run: () => void unet.forward(sample, 981, context) }],
      { warmup, iters },
    );
    const r = result!;
    console.log(
      `time ${r.ms.toFixed(1)} ms (${r.timing}; wall ${r.msWall.toFixed(1)} ms), peak pool ${(r.peakPoolBytes / MiB).toFixed(1)} MiB ` +
        `(weights ${(weightBytes / MiB).toFixed(1)} MiB + activations ${((r.peakPoolBytes - weightBytes) / MiB).toFixed(1)} MiB), ` +
        `${device.dispatchCount} dispatches in all`,
    );
    if (args.write) writeResults('unet', device, { size, dtype: unet.dtype, weightBytes, ...r });
    sample.dispose();
    context.dispose();
    unet.dispose();
  } finally {
    device.dispose();
  }
}
