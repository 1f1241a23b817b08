/**
 * What the page's model pickers produce, turned into a `StableDiffusion.load` source: a diffusers folder chosen with
 * `<input type=file webkitdirectory>` becomes a map of relative path → File; a single `.safetensors` File is passed
 * as is. Also decides where the CLIP vocabulary comes from: the folder's `tokenizer/` files when present, otherwise
 * the vocabulary the build copies next to the bundle.
 */
import type { CheckpointSource, ClipTokenizer, SafetensorsInput } from '@sd-webgpu/models';
import { ParameterError } from '@sd-webgpu/tensor';

/** Name of the gzipped CLIP vocabulary that scripts/build-browser.mjs copies into the bundle folder. */
export const BUNDLED_VOCAB_FILE = 'bpe_simple_vocab_16e6.txt.gz';

/** The components a Stable Diffusion 1.x diffusers folder must have (each as `<name>/config.json`). */
const REQUIRED_COMPONENTS = ['unet', 'vae', 'text_encoder'] as const;

export interface PickedModel {
  /** What to pass to `StableDiffusion.load`. */
  source: CheckpointSource;
  /** For the status line: the folder or file name. */
  label: string;
  /** Total bytes of the weights files (what will stream to the GPU); null for URLs until their headers are read. */
  weightBytes: number | null;
  /** The safetensors files the load reads (for the memory estimate, which reads their headers). */
  weightFiles: SafetensorsInput[];
  /** True when the folder carries tokenizer/vocab.json and tokenizer/merges.txt (the checkpoint's own tokenizer). */
  hasTokenizer: boolean;
}

/** A path as the folder map keys it: forward slashes, no leading `./` or `/`. */
function normalize(p: string): string {
  return p.replace(/\\/g, '/').replace(/^(\.\/|\/)+/, '');
}

/**
 * The path of `rel` below the picked folder: `webkitRelativePath` starts with the folder's own name
 * (`tiny-sd/unet/config.json`), which is dropped here so component checks see `unet/config.json`.
 */
function insideFolder(rel: string): string {
  const i = rel.indexOf('/');
  return i < 0 ? rel : rel.slice(i + 1);
}

/**
 * A folder picked with `webkitdirectory`: keyed by `webkitRelativePath` (the loader strips the common top folder).
 * Throws ParameterError when the folder is empty or lacks a component, naming what is missing and what was found.
 */
export function folderSource(files: ArrayLike<File>): PickedModel {
  if (files.length === 0) throw new ParameterError('model picker', 'folder', 'is empty (pick a diffusers folder with unet/, vae/, text_encoder/)');
  const map: Record<string, File> = {};
  const inner = new Set<string>();
  const weightFiles: File[] = [];
  let weightBytes = 0;
  for (let i = 0; i < files.length; i++) {
    const f = files[i]!;
    const rel = normalize(f.webkitRelativePath || f.name);
    map[rel] = f;
    inner.add(insideFolder(rel));
    if (rel.endsWith('.safetensors')) {
      weightBytes += f.size;
      weightFiles.push(f);
    }
  }
  const first = normalize(files[0]!.webkitRelativePath || files[0]!.name);
  const label = first.includes('/') ? first.slice(0, first.indexOf('/')) : 'folder';
  const missing = REQUIRED_COMPONENTS.filter((c) => !inner.has(`${c}/config.json`));
  if (missing.length > 0) {
    const seen = [...inner].slice(0, 6).join(', ');
    throw new ParameterError(
      'model picker',
      'folder',
      `'${label}' is not a diffusers folder: no ${missing.map((c) => `${c}/config.json`).join(', ')} (found ${seen}${inner.size > 6 ? ', ...' : ''})`,
    );
  }
  if (weightBytes === 0) {
    throw new ParameterError('model picker', 'folder', `'${label}' has no .safetensors weights (.bin/.ckpt pickles cannot be read)`);
  }
  const hasTokenizer = inner.has('tokenizer/vocab.json') && inner.has('tokenizer/merges.txt');
  return { source: map, label, weightBytes, weightFiles, hasTokenizer };
}

/** A single original-layout checkpoint file (`v1-5-pruned-emaonly.safetensors`); it carries no tokenizer. */
export function fileSource(file: File): PickedModel {
  if (!file.name.toLowerCase().endsWith('.safetensors')) {
    throw new ParameterError('model picker', 'file', `must be a .safetensors checkpoint (got '${file.name}')`);
  }
  return { source: file, label: file.name, weightBytes: file.size, weightFiles: [file], hasTokenizer: false };
}

/** A diffusers folder's weights files, as served by the Hugging Face layout. */
const FOLDER_WEIGHTS = ['text_encoder/model.safetensors', 'unet/diffusion_pytorch_model.safetensors', 'vae/diffusion_pytorch_model.safetensors'];
const FOLDER_OPTIONAL = ['model_index.json', 'scheduler/scheduler_config.json', 'tokenizer/vocab.json', 'tokenizer/merges.txt'];

/**
 * A model URL typed into the page: a `.safetensors` file (read with Range requests), or a diffusers folder when the
 * URL ends in `/` (its component configs and weights files by their standard names; the optional files are probed
 * with HEAD requests). Relative URLs resolve against the page.
 */
export async function urlSource(text: string, base: string, fetchFn: typeof fetch = fetch): Promise<PickedModel> {
  let url: URL;
  try {
    url = new URL(text.trim(), base);
  } catch {
    throw new ParameterError('model URL', 'url', `is not a URL (got '${text}')`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ParameterError('model URL', 'url', `must be http(s) (got '${url.protocol}')`);
  }
  const label = url.pathname.split('/').filter(Boolean).pop() ?? url.host;
  if (!url.pathname.endsWith('/')) {
    if (!url.pathname.toLowerCase().endsWith('.safetensors')) {
      throw new ParameterError('model URL', 'url', `must name a .safetensors file or a diffusers folder ending in / (got '${url.href}')`);
    }
    return { source: url, label, weightBytes: null, weightFiles: [url], hasTokenizer: false };
  }
  const at = (rel: string) => new URL(rel, url);
  const present = await Promise.all(FOLDER_OPTIONAL.map(async (rel) => {
    try {
      return (await fetchFn(at(rel), { method: 'HEAD' })).ok;
    } catch {
      return false;
    }
  }));
  const files = [...REQUIRED_COMPONENTS.map((c) => `${c}/config.json`), ...FOLDER_WEIGHTS, ...FOLDER_OPTIONAL.filter((_, i) => present[i])];
  const map: Record<string, URL> = Object.fromEntries(files.map((rel) => [rel, at(rel)]));
  const hasTokenizer = 'tokenizer/vocab.json' in map && 'tokenizer/merges.txt' in map;
  return { source: map, label, weightBytes: null, weightFiles: FOLDER_WEIGHTS.map(at), hasTokenizer };
}

/** Where the bundled vocabulary lives: next to the bundle's entry chunk. */
export function bundledVocabUrl(): URL {
  return new URL(`./${BUNDLED_VOCAB_FILE}`, import.meta.url);
}

/**
 * The tokenizer to hand to `StableDiffusion.load`: none when the folder has tokenizer/ files (the loader reads
 * them), otherwise the bundled CLIP vocabulary from `bundled()` (the loader's own default would look for the asset
 * relative to the library's source layout, which a bundle does not keep).
 */
export async function tokenizerFor(model: PickedModel, bundled: () => Promise<ClipTokenizer>): Promise<ClipTokenizer | undefined> {
  return model.hasTokenizer ? undefined : bundled();
}

/** `12.3 MB` style sizes for the status line. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}
