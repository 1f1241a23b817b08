import { SdError } from '@sd-webgpu/tensor';

/** A LoRA or embedding file this engine cannot apply: an unknown, unpaired or unused key, or a shape that does not fit. */
export class LoraError extends SdError {
  readonly file: string;
  readonly key: string;
  constructor(file: string, key: string, detail: string) {
    super('lora', `'${file}': key '${key}': ${detail}`);
    this.file = file;
    this.key = key;
  }
}
