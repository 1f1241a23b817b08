import { SdError } from '@sd-webgpu/tensor';

/** Vocabulary files (vocab.json, merges.txt, bpe_simple_vocab_16e6.txt.gz) whose content is not what CLIP needs. */
export class TokenizerFormatError extends SdError {
  readonly file: string;
  readonly reason: string;
  constructor(file: string, reason: string) {
    super('tokenizer_format', `invalid tokenizer file '${file}': ${reason}`);
    this.file = file;
    this.reason = reason;
  }
}

/** The default vocabulary could not be read (missing asset, failed fetch, no gzip support). */
export class TokenizerLoadError extends SdError {
  readonly source: string;
  constructor(source: string, detail: string) {
    super('tokenizer_load', `cannot load the CLIP vocabulary from '${source}': ${detail}`);
    this.source = source;
  }
}

/** A token id outside the vocabulary (decode) or a BPE symbol the vocabulary lacks (encode). */
export class TokenizerVocabError extends SdError {
  constructor(where: string, detail: string) {
    super('tokenizer_vocab', `${where}: ${detail}`);
  }
}
