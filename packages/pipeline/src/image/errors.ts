import { SdError } from '@sd-webgpu/tensor';

/** Bytes that are not a readable PNG/JPEG (wrong magic, corrupt chunk, failed decode). `source` names the file. */
export class ImageFormatError extends SdError {
  readonly source: string;
  constructor(source: string, detail: string) {
    super('image_format', `image '${source}': ${detail}`);
    this.source = source;
  }
}

/** A generation-parameters text (A1111 `parameters` chunk) whose known field has an unreadable value. */
export class ParametersFormatError extends SdError {
  readonly field: string;
  constructor(field: string, detail: string) {
    super('parameters_format', `parameters text: field '${field}' ${detail}`);
    this.field = field;
  }
}
