/**
 * The demo page's model pickers (examples/browser/model_source.ts), run in Node with real `File` objects: a picked
 * diffusers folder becomes a map of relative path → File that StableDiffusion.load reads through the browser code
 * path (MapTree over Blobs), with either the folder's tokenizer or the bundled vocabulary fetched over HTTP.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ClipTokenizer, loadDefaultTokenizer } from '@sd-webgpu/models';
import { StableDiffusion } from '@sd-webgpu/pipeline';
import { ParameterError } from '@sd-webgpu/tensor';
import {
  BUNDLED_VOCAB_FILE, bundledVocabUrl, fileSource, folderSource, formatBytes, tokenizerFor,
} from '../../examples/browser/model_source';

const ROOT = resolve(import.meta.dirname, '../..');
const TINY = join(ROOT, 'test/fixtures/models/tiny-sd');
const VOCAB = join(ROOT, 'packages/models/assets/bpe_simple_vocab_16e6.txt.gz');

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]);
}

/** What `<input webkitdirectory>` yields for a folder: Files whose webkitRelativePath starts with the folder name. */
function pickFolder(dir: string, keep: (rel: string) => boolean = () => true): File[] {
  const top = dir.split('/').pop()!;
  return walk(dir)
    .map((p) => relative(dir, p))
    .filter(keep)
    .map((rel) => {
      const f = new File([readFileSync(join(dir, rel))], rel.split('/').pop()!);
      Object.defineProperty(f, 'webkitRelativePath', { value: `${top}/${rel}` });
      return f;
    });
}

describe('model pickers', () => {
  it('a diffusers folder: map keyed by relative path, weight bytes, own tokenizer detected', () => {
    const files = pickFolder(TINY);
    const m = folderSource(files);
    expect(m.label).toBe('tiny-sd');
    expect(m.hasTokenizer).toBe(true);
    const map = m.source as Record<string, File>;
    expect(Object.keys(map)).toContain('tiny-sd/unet/config.json');
    expect(Object.keys(map)).toHaveLength(files.length);
    const weights = walk(TINY).filter((p) => p.endsWith('.safetensors')).reduce((n, p) => n + readFileSync(p).length, 0);
    expect(m.weightBytes).toBe(weights);
    expect(folderSource(pickFolder(TINY, (r) => !r.startsWith('tokenizer/'))).hasTokenizer).toBe(false);
  });

  it('rejects folders that are not diffusers checkpoints, naming what is missing', () => {
    expect(() => folderSource([])).toThrow(ParameterError);
    expect(() => folderSource(pickFolder(TINY, (r) => !r.startsWith('vae/')))).toThrow(/'tiny-sd' is not a diffusers folder: no vae\/config\.json/);
    expect(() => folderSource(pickFolder(TINY, (r) => !r.endsWith('.safetensors')))).toThrow(/no \.safetensors weights/);
  });

  it('a single file must be .safetensors and brings no tokenizer', () => {
    expect(() => fileSource(new File([new Uint8Array(8)], 'model.ckpt'))).toThrow(/must be a \.safetensors checkpoint \(got 'model\.ckpt'\)/);
    const m = fileSource(new File([new Uint8Array(10)], 'v1-5.SafeTensors'));
    expect(m).toMatchObject({ label: 'v1-5.SafeTensors', weightBytes: 10, hasTokenizer: false });
  });

  it('the bundled vocabulary is looked up next to the module, and sizes print readably', () => {
    const url = bundledVocabUrl();
    expect(url.href).toBe(new URL(BUNDLED_VOCAB_FILE, new URL('.', url)).href);
    expect(url.pathname.endsWith(`/examples/browser/${BUNDLED_VOCAB_FILE}`)).toBe(true);
    expect([formatBytes(512), formatBytes(2048), formatBytes(21.5 * 2 ** 20), formatBytes(4.27 * 2 ** 30)]).toEqual(['512 B', '2.0 KB', '22 MB', '4.3 GB']);
  });
});

describe('picked folder → StableDiffusion (the browser data path, on Dawn)', () => {
  // The page fetches the vocabulary copied next to the bundle; here fetch serves the package asset.
  const served: string[] = [];
  const fakeFetch = (async (input: RequestInfo | URL) => {
    served.push(String(input));
    return new Response(readFileSync(VOCAB), { status: 200 });
  }) as typeof fetch;
  const bundled = () => loadDefaultTokenizer({ url: 'http://localhost:8000/dist/bpe_simple_vocab_16e6.txt.gz', fetch: fakeFetch });

  async function generate(files: File[]): Promise<{ data: Uint8ClampedArray; usedBundled: boolean }> {
    const picked = folderSource(files);
    const before = served.length;
    const tokenizer = await tokenizerFor(picked, bundled);
    if (tokenizer) expect(tokenizer).toBeInstanceOf(ClipTokenizer);
    const sd = await StableDiffusion.load(picked.source, { dtype: 'f32', ...(tokenizer ? { tokenizer } : {}) });
    try {
      const [img] = await sd.txt2img({ prompt: 'a red apple on a table', steps: 2, seed: 42, scheduler: 'ddim', width: 64, height: 64 });
      expect([img!.width, img!.height]).toEqual([64, 64]);
      return { data: img!.data, usedBundled: served.length > before };
    } finally {
      sd.dispose();
    }
  }

  it("gives the same image with the folder's tokenizer and with the bundled vocabulary", async () => {
    const own = await generate(pickFolder(TINY));
    const fallback = await generate(pickFolder(TINY, (r) => !r.startsWith('tokenizer/')));
    expect(own.usedBundled).toBe(false);
    expect(fallback.usedBundled).toBe(true);
    expect(new Set(own.data).size).toBeGreaterThan(1);
    // Both tokenizers are OpenAI's CLIP BPE (tiny-sd ships the full 49408-token vocabulary): identical ids, so the
    // two runs execute identical GPU work and must agree bit for bit.
    expect(Buffer.from(fallback.data).equals(Buffer.from(own.data))).toBe(true);
  });
});
