// `npm run bench -- txt2img512 [--dtype f16|f32] [--latent 64] [--tile N] [--skip-unet] [--low-memory] [--write]`: the phases of one SD 1.5 txt2img
// (full configuration, random weights) on a device with WebGPU's DEFAULT limits (128 MiB per storage binding, 256 MiB
// per buffer): text encoder (batch 2), one classifier-free-guidance UNet step at the `latent`² latent (64 → 512²),
// VAE decode to `8·latent`² pixels (untiled, or tiled with `--tile N` latents; tiling is on by default above 64).
// `--skip-unet` leaves the UNet step out (it is the slowest phase on a CPU adapter). `--low-memory` holds what the
// pipeline's `lowMemory` holds, so its peak is measured rather than derived: the VAE encoder is freed after the build
// and the text encoder after its phase (the same calls StableDiffusion makes).
// Prints time per phase, the pool's live bytes split into weights / activations / pool overhead, the peak with
// everything resident and the peak `lowMemory` would have, and the largest binding and buffer the device ever made.
import { Device, ParameterError } from '@sd-webgpu/tensor';
import { concat, linearCombination, slice } from '@sd-webgpu/kernels';
import { RandomStore, disposeModule, loadDefaultTokenizer, parameterBytes, sd15 } from '@sd-webgpu/models';
import { StableDiffusion } from '@sd-webgpu/pipeline';
import { writeResults } from './harness';

const MiB = 2 ** 20;
const mib = (b: number) => `${(b / MiB).toFixed(0)} MiB`;

function intFlag(args: Record<string, string | true>, name: string, fallback: number): number {
  const v = args[name];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (v === true || !Number.isInteger(n) || n < 1) throw new ParameterError('bench txt2img512', `--${name}`, `must be a positive integer, got ${String(v)}`);
  return n;
}

interface Phase {
  name: string;
  seconds: number;
  /** Live bytes before the phase (weights and the phase's inputs). */
  liveBefore: number;
  /** Peak live bytes during the phase. */
  peakLive: number;
  peakAllocated: number;
}

export async function main(args: Record<string, string | true>): Promise<void> {
  const latent = intFlag(args, 'latent', 64);
  const requested = args.dtype ?? 'f16';
  if (requested !== 'f16' && requested !== 'f32') throw new ParameterError('bench txt2img512', '--dtype', `must be f16 or f32, got ${String(requested)}`);
  const tile = args.tile === undefined ? undefined : intFlag(args, 'tile', 64);
  const lowMemory = args['low-memory'] === true;

  const device = await Device.create({ limits: 'default' });
  const dtype = device.floatType(requested);
  const phases: Phase[] = [];
  /** Runs one phase to completion (GPU idle) and records its time and pool peaks. */
  const phase = async <T>(name: string, fn: () => T | Promise<T>): Promise<T> => {
    await device.sync();
    device.pool.resetPeak();
    const liveBefore = device.pool.stats.liveBytes;
    const t0 = performance.now();
    const out = await fn();
    await device.sync();
    const s = device.pool.stats;
    const p = { name, seconds: (performance.now() - t0) / 1000, liveBefore, peakLive: s.peakLiveBytes, peakAllocated: s.peakAllocatedBytes };
    phases.push(p);
    console.log(`${name.padEnd(36)} ${p.seconds.toFixed(1).padStart(7)} s  activations ${mib(p.peakLive - liveBefore).padStart(9)}  ` +
      `peak live ${mib(p.peakLive)}  peak allocated ${mib(p.peakAllocated)}`);
    return out;
  };
  try {
    const t0 = performance.now();
    const configs = { ...sd15(), scheduler: null };
    const sd = await StableDiffusion.fromWeights({
      device, configs, tokenizer: await loadDefaultTokenizer(),
      stores: { textEncoder: new RandomStore(device, 1, dtype), unet: new RandomStore(device, 2, dtype), vae: new RandomStore(device, 3, dtype) },
    });
    await device.sync();
    device.pool.trim();
    const weights = {
      textEncoder: parameterBytes(sd.textEncoder), unet: parameterBytes(sd.unet),
      vaeEncoder: parameterBytes(sd.vae.encoder) + parameterBytes(sd.vae.quant_conv),
      vaeDecoder: parameterBytes(sd.vae.decoder) + parameterBytes(sd.vae.post_quant_conv),
    };
    const weightBytes = Object.values(weights).reduce((a, b) => a + b, 0);
    if (lowMemory) { // StableDiffusion.load with lowMemory: txt2img never needs the VAE encoder
      sd.vae.disposeEncoder();
      await device.sync();
    }
    console.log(`SD 1.5 random ${dtype} weights built in ${((performance.now() - t0) / 1000).toFixed(1)} s on ${device.adapterInfo.description} ` +
      `(limits: binding ${mib(device.limits.maxStorageBufferBindingSize)}, buffer ${mib(device.limits.maxBufferSize)}): ` +
      `text encoder ${mib(weights.textEncoder)}, UNet ${mib(weights.unet)}, VAE encoder ${mib(weights.vaeEncoder)}, ` +
      `VAE decoder ${mib(weights.vaeDecoder)}; ${mib(weightBytes)} in all, pool live ${mib(device.pool.stats.liveBytes)}`);

    // 1. text encoder, batch 2 (unconditional + prompt)
    const len = configs.textEncoder.maxPositionEmbeddings;
    const ids = new Int32Array(2 * len);
    ['', 'a photograph of an astronaut riding a horse'].forEach((p, i) => ids.set(sd.tokenizer.tokenize(p, { maxLength: len }).ids, i * len));
    const idsT = device.tensor(ids, [2, len], 'i32');
    const context = await phase('text encoder (batch 2)', () => sd.textEncoder.forward(idsT));
    idsT.dispose();
    if (lowMemory) disposeModule(sd.textEncoder); // encodePrompt with lowMemory frees it once the encoding has run
    // 2. one CFG UNet step
    const shape = [1, configs.unet.inChannels, latent, latent];
    const rand = (n: number) => Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
    const x = device.tensor(rand(shape.reduce((a, b) => a * b)), shape, dtype);
    if (!args['skip-unet']) {
      const guided = await phase(`UNet CFG step ${latent}x${latent}`, () => device.scope(() => {
        const eps = sd.unet.forward(concat([x, x], 0), 981, context);
        return linearCombination([[slice(eps, 0, 0, 1), -6.5], [slice(eps, 0, 1, 2), 7.5]]);
      }));
      guided.dispose();
    }
    context.dispose();
    // 3. VAE decode
    const px = latent * 8;
    const image = await phase(`VAE decode ${px}x${px}${tile ? ` tiled ${tile}` : ''}`, () =>
      tile ? sd.vae.decodeTiled(x, { tileLatents: tile }) : sd.vae.decode(x));
    image.dispose();
    x.dispose();

    // Peaks: with --low-memory the measured peak is lowMemory's and the resident one is derived (adding back the weights
    // it freed), else the other way round: lowMemory frees the text encoder after phase 1 and never holds the VAE
    // encoder for txt2img, and the pool's accounting is additive.
    const freed = (i: number) => weights.vaeEncoder + (i > 0 ? weights.textEncoder : 0);
    const peakResident = Math.max(...phases.map((p, i) => p.peakLive + (lowMemory ? freed(i) : 0)));
    const peakLow = Math.max(...phases.map((p, i) => p.peakLive - (lowMemory ? 0 : freed(i))));
    const s = device.pool.stats;
    const summary = {
      dtype, latent, pixels: px, tile: tile ?? null, unet: !args['skip-unet'], lowMemory, measured: lowMemory ? 'lowMemory' : 'resident', weights, weightBytes, phases,
      peakResidentBytes: peakResident, peakLowMemoryBytes: peakLow,
      peakActivationBytes: Math.max(...phases.map((p) => p.peakLive - p.liveBefore)),
      poolOverheadBytes: Math.max(...phases.map((p) => p.peakAllocated - p.peakLive)),
      largestBindingBytes: device.largestBindingBytes, largestBufferBytes: s.largestBufferBytes,
      limits: { binding: device.limits.maxStorageBufferBindingSize, buffer: device.limits.maxBufferSize },
    };
    console.log(`peak ${mib(peakResident)} everything resident, ${mib(peakLow)} with lowMemory (${lowMemory ? 'lowMemory measured' : 'resident measured'}); weights ${mib(weightBytes)}, ` +
      `largest activation phase ${mib(summary.peakActivationBytes)}, pool overhead (free lists at the peak) ≤ ${mib(summary.poolOverheadBytes)}; ` +
      `largest binding ${mib(summary.largestBindingBytes)} (limit ${mib(summary.limits.binding)}), ` +
      `largest buffer ${mib(summary.largestBufferBytes)} (limit ${mib(summary.limits.buffer)})`);
    if (args.write) writeResults(`txt2img512-${dtype}-${px}${tile ? `-tile${tile}` : ''}${lowMemory ? '-lowmem' : ''}`, device, summary);
    sd.dispose();
  } finally {
    device.dispose();
  }
}
