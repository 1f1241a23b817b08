/**
 * Streams tensors from a safetensors file to the GPU, one tensor and one chunk at a time, converting F32 / F16 /
 * BF16 / F64 to the target dtype on the way. A multi-GB checkpoint is never in host memory at once: at most one
 * chunk (plus its converted copy) is, and every `FLUSH_BYTES` the queue is drained so the driver's upload staging
 * cannot pile up either.
 */
import {
  BYTES_PER_ELEMENT,
  type Device,
  LimitError,
  Storage,
  Tensor,
  UnsupportedError,
  numel,
} from '@sd-webgpu/tensor';
import {
  DTYPE_SIZES,
  bf16ArrayToF16,
  bf16ArrayToF32,
  f16ArrayToF32,
  f32ArrayToF16,
  f64ArrayToF16,
  f64ArrayToF32,
  isFloatDtype,
  type SafetensorsDtype,
} from '../safetensors/dtype.js';
import { type SafetensorsFile, viewAs } from '../safetensors/file.js';
import type { StoredWeight, WeightDType } from './store.js';

/** Source bytes per read (a multiple of 8, so every chunk holds an even number of elements of any dtype). */
const CHUNK_BYTES = 16 << 20;
/** Bytes uploaded between queue drains. */
const FLUSH_BYTES = 256 << 20;

/** One tensor to upload: its name in the file and the diffusers key and shape it gets. */
export interface UploadItem {
  key: string;
  fileKey: string;
  shape: readonly number[];
}

/** Host-side changes to some weights before upload (LoRA merges): those are read whole as f32, changed, then converted. */
export interface WeightPatch {
  has(key: string): boolean;
  /** Changes the f32 weight `key` of `shape` in place. */
  apply(key: string, w: Float32Array, shape: readonly number[]): void;
}

export interface UploadOptions {
  /** Weights to change on the host before upload (keys are the store's diffusers keys). */
  patch?: WeightPatch | null;
  /** Called after each tensor with the file bytes read so far and in all. */
  onProgress?: (doneBytes: number, totalBytes: number) => void;
}

/**
 * Uploads `items` from `file` as `dtype` tensors (already resolved with `device.floatType`). On failure every tensor
 * uploaded so far is disposed before the error propagates.
 */
export async function uploadWeights(
  device: Device,
  file: SafetensorsFile,
  items: readonly UploadItem[],
  dtype: WeightDType,
  opts: UploadOptions = {},
): Promise<Map<string, StoredWeight>> {
  const out = new Map<string, StoredWeight>();
  const total = items.reduce((n, it) => n + file.info(it.fileKey).byteLength, 0);
  const scratch = new Scratch();
  let done = 0;
  let sinceFlush = 0;
  try {
    for (const it of items) {
      const tensor = opts.patch?.has(it.key)
        ? await uploadPatched(device, file, it, dtype, opts.patch)
        : await uploadTensor(device, file, it, dtype, scratch);
      out.set(it.key, it.fileKey === it.key ? { tensor } : { tensor, fileKey: it.fileKey });
      done += file.info(it.fileKey).byteLength;
      sinceFlush += tensor.byteLength;
      if (sinceFlush >= FLUSH_BYTES) {
        sinceFlush = 0;
        await drain(device);
      }
      opts.onProgress?.(done, total);
    }
    await drain(device);
  } catch (e) {
    for (const w of out.values()) w.tensor.dispose();
    throw e;
  }
  return out;
}

async function drain(device: Device): Promise<void> {
  device.flush();
  await device.gpu.queue.onSubmittedWorkDone();
}

/** Uploads one tensor, chunk by chunk, into a pooled buffer that no pending GPU work can still read. */
export async function uploadTensor(
  device: Device,
  file: SafetensorsFile,
  item: UploadItem,
  dtype: WeightDType,
  scratch: Scratch = new Scratch(),
): Promise<Tensor> {
  const info = file.info(item.fileKey);
  const where = `load '${item.fileKey}' from '${file.name}'`;
  if (!isFloatDtype(info.dtype)) {
    throw new UnsupportedError(where, `dtype ${info.dtype} is not a float type (F32, F16, BF16, F64)`);
  }
  if (numel(item.shape) !== numel(info.shape)) {
    throw new UnsupportedError(where, `cannot view shape [${info.shape.join(',')}] as [${item.shape.join(',')}]`);
  }
  const bytes = numel(item.shape) * BYTES_PER_ELEMENT[dtype];
  if (bytes > device.limits.maxBufferSize) {
    throw new LimitError(where, `${bytes} bytes exceed the device's maxBufferSize of ${device.limits.maxBufferSize}`);
  }
  const buffer = device.pool.acquire(bytes, { forUpload: true, exact: true });
  // a weight: owned by the store and then the module that takes it, never by an enclosing scope
  const tensor = device.keep(new Tensor(new Storage(device, buffer, bytes), item.shape, dtype));
  const srcSize = DTYPE_SIZES[info.dtype];
  const dstSize = BYTES_PER_ELEMENT[dtype];
  try {
    await file.readChunks(item.fileKey, CHUNK_BYTES, (chunk, offset) => {
      device.writeBuffer(buffer, (offset / srcSize) * dstSize, convert(chunk, info.dtype, dtype, scratch));
    });
  } catch (e) {
    tensor.dispose();
    throw e;
  }
  return tensor;
}

/** Reads a weight whole as f32, lets `patch` change it, uploads it as `dtype` (rounded once for f16). */
async function uploadPatched(device: Device, file: SafetensorsFile, item: UploadItem, dtype: WeightDType, patch: WeightPatch): Promise<Tensor> {
  const w = Float32Array.from(await file.readFloat32(item.fileKey));
  patch.apply(item.key, w, item.shape);
  return device.keep(device.tensor(w, item.shape, dtype));
}

/** Reusable conversion buffers (writeBuffer copies its input, so one chunk's output can be overwritten by the next). */
export class Scratch {
  #f32 = new Float32Array(0);
  #u16 = new Uint16Array(0);

  f32(n: number): Float32Array {
    if (this.#f32.length < n) this.#f32 = new Float32Array(n);
    return this.#f32.subarray(0, n);
  }

  u16(n: number): Uint16Array {
    if (this.#u16.length < n) this.#u16 = new Uint16Array(n);
    return this.#u16.subarray(0, n);
  }
}

/** The chunk's values as the bytes of `dst`: copies only when the dtypes differ. */
function convert(chunk: Uint8Array, src: SafetensorsDtype, dst: WeightDType, s: Scratch): Uint8Array {
  if ((src === 'F32' && dst === 'f32') || (src === 'F16' && dst === 'f16')) return chunk;
  const v = viewAs(chunk, src);
  const n = v.length;
  let out: Float32Array | Uint16Array;
  if (dst === 'f32') {
    if (src === 'F16') out = f16ArrayToF32(v as Uint16Array, s.f32(n));
    else if (src === 'BF16') out = bf16ArrayToF32(v as Uint16Array, s.f32(n));
    else out = f64ArrayToF32(v as Float64Array, s.f32(n));
  } else {
    if (src === 'F32') out = f32ArrayToF16(v as Float32Array, s.u16(n));
    else if (src === 'BF16') out = bf16ArrayToF16(v as Uint16Array, s.u16(n));
    else out = f64ArrayToF16(v as Float64Array, s.u16(n));
  }
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}
