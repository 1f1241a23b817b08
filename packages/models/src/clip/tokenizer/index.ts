export { ClipTokenizer, type TokenizeOptions, type TokenizeResult, type DecodeOptions } from './clip_tokenizer';
export { loadDefaultTokenizer, DEFAULT_BPE_URL, type DefaultTokenizerSource } from './load_default';
export { cleanText, basicClean, whitespaceClean, splitWords } from './clean';
export { fixText } from './ftfy';
export { pyHtmlUnescape } from './html_unescape';
export { BOS_TOKEN, EOS_TOKEN } from './vocab';
export { TokenizerFormatError, TokenizerLoadError, TokenizerVocabError } from './errors';
