export * from './safetensors';
export * from './clip/tokenizer';
