// Where the demo model's diffusers folder is, for StableDiffusion.load: a file: URL in Node; in a browser bundle,
// the URL the bundler or server gives the package's model/ folder.
/** The diffusers folder (ends with '/'). */
export const demoModelUrl = new URL('./model/', import.meta.url);

/** The folder's files, relative to demoModelUrl: `{ [path]: new URL(path, demoModelUrl).href }` is a loadable map. */
export const demoModelFiles = [
  'model_index.json',
  'scheduler/scheduler_config.json',
  'text_encoder/config.json',
  'text_encoder/model.safetensors',
  'tokenizer/merges.txt',
  'tokenizer/special_tokens_map.json',
  'tokenizer/tokenizer_config.json',
  'tokenizer/vocab.json',
  'unet/config.json',
  'unet/diffusion_pytorch_model.safetensors',
  'vae/config.json',
  'vae/diffusion_pytorch_model.safetensors',
];
