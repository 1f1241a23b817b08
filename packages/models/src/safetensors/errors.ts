import { SdError } from '@sd-webgpu/tensor';

/** A safetensors file (or byte buffer) whose bytes do not form a valid safetensors container. */
export class SafetensorsFormatError extends SdError {
  readonly file: string;
  readonly reason: string;
  constructor(file: string, reason: string) {
    super('safetensors_format', `invalid safetensors file '${file}': ${reason}`);
    this.file = file;
    this.reason = reason;
  }
}

/** A byte source (file, URL, blob) that could not deliver the requested bytes. */
export class ByteSourceError extends SdError {
  readonly source: string;
  constructor(source: string, detail: string) {
    super('byte_source', `cannot read '${source}': ${detail}`);
    this.source = source;
  }
}

/** A tensor name that the file does not contain. */
export class SafetensorsKeyError extends SdError {
  readonly file: string;
  readonly key: string;
  constructor(file: string, key: string, available: readonly string[]) {
    const near = available.slice(0, 8).map((k) => `'${k}'`).join(', ');
    const more = available.length > 8 ? `, ... (${available.length} in all)` : '';
    super('safetensors_key', `safetensors file '${file}' has no tensor '${key}' (has ${near || 'no tensors'}${more})`);
    this.file = file;
    this.key = key;
  }
}
