// `npm run bench -- text_encoder [--dtype f16|f32] [--batch 2] [--iters 3]`: the SD 1.5 CLIP ViT-L/14 text encoder
// (random weights, 123 M parameters) on `batch` rows of 77 tokens (2 = classifier-free guidance). Prints the time and
// the pool's peak live bytes.
import { Device, ParameterError } from '@sd-webgpu/tensor';
import { ClipTextModel, RandomStore, parameterCount, rootScope, sd15 } from '@sd-webgpu/models';
import { benchCases, writeResults } from './harness';

const MiB = 2 ** 20;

export async function main(args: Record<string, string | true>): Promise<void> {
  const batch = Number(args.batch ?? 2);
  const iters = Number(args.iters ?? 3);
  const requested = args.dtype ?? 'f16';
  if (requested !== 'f16' && requested !== 'f32') throw new ParameterError('bench text_encoder', '--dtype', `must be f16 or f32, got ${String(requested)}`);
  if (!Number.isInteger(batch) || batch < 1) throw new ParameterError('bench text_encoder', '--batch', `must be a positive integer, got ${String(args.batch)}`);
  const device = await Device.create();
  try {
    const cfg = sd15().textEncoder;
    const model = new ClipTextModel(rootScope(new RandomStore(device, 1, requested)).pp('text_model'), cfg);
    await device.sync();
    const weightBytes = device.pool.stats.liveBytes;
    console.log(`SD 1.5 CLIP text encoder: ${parameterCount(model).toLocaleString('en-US')} parameters, ${(weightBytes / MiB).toFixed(0)} MiB`);
    const ids = device.tensor(new Int32Array(batch * 77).map((_, i) => (i * 7919) % cfg.vocabSize), [batch, 77], 'i32');
    const results = await benchCases(device, [{ name: `clip text encoder ${batch}x77 ${device.floatType(requested)}`, run: () => void model.forward(ids) }], { iters });
    const r = results[0]!;
    console.log(`peak pool ${(r.peakPoolBytes / MiB).toFixed(1)} MiB (weights ${(weightBytes / MiB).toFixed(1)} MiB + activations ${((r.peakPoolBytes - weightBytes) / MiB).toFixed(1)} MiB)`);
    writeResults('text_encoder', device, { batch, weightBytes, ...r });
    ids.dispose();
  } finally {
    device.dispose();
  }
}
