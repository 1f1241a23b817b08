/**
 * CLIP's BPE tokenizer with Stable Diffusion 1.x conventions: `encode` is OpenAI's `SimpleTokenizer.encode`
 * (cleanup, split, byte-level BPE), `tokenize` builds the 77-id text-encoder input
 * `[BOS] + ids[:75] + [EOS] + [EOS] * padding` (SD 1.x pads with <|endoftext|>).
 */
import { ParameterError } from '@sd-webgpu/tensor';
import { BoundedCache, bpeSymbols, bytesToUnicode } from './bpe.js';
import { cleanText, splitWords } from './clean.js';
import { TokenizerFormatError, TokenizerVocabError } from './errors.js';
import { BOS_TOKEN, EOS_TOKEN, type Vocab, vocabFromBpeGz, vocabFromVocabMerges } from './vocab.js';

export interface TokenizeOptions {
  /** Length of the id sequence, BOS and EOS included (CLIP's context length, 77 for SD 1.x). */
  maxLength?: number;
}

export interface TokenizeResult {
  /** `maxLength` ids: BOS, at most `maxLength - 2` BPE ids, EOS, then EOS as padding. */
  ids: Int32Array;
  /** True when the prompt had more than `maxLength - 2` BPE ids and the rest was dropped. */
  truncated: boolean;
  /** Index of the first EOS (= number of BPE ids kept + 1). */
  eosPosition: number;
}

export interface DecodeOptions {
  /** Drop <|startoftext|> and <|endoftext|> (default false, as OpenAI's decode keeps them). */
  skipSpecialTokens?: boolean;
}

/** Words whose BPE ids are remembered; prompts repeat words a lot, and the cap bounds memory on long sessions. */
const WORD_CACHE_CAPACITY = 16384;

export class ClipTokenizer {
  /** <|startoftext|>, 49406 in CLIP. */
  readonly bosId: number;
  /** <|endoftext|>, 49407 in CLIP. */
  readonly eosId: number;
  /** SD 1.x pads with <|endoftext|>. */
  readonly padId: number;
  readonly vocabSize: number;

  private readonly vocab: Vocab;
  private readonly byteToChar: string[];
  private readonly charToByte: Map<string, number>;
  private readonly cache = new BoundedCache<readonly number[]>(WORD_CACHE_CAPACITY);
  private readonly utf8 = new TextEncoder();
  /** Tokens added after the vocabulary (textual inversion): token → id, and each token's multi-vector expansion. */
  private readonly added: ReadonlyMap<string, { id: number; expansion: readonly number[] }>;
  /** Added tokens, longest first (HF splits on the longest match). */
  private readonly addedOrder: readonly string[];

  private constructor(vocab: Vocab, file: string, added: ReadonlyMap<string, { id: number; expansion: readonly number[] }> = new Map()) {
    this.vocab = vocab;
    this.added = added;
    this.addedOrder = [...added.keys()].sort((a, b) => b.length - a.length);
    const { byteToChar } = bytesToUnicode();
    this.byteToChar = byteToChar;
    this.charToByte = new Map(byteToChar.map((ch, b) => [ch, b]));
    // Every byte must have a symbol on its own and word-final, or some input could not be encoded.
    for (const ch of byteToChar) {
      for (const sym of [ch, ch + '</w>']) {
        if (!vocab.encoder.has(sym)) throw new TokenizerFormatError(file, `missing byte symbol ${JSON.stringify(sym)}`);
      }
    }
    this.bosId = vocab.encoder.get(BOS_TOKEN)!;
    this.eosId = vocab.encoder.get(EOS_TOKEN)!;
    this.padId = this.eosId;
    this.vocabSize = vocab.decoder.length + added.size;
    this.#file = file;
  }

  readonly #file: string;

  /**
   * A tokenizer with `token` added (textual inversion, as diffusers' `load_textual_inversion`): a `k`-vector embedding
   * becomes tokens `token, token_1, …, token_{k−1}` with ids from `vocabSize` on, and every occurrence of `token` in a
   * prompt expands to all k (`maybe_convert_prompt`). Added tokens are matched in the raw text, case-sensitively and
   * longest first, before cleaning; the text between them is tokenized as usual. Returns the new tokenizer and the ids.
   */
  withAddedToken(token: string, vectors: number): { tokenizer: ClipTokenizer; ids: number[] } {
    if (typeof token !== 'string' || token.trim() === '' || /\s/.test(token)) {
      throw new ParameterError('ClipTokenizer.withAddedToken', 'token', `must be a non-empty string without spaces (got ${JSON.stringify(token)})`);
    }
    if (!Number.isInteger(vectors) || vectors < 1) throw new ParameterError('ClipTokenizer.withAddedToken', 'vectors', `must be a positive integer (got ${vectors})`);
    const names = Array.from({ length: vectors }, (_, i) => (i === 0 ? token : `${token}_${i}`));
    for (const n of names) {
      if (this.vocab.encoder.has(n) || this.added.has(n)) {
        throw new ParameterError('ClipTokenizer.withAddedToken', 'token', `${JSON.stringify(n)} is already in the vocabulary`);
      }
    }
    const ids = names.map((_, i) => this.vocabSize + i);
    const added = new Map(this.added);
    added.set(token, { id: ids[0]!, expansion: ids });
    names.slice(1).forEach((n, i) => added.set(n, { id: ids[i + 1]!, expansion: [ids[i + 1]!] }));
    return { tokenizer: new ClipTokenizer(this.vocab, this.#file, added), ids };
  }

  /** From a diffusers/HF `tokenizer/` folder: `vocab.json` (text or parsed object) and `merges.txt` text. */
  static fromVocabMerges(vocabJson: string | Record<string, number>, mergesTxt: string): ClipTokenizer {
    return new ClipTokenizer(vocabFromVocabMerges(vocabJson, mergesTxt), 'vocab.json');
  }

  /** From the bytes of OpenAI's `bpe_simple_vocab_16e6.txt.gz`. */
  static async fromBpeGz(bytes: Uint8Array): Promise<ClipTokenizer> {
    return new ClipTokenizer(await vocabFromBpeGz(bytes), 'bpe_simple_vocab_16e6.txt.gz');
  }

  /** The cleaned text that BPE sees: ftfy, HTML unescape, whitespace collapse, lowercase. */
  clean(text: string): string {
    if (typeof text !== 'string') throw new ParameterError('ClipTokenizer.clean', 'text', `must be a string, got ${typeof text}`);
    return cleanText(text);
  }

  /** BPE ids of a prompt, without BOS/EOS and without truncation (`SimpleTokenizer.encode`). */
  encode(text: string): number[] {
    if (typeof text !== 'string') throw new ParameterError('ClipTokenizer.encode', 'text', `must be a string, got ${typeof text}`);
    const ids: number[] = [];
    for (const piece of this.splitAdded(text)) {
      if (typeof piece === 'number') {
        ids.push(piece);
        continue;
      }
      for (const word of splitWords(cleanText(piece))) {
        for (const id of this.encodeWord(word)) ids.push(id);
      }
    }
    return ids;
  }

  /** The raw text split on added tokens: text pieces and added-token ids (a multi-vector token gives all its ids). */
  private splitAdded(text: string): (string | number)[] {
    if (this.added.size === 0) return [text];
    const out: (string | number)[] = [];
    let start = 0;
    let i = 0;
    while (i < text.length) {
      const hit = this.addedOrder.find((t) => text.startsWith(t, i));
      if (!hit) {
        i++;
        continue;
      }
      if (i > start) out.push(text.slice(start, i));
      out.push(...this.added.get(hit)!.expansion);
      i += hit.length;
      start = i;
    }
    if (start < text.length) out.push(text.slice(start));
    return out;
  }

  /** SD 1.x text-encoder input: BOS, the first `maxLength - 2` BPE ids, EOS, EOS padding. */
  tokenize(text: string, options: TokenizeOptions = {}): TokenizeResult {
    const maxLength = options.maxLength ?? 77;
    if (!Number.isInteger(maxLength) || maxLength < 2) {
      throw new ParameterError('ClipTokenizer.tokenize', 'maxLength', `must be an integer >= 2 (room for BOS and EOS), got ${maxLength}`);
    }
    const bpe = this.encode(text);
    const kept = Math.min(bpe.length, maxLength - 2);
    const ids = new Int32Array(maxLength).fill(this.padId);
    ids[0] = this.bosId;
    for (let i = 0; i < kept; i++) ids[i + 1] = bpe[i]!;
    ids[kept + 1] = this.eosId;
    return { ids, truncated: bpe.length > kept, eosPosition: kept + 1 };
  }

  /** Text of BPE ids (`SimpleTokenizer.decode`): word ends become spaces, invalid UTF-8 becomes U+FFFD. */
  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    let symbols = '';
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (options.skipSpecialTokens && (id === this.bosId || id === this.eosId)) continue;
      symbols += this.idToToken(id);
    }
    const bytes: number[] = [];
    for (const ch of symbols) {
      const b = this.charToByte.get(ch);
      if (b === undefined) throw new TokenizerVocabError('ClipTokenizer.decode', `symbol ${JSON.stringify(ch)} is not a byte stand-in`);
      bytes.push(b);
    }
    return new TextDecoder('utf-8', { ignoreBOM: true }).decode(new Uint8Array(bytes)).replaceAll('</w>', ' ');
  }

  /** The vocabulary entry of an id (the `bpe_pieces` of the fixtures). */
  idToToken(id: number): string {
    for (const [t, a] of this.added) if (a.id === id) return t;
    const token = Number.isInteger(id) ? this.vocab.decoder[id] : undefined;
    if (token === undefined) {
      throw new TokenizerVocabError('ClipTokenizer.idToToken', `id ${id} is not in the vocabulary (0..${this.vocabSize - 1})`);
    }
    return token;
  }

  /** The id of a vocabulary entry, or undefined. */
  tokenToId(token: string): number | undefined {
    return this.vocab.encoder.get(token) ?? this.added.get(token)?.id;
  }

  /** One pre-tokenized word -> ids (`SimpleTokenizer.bpe` + encoder lookup), cached. */
  private encodeWord(word: string): readonly number[] {
    const hit = this.cache.get(word);
    if (hit) return hit;
    let mapped = '';
    for (const b of this.utf8.encode(word)) mapped += this.byteToChar[b]!;
    // OpenAI pre-seeds its BPE cache with the two special tokens, so a literal '<|endoftext|>' stays one token.
    const symbols = mapped === BOS_TOKEN || mapped === EOS_TOKEN ? [mapped] : bpeSymbols(mapped, this.vocab.ranks);
    const ids = symbols.map((s) => {
      const id = this.vocab.encoder.get(s);
      if (id === undefined) throw new TokenizerVocabError('ClipTokenizer.encode', `BPE symbol ${JSON.stringify(s)} of word ${JSON.stringify(word)} has no id`);
      return id;
    });
    this.cache.set(word, ids);
    return ids;
  }
}
