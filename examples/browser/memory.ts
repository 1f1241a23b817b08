/**
 * The GPU memory estimate shown before a model loads: the weights (every float tensor of the picked files, counted
 * from their safetensors headers, at the chosen dtype) plus the largest activations of one generation. Only the
 * headers are read (a Range request for URLs).
 */
import { type SafetensorsInput, isFloatDtype, openSafetensors } from '@sd-webgpu/models';

/** Original-layout checkpoints carry an EMA copy of the UNet that the loader skips. */
const SKIPPED_PREFIX = 'model_ema.';

/**
 * Peak activations of one 512×512 f32 generation: the SD 1.5 VAE decode at full size, measured at 707 MiB with
 * `npm run bench -- vae` (README, "Measured"); the UNet and text encoder peak far lower. Scales with the pixel count
 * and the activation dtype.
 */
const DECODE_PEAK_512_F32 = 707 * 2 ** 20;

export interface MemoryEstimate {
  weightBytes: number;
  activationBytes: number;
  totalBytes: number;
}

/** Float tensor elements in `files` and their bytes as stored (headers only). */
export async function countWeights(files: readonly SafetensorsInput[]): Promise<{ elements: number; bytes: number }> {
  let n = 0;
  let bytes = 0;
  for (const input of files) {
    const file = await openSafetensors(input);
    try {
      for (const info of file.entries.values()) {
        if (!isFloatDtype(info.dtype) || info.name.startsWith(SKIPPED_PREFIX)) continue;
        n += info.shape.reduce((a, b) => a * b, 1);
        bytes += info.byteLength;
      }
    } finally {
      await file.close();
    }
  }
  return { elements: n, bytes };
}

/** The estimate for `elements` weights at `dtype` and one `width`×`height` image. */
export function estimateMemory(elements: number, dtype: 'f32' | 'f16', width: number, height: number): MemoryEstimate {
  const bytes = dtype === 'f16' ? 2 : 4;
  const weightBytes = elements * bytes;
  const activationBytes = Math.round(DECODE_PEAK_512_F32 * ((width * height) / (512 * 512)) * (bytes / 4));
  return { weightBytes, activationBytes, totalBytes: weightBytes + activationBytes };
}
