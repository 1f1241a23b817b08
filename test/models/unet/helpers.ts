/**
 * Helpers of the UNet tests: a weight store over a fixture case's tensors, uploads, tap recording, error scales.
 */
import { type Device, type Tensor } from '@sd-webgpu/tensor';
import { type StoredWeight, TensorStore, type WeightDType } from '../../../packages/models/src/weights/store';
import { type FixtureCase, type HostTensor, asFloat32 } from '../../helpers/fixtures';

/** A host tensor on the device as `dtype` (f16 rounds to nearest even; fixture weights are exact in f16). */
export function upload(device: Device, h: HostTensor, dtype: WeightDType): Tensor {
  return device.tensor(asFloat32(h), h.shape, dtype);
}

/** A strict store over a block case's `w.*` tensors, under their module-relative names. */
export function storeFromCase(device: Device, c: FixtureCase, dtype: WeightDType): TensorStore {
  const weights = new Map<string, StoredWeight>();
  for (const [key, h] of Object.entries(c.weights)) weights.set(key, { tensor: upload(device, h, dtype) });
  return new TensorStore(c.file, dtype, weights);
}

/**
 * Records tapped activations: each tap starts a readback at once (the copy is recorded before the model frees the
 * tensor), `results()` waits for them all.
 */
export class TapRecorder {
  readonly #pending: Promise<[string, Float32Array]>[] = [];
  readonly taps = (name: string, t: Tensor): void => {
    this.#pending.push(t.float32().then((d) => [name, d] as [string, Float32Array]));
  };

  async results(): Promise<Map<string, Float32Array>> {
    return new Map(await Promise.all(this.#pending));
  }
}

/** The README's error scale: max|ref|, or 1 where outputs are O(1) or smaller. */
export function errorScale(ref: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < ref.length; i++) m = Math.max(m, Math.abs(ref[i]!));
  return Math.max(1, m);
}
