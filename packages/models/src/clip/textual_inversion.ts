/**
 * Textual-inversion embedding files (safetensors only; pickled `.pt`/`.bin` files are refused by the checkpoint
 * sniffing elsewhere):
 * - diffusers `learned_embeds.safetensors`: one tensor named by its token, `{"<cat-toy>": [k, hidden]}` (or `[hidden]`);
 * - A1111 / kohya safetensors: `{"emb_params": [k, hidden]}`, which names no token: the caller gives one (the CLI and
 *   A1111 default to the file name).
 */
import { type SafetensorsInput, openSafetensors } from '../safetensors/open.js';
import { LoraError } from '../lora/errors.js';

export interface EmbeddingSpec {
  source: SafetensorsInput;
  /** The prompt token; required for `emb_params` files unless `source` is a path (then the file name is used). */
  token?: string;
  /** Name in messages (default: the path, or 'embedding'). */
  name?: string;
}

export interface TextualInversion {
  token: string;
  /** Number of vectors k (a k-vector token expands to k prompt tokens). */
  count: number;
  /** `[k, hidden]` row-major. */
  vectors: Float32Array;
}

/** Reads an embedding file and checks its width against the text encoder's hidden size. */
export async function readEmbedding(spec: EmbeddingSpec, hidden: number): Promise<TextualInversion> {
  const name = spec.name ?? (typeof spec.source === 'string' ? spec.source : 'embedding');
  const file = await openSafetensors(spec.source, { name });
  try {
    const keys = file.keys();
    if (keys.length !== 1) {
      throw new LoraError(name, keys.join(', ') || '(none)', `an embedding file holds exactly one tensor ({token: [k, ${hidden}]} or emb_params), found ${keys.length}`);
    }
    const key = keys[0]!;
    const shape = file.info(key).shape;
    const k = shape.length === 1 ? 1 : shape[0]!;
    if (!(shape.length === 1 || shape.length === 2) || shape[shape.length - 1] !== hidden || k < 1) {
      throw new LoraError(name, key, `must be [k, ${hidden}] (the text encoder's width), got [${shape.join(', ')}]`);
    }
    let token = spec.token;
    if (token === undefined) {
      if (key !== 'emb_params') token = key;
      else if (typeof spec.source === 'string') token = spec.source.replace(/^.*[\\/]/, '').replace(/\.safetensors$/i, '');
      else throw new LoraError(name, key, 'names no token (A1111 emb_params): pass one');
    }
    return { token, count: k, vectors: Float32Array.from(await file.readFloat32(key)) };
  } finally {
    await file.close();
  }
}
