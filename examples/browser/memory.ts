/**
 * The GPU memory estimate shown before a model loads: the weights (every float tensor of the picked files, counted
 * from their safetensors headers, at the chosen dtype) plus the largest activations of one generation. Only the
 * headers are read (a Range request for URLs).
 */
import { type SafetensorsInput, isFloatDtype, openSafetensors } from '@sd-webgpu/models';

/** Original-layout checkpoints carry an EMA copy of the UNet that the loader skips. */
const SKIPPED_PREFIX = 'model_ema.';

/**
 * Channels of the SD 1.x VAE decoder's last up block, the widest activations at full resolution: its ResNet blocks
 * keep about four `[128, H, W]` tensors alive (input, norm output, conv output, skip).
 */
const DECODER_CHANNELS = 128;
const DECODER_LIVE_TENSORS = 4;

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
  const activationBytes = DECODER_LIVE_TENSORS * DECODER_CHANNELS * width * height * bytes;
  return { weightBytes, activationBytes, totalBytes: weightBytes + activationBytes };
}
