/**
 * Typed errors of weight loading: scoped lookups (shape / missing / unused), and checkpoint opening (unsupported
 * model family, missing component, not a safetensors file, bad config).
 */
import { SdError, shapeStr } from '@sd-webgpu/tensor';

/** Where a key came from, for messages: the file, and the original key when the checkpoint dialect renamed it. */
function origin(file: string, fileKey?: string): string {
  return fileKey ? `'${file}' (file key '${fileKey}')` : `'${file}'`;
}

/** A weight exists but has another shape than the module asked for. */
export class WeightShapeError extends SdError {
  readonly key: string;
  readonly expected: readonly number[];
  readonly got: readonly number[];
  readonly file: string;
  constructor(key: string, expected: readonly number[], got: readonly number[], file: string, fileKey?: string) {
    super(
      'weight_shape',
      `weight '${key}' in ${origin(file, fileKey)} has shape ${shapeStr(got)}, expected ${shapeStr(expected)}`,
    );
    this.key = key;
    this.expected = [...expected];
    this.got = [...got];
    this.file = file;
  }
}

/** A module asked for a weight the checkpoint does not contain. */
export class MissingWeightError extends SdError {
  readonly key: string;
  readonly file: string;
  constructor(key: string, file: string, detail = '') {
    super('weight_missing', `weight '${key}' is missing from '${file}'${detail ? ` (${detail})` : ''}`);
    this.key = key;
    this.file = file;
  }
}

/** Strict accounting failed: the file holds weights that no module consumed (and that are not on the allow-list). */
export class UnusedWeightsError extends SdError {
  readonly keys: readonly string[];
  readonly file: string;
  /** `fileKeys[i]`, when set, is the original key of `keys[i]` in the file (single-file checkpoints). */
  constructor(file: string, keys: readonly string[], fileKeys: readonly (string | undefined)[] = []) {
    const list = keys
      .slice(0, 20)
      .map((k, i) => (fileKeys[i] ? `'${k}' (file key '${fileKeys[i]}')` : `'${k}'`))
      .join(', ');
    const more = keys.length > 20 ? `, ... (${keys.length} in all)` : '';
    super('weight_unused', `${keys.length} weight(s) of '${file}' were not used by the model: ${list}${more}`);
    this.keys = [...keys];
    this.file = file;
  }
}

/** A checkpoint of a model family this engine does not run (SD 2.x, SDXL, ...). */
export class UnsupportedModelError extends SdError {
  readonly file: string;
  readonly key: string;
  readonly family: string;
  constructor(file: string, key: string, family: string, detail: string) {
    super(
      'unsupported_model',
      `'${file}' is a ${family} checkpoint, which is not supported (only Stable Diffusion 1.x is): ` +
        `revealed by '${key}' (${detail})`,
    );
    this.file = file;
    this.key = key;
    this.family = family;
  }
}

/** A checkpoint without one of the components SD needs (unet, vae, text_encoder). */
export class MissingComponentError extends SdError {
  readonly file: string;
  readonly component: string;
  constructor(file: string, component: string, detail: string) {
    super('component_missing', `'${file}' has no ${component}: ${detail}`);
    this.file = file;
    this.component = component;
  }
}

/** A weights file that is not safetensors (a PyTorch pickle .ckpt/.bin/.pt, ...). Nothing is unpickled, ever. */
export class NotSafetensorsError extends SdError {
  readonly file: string;
  constructor(file: string, detail: string) {
    super(
      'not_safetensors',
      `'${file}' is not a safetensors file: ${detail}. Only .safetensors weights are loaded ` +
        `(pickled checkpoints can run code when opened); convert it to safetensors first`,
    );
    this.file = file;
  }
}

/** A config.json (or config override) with a missing or invalid field. */
export class ConfigError extends SdError {
  readonly file: string;
  readonly field: string;
  constructor(file: string, field: string, detail: string) {
    super('config', `config '${file}': field '${field}' ${detail}`);
    this.file = file;
    this.field = field;
  }
}

/** A JSON file (model_index.json, config.json, ...) that does not parse to an object. */
export class JsonFileError extends SdError {
  readonly file: string;
  constructor(file: string, detail: string) {
    super('config', `'${file}' is not a valid JSON object: ${detail}`);
    this.file = file;
  }
}
