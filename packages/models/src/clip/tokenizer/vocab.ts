/**
 * The CLIP vocabulary from either of its two distributions:
 * - Hugging Face / diffusers `tokenizer/vocab.json` + `tokenizer/merges.txt`;
 * - OpenAI's `bpe_simple_vocab_16e6.txt.gz`, from which the vocabulary is rebuilt exactly as
 *   `simple_tokenizer.SimpleTokenizer.__init__` does: the 256 byte symbols, the same with '</w>', the first
 *   48894 merges joined, then '<|startoftext|>' and '<|endoftext|>' (49408 entries).
 */
import { bytesToUnicode } from './bpe.js';
import { TokenizerFormatError, TokenizerLoadError } from './errors.js';

export const BOS_TOKEN = '<|startoftext|>';
export const EOS_TOKEN = '<|endoftext|>';
/** `49152 - 256 - 2`: the number of merges CLIP uses (OpenAI slices `[1:49152-256-2+1]`, HF does the same). */
export const CLIP_MERGE_COUNT = 49152 - 256 - 2;

export interface Vocab {
  /** token -> id. */
  readonly encoder: ReadonlyMap<string, number>;
  /** id -> token. */
  readonly decoder: readonly string[];
  /** `${first} ${second}` -> rank. */
  readonly ranks: ReadonlyMap<string, number>;
}

/** Split one merge line into its two symbols; `where` names the file and line for errors. */
function parseMerge(line: string, where: string): [string, string] {
  const parts = line.split(' ');
  if (parts.length !== 2 || !parts[0] || !parts[1]) {
    throw new TokenizerFormatError(where, `expected a merge 'first second', got ${JSON.stringify(line)}`);
  }
  return [parts[0], parts[1]];
}

/** `dict(zip(merges, range(len(merges))))`: a repeated merge keeps its last rank, as in Python. */
function ranksOf(merges: readonly [string, string][]): Map<string, number> {
  const ranks = new Map<string, number>();
  merges.forEach(([a, b], i) => ranks.set(a + ' ' + b, i));
  return ranks;
}

function invert(encoder: ReadonlyMap<string, number>, file: string): string[] {
  const decoder: string[] = [];
  for (const [token, id] of encoder) {
    if (decoder[id] !== undefined) {
      throw new TokenizerFormatError(file, `id ${id} is used by both ${JSON.stringify(decoder[id])} and ${JSON.stringify(token)}`);
    }
    decoder[id] = token;
  }
  return decoder;
}

/** Every merge result must be a vocabulary entry, or BPE would produce a symbol without an id. */
function checkMergesInVocab(merges: readonly [string, string][], encoder: ReadonlyMap<string, number>, file: string): void {
  merges.forEach(([a, b], i) => {
    if (!encoder.has(a + b)) {
      throw new TokenizerFormatError(file, `merge ${i + 1} ('${a} ${b}') yields '${a + b}', which vocab.json does not contain`);
    }
  });
}

function checkSpecials(encoder: ReadonlyMap<string, number>, file: string): void {
  for (const t of [BOS_TOKEN, EOS_TOKEN]) {
    if (!encoder.has(t)) throw new TokenizerFormatError(file, `missing special token '${t}'`);
  }
}

/** Vocabulary from HF `vocab.json` (text or parsed) and `merges.txt` text. */
export function vocabFromVocabMerges(vocabJson: string | Record<string, number>, mergesTxt: string): Vocab {
  let obj: unknown = vocabJson;
  if (typeof vocabJson === 'string') {
    try {
      obj = JSON.parse(vocabJson);
    } catch (e) {
      throw new TokenizerFormatError('vocab.json', `not valid JSON (${(e as Error).message})`);
    }
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    throw new TokenizerFormatError('vocab.json', `expected an object mapping token -> id, got ${Array.isArray(obj) ? 'an array' : typeof obj}`);
  }
  const encoder = new Map<string, number>();
  for (const [token, id] of Object.entries(obj as Record<string, unknown>)) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) {
      throw new TokenizerFormatError('vocab.json', `token ${JSON.stringify(token)} has id ${JSON.stringify(id)}, expected a non-negative integer`);
    }
    encoder.set(token, id);
  }
  checkSpecials(encoder, 'vocab.json');
  const decoder = invert(encoder, 'vocab.json');

  if (typeof mergesTxt !== 'string') {
    throw new TokenizerFormatError('merges.txt', `expected the file's text, got ${typeof mergesTxt}`);
  }
  // HF: merges_handle.read().strip().split('\n')[1 : 49152 - 256 - 2 + 1]; the first line is '#version: ...'.
  const lines = mergesTxt.replace(/\r\n/g, '\n').trim().split('\n');
  const start = lines[0]?.startsWith('#version') ? 1 : 0;
  const body = lines.slice(start, start + CLIP_MERGE_COUNT);
  const merges = body.map((l, i) => parseMerge(l, `merges.txt line ${start + i + 1}`));
  if (merges.length === 0) throw new TokenizerFormatError('merges.txt', 'contains no merges');
  checkMergesInVocab(merges, encoder, 'merges.txt');
  return { encoder, decoder, ranks: ranksOf(merges) };
}

/** Vocabulary from the decompressed text of `bpe_simple_vocab_16e6.txt`. */
export function vocabFromBpeText(text: string, file = 'bpe_simple_vocab_16e6.txt'): Vocab {
  const lines = text.split('\n');
  // OpenAI: merges = lines[1 : 49152 - 256 - 2 + 1]; the first line is the '#version' header.
  if (lines.length < CLIP_MERGE_COUNT + 1) {
    throw new TokenizerFormatError(file, `expected at least ${CLIP_MERGE_COUNT + 1} lines (header + merges), got ${lines.length}`);
  }
  const merges = lines.slice(1, CLIP_MERGE_COUNT + 1).map((l, i) => parseMerge(l, `${file} line ${i + 2}`));
  const { vocabOrder } = bytesToUnicode();
  const decoder = [...vocabOrder, ...vocabOrder.map((v) => v + '</w>'), ...merges.map(([a, b]) => a + b), BOS_TOKEN, EOS_TOKEN];
  const encoder = new Map<string, number>();
  decoder.forEach((t, i) => encoder.set(t, i));
  if (encoder.size !== decoder.length) {
    throw new TokenizerFormatError(file, `merges produce duplicate vocabulary entries (${decoder.length - encoder.size} duplicates)`);
  }
  return { encoder, decoder, ranks: ranksOf(merges) };
}

const isNode = (): boolean =>
  typeof process !== 'undefined' && typeof (process as { versions?: { node?: string } }).versions?.node === 'string';

/** gzip via `DecompressionStream` (browsers, Deno, Node >= 18). */
export async function gunzipStream(bytes: Uint8Array): Promise<Uint8Array> {
  // Copy into a plain ArrayBuffer-backed view: Blob does not take views of SharedArrayBuffer.
  const stream = new Blob([new Uint8Array(bytes)]).stream().pipeThrough(new DecompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Decompress gzip bytes: `node:zlib` in Node (imported on demand), `DecompressionStream` elsewhere. */
export async function gunzip(bytes: Uint8Array, file: string): Promise<Uint8Array> {
  if (!(bytes instanceof Uint8Array)) {
    throw new TokenizerFormatError(file, `expected the gzip file as a Uint8Array, got ${Object.prototype.toString.call(bytes)}`);
  }
  if (bytes.length < 18 || bytes[0] !== 0x1f || bytes[1] !== 0x8b) {
    const magic = Array.from(bytes.subarray(0, 2), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new TokenizerFormatError(file, `not a gzip file (expected magic bytes 1f 8b, got ${magic || 'nothing'})`);
  }
  if (!isNode() && typeof DecompressionStream === 'undefined') {
    throw new TokenizerLoadError(file, 'this runtime has neither node:zlib nor DecompressionStream');
  }
  try {
    if (!isNode()) return await gunzipStream(bytes);
    // A computed specifier keeps browser bundlers from trying to resolve a Node built-in.
    const zlibId = 'node:zlib';
    const zlib = (await import(/* @vite-ignore */ zlibId)) as typeof import('node:zlib');
    return new Uint8Array(zlib.gunzipSync(bytes));
  } catch (e) {
    throw new TokenizerFormatError(file, `gzip data is corrupt (${(e as Error).message})`);
  }
}

/** Vocabulary from the bytes of `bpe_simple_vocab_16e6.txt.gz`. */
export async function vocabFromBpeGz(bytes: Uint8Array, file = 'bpe_simple_vocab_16e6.txt.gz'): Promise<Vocab> {
  const raw = await gunzip(bytes, file);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    throw new TokenizerFormatError(file, 'decompressed content is not valid UTF-8');
  }
  return vocabFromBpeText(text, file);
}
