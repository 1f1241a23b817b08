export { ClipTokenizer, type TokenizeOptions, type TokenizeResult, type DecodeOptions } from './clip_tokenizer.js';
export { loadDefaultTokenizer, DEFAULT_BPE_URL, type DefaultTokenizerSource } from './load_default.js';
export { cleanText, basicClean, whitespaceClean, splitWords } from './clean.js';
export { fixText } from './ftfy.js';
export { pyHtmlUnescape } from './html_unescape.js';
export { BOS_TOKEN, EOS_TOKEN } from './vocab.js';
export { TokenizerFormatError, TokenizerLoadError, TokenizerVocabError } from './errors.js';
