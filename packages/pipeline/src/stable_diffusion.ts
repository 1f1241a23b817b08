import { Device, ParameterError, type Tensor, UnsupportedError } from '@sd-webgpu/tensor';
import { concat, mul, linearCombination, probeMatrixGemm, scale, slice } from '@sd-webgpu/kernels';
import {
  AutoencoderKL, type AutoencoderTiny, COMPONENTS, type Checkpoint, type CheckpointSource, ClipTextModel, ClipTokenizer,
  type ConfigOverrides, type EmbeddingSpec, LoraMerge, type LoraSpec, type ModelConfigs, type SafetensorsInput, UNet2DConditionModel,
  type WeightStore, disposeModule, loadDefaultTokenizer, loadTaesd, openCheckpoint, readEmbedding, rootScope,
} from '@sd-webgpu/models';
import { type DenoiseOptions, denoise, throwIfAborted } from './denoise.js';
import { NonFiniteError } from './finite_watch.js';
import { GpuLatentBackend } from './gpu_backend.js';
import { planInpaint } from './inpaint.js';
import { resizeRgba } from './image/resize.js';
import { checkRgbaImage } from './image/rgba.js';
import { rgbaToTensorData, tensorToRgba } from './image/tensor.js';
import {
  type GenerateOptions, type GeneratedImage, type Img2ImgOptions, type InpaintOptions, type ResolvedOptions, type RgbaImage,
  autoVaeTiling, checkOptionsObject, resolveOptions, resolveStrength,
} from './options.js';
import { TorchGenerator } from './rng/index.js';
import { type Scheduler, type SchedulerConfigInput, checkSchedulerConfig, createScheduler } from './schedulers/index.js';

export interface LoadOptions {
  /** An existing device (kept alive by the caller); otherwise one is created and owned by the model. */
  device?: Device;
  /** Weight and activation dtype; 'f16' falls back to 'f32' where the device lacks shader-f16. */
  dtype?: 'f32' | 'f16';
  /** Config fields a single-file checkpoint cannot reveal (e.g. CLIP head count of a non-standard model). */
  configs?: ConfigOverrides;
  /** A tokenizer to use instead of the checkpoint's (or the bundled CLIP vocabulary). */
  tokenizer?: ClipTokenizer;
  /**
   * LoRAs merged into the UNet and text encoder weights at load (kohya or diffusers/PEFT files), each with its scale:
   * `W + scale·(alpha/rank)·up·down`, in f32 on the host before upload. Every key of every file must apply.
   */
  loras?: readonly LoraSpec[];
  /** Textual-inversion embeddings to add (see `loadEmbedding`), in order. */
  embeddings?: readonly EmbeddingSpec[];
  /**
   * Called after each uploaded tensor with the component being loaded (text_encoder, unet, vae in that order) and the
   * bytes of its weights file(s) read so far and in all.
   */
  onProgress?: (p: { component: 'text_encoder' | 'unet' | 'vae'; doneBytes: number; totalBytes: number }) => void;
  /**
   * Keep less on the GPU: the VAE encoder is freed right after loading (txt2img needs only the decoder) and the text
   * encoder after each prompt encoding; both are loaded again from the checkpoint when a later call needs them
   * (img2img: the VAE encoder, for its encode only). Saves ~300 MiB for SD 1.x in f16 at the cost of re-reading
   * ~250 MiB per generation. LoRAs and embeddings are applied again on every reload.
   */
  lowMemory?: boolean;
}

/** A loaded Stable Diffusion 1.x model: tokenizer, CLIP text encoder, UNet, VAE, scheduler config. */
export class StableDiffusion {
  readonly dtype: 'f32' | 'f16';
  readonly #ownsDevice: boolean;

  #tokenizer: ClipTokenizer;
  #taesd: AutoencoderTiny | null = null;
  #textEncoder: ClipTextModel | null;
  /** lowMemory: where freed components are loaded again from (null: not lowMemory). */
  #reload: CheckpointSource | null = null;
  #loadOptions: LoadOptions = {};
  /** LoRAs merged at load (re-applied when lowMemory reloads the text encoder). */
  #lora: LoraMerge | null = null;
  /** Textual-inversion rows appended to the token table, in order (re-appended on a lowMemory reload). */
  readonly #embeddingRows: Float32Array[] = [];

  private constructor(
    readonly device: Device,
    readonly configs: ModelConfigs,
    tokenizer: ClipTokenizer,
    textEncoder: ClipTextModel,
    readonly unet: UNet2DConditionModel,
    readonly vae: AutoencoderKL,
    ownsDevice: boolean,
  ) {
    this.dtype = unet.dtype;
    this.#ownsDevice = ownsDevice;
    this.#tokenizer = tokenizer;
    this.#textEncoder = textEncoder;
  }

  /** The CLIP text encoder (with `lowMemory` it is freed after each encoding and loaded again when needed). */
  get textEncoder(): ClipTextModel {
    if (!this.#textEncoder) throw new UnsupportedError('StableDiffusion.textEncoder', 'freed by lowMemory after the last encoding');
    return this.#textEncoder;
  }

  /** Whether `lowMemory` is on. */
  get lowMemory(): boolean {
    return this.#reload !== null;
  }

  /** The prompt tokenizer (textual-inversion tokens included). */
  get tokenizer(): ClipTokenizer {
    return this.#tokenizer;
  }

  /**
   * Adds a textual-inversion embedding (diffusers `learned_embeds.safetensors` or A1111 `emb_params`): its token (or
   * `spec.token`) becomes usable in prompts; a k-vector embedding expands to k tokens as in diffusers. Returns the
   * token and its ids.
   */
  async loadEmbedding(spec: EmbeddingSpec): Promise<{ token: string; ids: number[] }> {
    const ti = await readEmbedding(spec, this.configs.textEncoder.hiddenSize);
    const { tokenizer, ids } = this.#tokenizer.withAddedToken(ti.token, ti.count);
    if (ids[0] !== this.textEncoder.vocabRows) {
      throw new ParameterError('StableDiffusion.loadEmbedding', 'tokenizer', `has ${ids[0]} ids but the text encoder ${this.textEncoder.vocabRows} rows`);
    }
    this.textEncoder.embeddings.appendTokens(ti.vectors);
    this.#embeddingRows.push(ti.vectors);
    this.#tokenizer = tokenizer;
    return { token: ti.token, ids };
  }

  /**
   * Loads a diffusers folder, a single .safetensors file (Node paths), or browser Files/URLs. Every component's file
   * is opened and its header checked first, before a device is created or any weight is uploaded.
   */
  static async load(source: CheckpointSource, opts: LoadOptions = {}): Promise<StableDiffusion> {
    let ckpt: Checkpoint | null = null;
    let sd: StableDiffusion;
    let device: Device | null = null;
    const loaded: WeightStore[] = [];
    try {
      ckpt = await openCheckpoint(source, { configs: opts.configs });
      const configs = ckpt.configs();
      if (configs.scheduler) checkSchedulerConfig(configs.scheduler);
      for (const c of COMPONENTS) await ckpt.componentShapes(c); // parses and checks each header, maps every key
      const files = await ckpt.tokenizerFiles();
      const tokenizer = opts.tokenizer ?? (files ? ClipTokenizer.fromVocabMerges(files.vocab, files.merges) : await loadDefaultTokenizer());
      device = opts.device ?? (await Device.create());
      const dtype = device.floatType(opts.dtype ?? 'f32');
      const lora = opts.loras?.length ? await LoraMerge.forCheckpoint(ckpt, opts.loras) : null;
      for (const c of ['text_encoder', 'unet', 'vae'] as const) {
        const onProgress = opts.onProgress;
        const upload = onProgress ? { onProgress: (doneBytes: number, totalBytes: number) => onProgress({ component: c, doneBytes, totalBytes }) } : {};
        loaded.push(await ckpt.loadComponent(c, device, dtype, { ...upload, patch: c === 'vae' ? null : lora?.patch(c) }));
      }
      const [textEncoder, unet, vae] = loaded as [WeightStore, WeightStore, WeightStore];
      sd = await StableDiffusion.fromWeights({ device, configs, tokenizer, stores: { textEncoder, unet, vae }, ownsDevice: !opts.device });
      sd.#lora = lora;
    } catch (e) {
      for (const s of loaded) (s.disposeAll ?? s.dispose).call(s); // fromWeights already did for its stores: idempotent
      if (device && !opts.device) device.dispose();
      throw e;
    } finally {
      await ckpt?.close();
    }
    try {
      for (const e of opts.embeddings ?? []) await sd.loadEmbedding(e);
      if (opts.lowMemory) {
        sd.#reload = source;
        sd.#loadOptions = { ...opts, dtype: sd.dtype };
        // txt2img decodes only: the encoder half of the VAE goes at once (img2img loads it again for its encode)
        sd.vae.disposeEncoder();
        await sd.device.sync();
      }
    } catch (e) {
      sd.dispose();
      throw e;
    }
    return sd;
  }

  /**
   * Builds the model from weight stores (a checkpoint's components, or `RandomStore`s for benchmarks at full size),
   * with strict accounting: a store key no module took throws `UnusedWeightsError`.
   */
  static async fromWeights(w: {
    device: Device;
    configs: ModelConfigs;
    stores: { textEncoder: WeightStore; unet: WeightStore; vae: WeightStore };
    tokenizer?: ClipTokenizer;
    ownsDevice?: boolean;
  }): Promise<StableDiffusion> {
    const { stores, configs } = w;
    const tokenizer = w.tokenizer ?? (await loadDefaultTokenizer());
    const built: object[] = [];
    try {
      if (configs.scheduler) checkSchedulerConfig(configs.scheduler);
      const textEncoder = new ClipTextModel(rootScope(stores.textEncoder).pp('text_model'), configs.textEncoder);
      built.push(textEncoder);
      const unet = new UNet2DConditionModel(rootScope(stores.unet), configs.unet);
      built.push(unet);
      const vae = new AutoencoderKL(rootScope(stores.vae), configs.vae);
      built.push(vae);
      for (const s of Object.values(stores)) s.finish();
      // Tensor cores for the f16 GEMMs where the adapter offers subgroup matrices and its driver compiles the kernels.
      if (w.device.features.subgroupMatrix.length) await probeMatrixGemm(w.device);
      return new StableDiffusion(w.device, configs, tokenizer, textEncoder, unet, vae, w.ownsDevice ?? false);
    } catch (e) {
      // a missing or misshapen weight, or an unused one: free what was uploaded and built so far
      for (const m of built) disposeModule(m);
      for (const s of Object.values(stores)) (s.disposeAll ?? s.dispose).call(s);
      throw e;
    }
  }

  /** Text to image. */
  async txt2img(options: GenerateOptions): Promise<GeneratedImage[]> {
    const o = resolveOptions(options, this.#defaultSize());
    this.#checkDecoders(o);
    throwIfAborted(o.signal);
    const gen = new TorchGenerator(o.seed);
    const sched = this.#scheduler(o);
    sched.setTimesteps(o.steps);
    const latents = this.#initialNoise(o, gen, sched.initNoiseSigma);
    return this.#generate(o, sched, gen, latents, sched.timesteps);
  }

  /** Image to image: encodes `image`, noises it to the strength's start step, denoises the remaining steps. */
  async img2img(options: Img2ImgOptions): Promise<GeneratedImage[]> {
    checkOptionsObject(options);
    const img = options.image;
    checkRgbaImage('StableDiffusion.img2img', img);
    const o = resolveOptions(options, { width: img.width - (img.width % 8), height: img.height - (img.height % 8) });
    const strength = resolveStrength(options.strength, o.steps);
    this.#checkDecoders(o);
    throwIfAborted(o.signal);
    const input = img.width === o.width && img.height === o.height ? img : resizeRgba(img, o.width, o.height);
    const gen = new TorchGenerator(o.seed);
    const sched = this.#scheduler(o);
    const { timesteps } = sched.img2imgTimesteps(o.steps, strength);
    // the posterior sample is drawn from the generator first, then the add_noise noise (diffusers order)
    const init = this.#repeat(await this.encodeImage(input, gen, this.#tiling(o)), o.numImages);
    const noise = this.device.tensor(gen.randn(init.shape), init.shape, this.dtype);
    const latents = sched.addNoise(init, noise, timesteps[0]!);
    init.dispose();
    noise.dispose();
    return this.#generate({ ...o, strength }, sched, gen, latents, timesteps);
  }

  /**
   * Inpainting: repaints where `mask` is white (luma ≥ 128; binarised at 0.5 as diffusers does) and keeps the rest.
   * A 9-channel inpainting UNet sees the mask and the masked image each step; an ordinary UNet gets the original
   * blended back outside the mask after each step. `strength` defaults to 1 (start from pure noise).
   */
  async inpaint(options: InpaintOptions): Promise<GeneratedImage[]> {
    checkOptionsObject(options);
    const { image: img, mask } = options;
    checkRgbaImage('StableDiffusion.inpaint', img);
    checkRgbaImage('StableDiffusion.inpaint (mask)', mask);
    const o = resolveOptions(options, { width: img.width - (img.width % 8), height: img.height - (img.height % 8) });
    const strength = resolveStrength(options.strength ?? 1, o.steps);
    this.#checkDecoders(o);
    throwIfAborted(o.signal);
    const fit = (x: RgbaImage) => (x.width === o.width && x.height === o.height ? x : resizeRgba(x, o.width, o.height));
    const gen = new TorchGenerator(o.seed);
    const sched = this.#scheduler(o);
    const { timesteps } = sched.img2imgTimesteps(o.steps, strength);
    const plan = await planInpaint(this, o, { image: fit(img), mask: fit(mask), strength, tiling: this.#tiling(o) }, sched, gen, timesteps);
    try {
      return await this.#generate({ ...o, strength }, sched, gen, plan.latents, timesteps, plan.hooks);
    } finally {
      for (const t of plan.owned) t.dispose();
    }
  }

  /**
   * Prompt embeddings `[rows, 77, hidden]` for `n` images: the n unconditional (negative prompt) rows first when
   * guiding, then the n prompt rows — the layout `denoise` expects. `clipSkip` as A1111 (1 = last layer). Owned by the
   * caller. With lowMemory the text encoder is loaded first if it was freed, and freed afterwards.
   */
  async encodePrompt(prompt: string, negativePrompt: string, n: number, guide: boolean, clipSkip = 1): Promise<Tensor> {
    const rows = [...(guide ? Array(n).fill(negativePrompt) : []), ...Array(n).fill(prompt)] as string[];
    const len = this.configs.textEncoder.maxPositionEmbeddings;
    const ids = new Int32Array(rows.length * len);
    rows.forEach((p, i) => ids.set(this.tokenizer.tokenize(p, { maxLength: len }).ids, i * len));
    if (!this.#textEncoder && this.#reload) {
      this.#textEncoder = await this.#reloadComponent('text_encoder', (s) => new ClipTextModel(rootScope(s).pp('text_model'), this.configs.textEncoder));
      for (const r of this.#embeddingRows) this.#textEncoder.embeddings.appendTokens(r);
    }
    const idsT = this.device.tensor(ids, [rows.length, len], 'i32');
    let emb: Tensor;
    try {
      emb = this.textEncoder.forward(idsT, undefined, clipSkip);
    } finally {
      idsT.dispose();
    }
    if (this.lowMemory) {
      await this.device.sync(); // the encoder's weights are read by the recorded work: free them once it has run
      disposeModule(this.#textEncoder!);
      this.#textEncoder = null;
    }
    return emb;
  }

  /** VAE-encodes an RGBA image (its size a multiple of 8) to scaled latents `[1, C, h/8, w/8]`, sampling with `gen`. */
  encodeImage(img: RgbaImage, gen: TorchGenerator, tiling = false): Promise<Tensor> {
    return this.encodePixels(rgbaToTensorData(img), img.width, img.height, gen, tiling);
  }

  /**
   * VAE-encodes pixels `[1, 3, height, width]` in [−1, 1] to scaled latents, sampling the posterior with `gen`
   * (`tiling`: diffusers' tiled encode). With lowMemory the encoder is loaded for this call only.
   */
  async encodePixels(data: Float32Array, width: number, height: number, gen: TorchGenerator, tiling = false): Promise<Tensor> {
    const dev = this.device;
    const pixels = dev.tensor(data, [1, 3, height, width], this.dtype);
    let vae = this.vae;
    if (this.lowMemory) {
      vae = await this.#reloadComponent('vae', (s) => new AutoencoderKL(rootScope(s), this.configs.vae));
      vae.disposeDecoder();
    }
    let posterior;
    try {
      posterior = tiling ? await vae.encodeTiled(pixels) : vae.encode(pixels);
    } finally {
      pixels.dispose();
      if (vae !== this.vae) disposeModule(vae);
    }
    const { mean, std, logvar } = posterior;
    const sf = this.configs.vae.scalingFactor;
    try {
      return dev.scope(() => {
        const e = dev.tensor(gen.randn(mean.shape), mean.shape, this.dtype);
        return linearCombination([[mean, sf], [mul(std, e), sf]]);
      });
    } finally {
      for (const t of [mean, std, logvar]) t.dispose();
    }
  }

  /** Decodes scaled latents `[n, C, h, w]` to RGBA float data `[n, 3, 8h, 8w]` in [-1, 1] (host copy). */
  async decodeLatents(latents: Tensor, decoder: 'vae' | 'taesd' = 'vae', tiling = false): Promise<Float32Array> {
    const dev = this.device;
    let decoded: Tensor;
    if (decoder === 'taesd') {
      const taesd = this.#requireTaesd('decoder');
      decoded = dev.scope(() => taesd.decode(latents));
    } else {
      const zs = scale(latents, 1 / this.configs.vae.scalingFactor);
      try {
        decoded = tiling ? await this.vae.decodeTiled(zs) : dev.scope(() => this.vae.decode(zs));
      } finally {
        zs.dispose();
      }
    }
    try {
      return await decoded.float32();
    } finally {
      decoded.dispose();
    }
  }

  /** The tiny autoencoder for previews / fast decoding, once `loadTaesd` ran. */
  get taesd(): AutoencoderTiny | null {
    return this.#taesd;
  }

  /**
   * Loads TAESD (diffusers `AutoencoderTiny` weights, e.g. madebyollin/taesd's `diffusion_pytorch_model.safetensors`,
   * with its parsed `config.json` when available) for `previewEvery` previews and `decoder: 'taesd'`.
   */
  async loadTaesd(weights: SafetensorsInput, config?: Record<string, unknown>): Promise<AutoencoderTiny> {
    const t = await loadTaesd(weights, this.device, this.dtype, config);
    if (t.cfg.latentChannels !== this.configs.vae.latentChannels) {
      disposeModule(t);
      throw new ParameterError('StableDiffusion.loadTaesd', 'weights', `TAESD has ${t.cfg.latentChannels} latent channels, the model ${this.configs.vae.latentChannels}`);
    }
    if (this.#taesd) disposeModule(this.#taesd);
    this.#taesd = t;
    return t;
  }

  /** previewEvery / decoder 'taesd' need a loaded TAESD: checked before any GPU work. */
  #checkDecoders(o: ResolvedOptions): void {
    if (o.previewEvery !== undefined) this.#requireTaesd('previewEvery');
    if (o.decoder === 'taesd') this.#requireTaesd('decoder');
  }

  #requireTaesd(option: string): AutoencoderTiny {
    if (!this.#taesd) throw new ParameterError('StableDiffusion', option, 'needs a TAESD: call loadTaesd() first');
    return this.#taesd;
  }

  /** RGBA preview of latents `[n, C, h, w]` (the first image) through TAESD. */
  async #preview(latents: Tensor): Promise<RgbaImage> {
    const taesd = this.#requireTaesd('previewEvery');
    const img = this.device.scope(() => taesd.decode(latents.shape[0] === 1 ? latents : slice(latents, 0, 0, 1)));
    try {
      const [, , h, w] = img.shape as [number, number, number, number];
      return { width: w, height: h, data: tensorToRgba(await img.float32(), [1, 3, h, w], 0) };
    } finally {
      img.dispose();
    }
  }

  /** Frees the weights; their GPU memory goes back to the GPU (not to the pool), or the owned device is disposed. */
  dispose(): void {
    for (const m of [this.#textEncoder, this.unet, this.vae, this.#taesd]) if (m) disposeModule(m);
    this.#textEncoder = null;
    this.#taesd = null;
    if (this.#ownsDevice) this.device.dispose();
    else this.device.trim();
  }

  /** lowMemory: loads one component again from the checkpoint (LoRAs merged again) and builds `build` from it. */
  async #reloadComponent<M extends object>(component: 'text_encoder' | 'vae', build: (store: WeightStore) => M): Promise<M> {
    const ckpt = await openCheckpoint(this.#reload!, { configs: this.#loadOptions.configs });
    try {
      const patch = component === 'vae' ? null : this.#lora?.patch(component);
      const store = await ckpt.loadComponent(component, this.device, this.dtype, { patch });
      try {
        const m = build(store);
        store.finish();
        return m;
      } catch (e) {
        (store.disposeAll ?? store.dispose).call(store);
        throw e;
      }
    } finally {
      await ckpt.close();
    }
  }

  /** Whether to tile the VAE for an image of w × h pixels: the option, else `autoVaeTiling`. */
  #tiling(o: ResolvedOptions): boolean {
    return o.vaeTiling ?? autoVaeTiling(o.width, o.height, this.vae.tileLatents * this.vae.downscale);
  }

  /** The text each prompt loses to CLIP's length limit (reported in the results). */
  #truncation(o: ResolvedOptions): GeneratedImage['truncated'] {
    const len = this.configs.textEncoder.maxPositionEmbeddings;
    const truncated: NonNullable<GeneratedImage['truncated']> = {};
    for (const [key, text] of [['prompt', o.prompt], ['negativePrompt', o.guidanceScale > 1 ? o.negativePrompt : '']] as const) {
      const bpe = this.tokenizer.encode(text);
      if (bpe.length > len - 2) truncated[key] = this.tokenizer.decode(bpe.slice(len - 2));
    }
    return Object.keys(truncated).length ? truncated : undefined;
  }

  #defaultSize(): { width: number; height: number } {
    const s = this.configs.unet.sampleSize * 8;
    return { width: s, height: s };
  }

  #scheduler(o: ResolvedOptions): Scheduler<Tensor> {
    const cfg = (this.configs.scheduler ?? undefined) as SchedulerConfigInput | undefined;
    return createScheduler(o.scheduler, new GpuLatentBackend(this.device), cfg);
  }

  /** Unit noise `[n, latentChannels, h/8, w/8]` (the VAE's latent channels, not the UNet's input channels) × sigma. */
  #initialNoise(o: ResolvedOptions, gen: TorchGenerator, sigma: number): Tensor {
    const shape = [o.numImages, this.configs.vae.latentChannels, o.height / 8, o.width / 8];
    const noise = this.device.tensor(gen.randn(shape), shape, this.dtype);
    try {
      return scale(noise, sigma);
    } finally {
      noise.dispose();
    }
  }

  /** `x` repeated n times along the batch (x itself when n = 1; otherwise x is disposed). */
  #repeat(x: Tensor, n: number): Tensor {
    if (n === 1) return x;
    try {
      return concat(Array(n).fill(x), 0);
    } finally {
      x.dispose();
    }
  }

  /** Encode the prompt, run the shared loop from `start` (owned), decode. */
  async #generate(
    o: ResolvedOptions, sched: Scheduler<Tensor>, gen: TorchGenerator, start: Tensor, timesteps: readonly number[],
    hooks: Pick<DenoiseOptions, 'modelInput' | 'afterStep'> = {},
  ): Promise<GeneratedImage[]> {
    const n = o.numImages;
    let context: Tensor | null = null;
    let latents: Tensor | null = start;
    try {
    throwIfAborted(o.signal);
      const truncated = this.#truncation(o);
      context = await this.encodePrompt(o.prompt, o.negativePrompt, n, o.guidanceScale > 1, o.clipSkip);
      const run = latents;
      latents = null; // denoise owns it now
      // previews: decoded after the step (x0 estimate where the scheduler gives one), handed to that step's onProgress
      let preview: RgbaImage | undefined;
      const every = o.previewEvery;
      const onLatents: DenoiseOptions['onLatents'] = every === undefined ? undefined : async (x, step, x0) => {
        const due = (step.index + 1) % every === 0 || step.index === step.totalSteps - 1;
        preview = due ? await this.#preview(x0 ?? x) : undefined;
      };
      const onProgress: DenoiseOptions['onProgress'] = o.onProgress && ((p) => o.onProgress!(preview ? { ...p, preview } : p));
      latents = await denoise({
        device: this.device, unet: this.unet, scheduler: sched, generator: gen, latents: run, timesteps, context,
        guidanceScale: o.guidanceScale, onProgress, onLatents, signal: o.signal, ...hooks,
      });
      context.dispose();
      context = null;
      const finalLatents = o.returnLatents ? await latents.float32() : null;
      // the UNet's free activation buffers are not the sizes the decoder needs: give them back before it allocates
      await this.device.sync();
      this.device.pool.trim();
      const data = await this.decodeLatents(latents, o.decoder, this.#tiling(o));
      for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i]!)) throw new NonFiniteError(null, timesteps.length);
      const params = {
        prompt: o.prompt, negativePrompt: o.negativePrompt, steps: o.steps, guidanceScale: o.guidanceScale, seed: o.seed,
        scheduler: o.scheduler, width: o.width, height: o.height, ...(o.strength !== undefined ? { strength: o.strength } : {}),
      };
      const per = finalLatents ? finalLatents.length / n : 0;
      return Array.from({ length: n }, (_, i) => ({
        width: o.width, height: o.height, data: tensorToRgba(data, [n, 3, o.height, o.width], i), seed: o.seed, params,
        ...(finalLatents ? { latents: finalLatents.slice(i * per, (i + 1) * per) } : {}),
        ...(truncated ? { truncated } : {}),
      }));
    } finally {
      context?.dispose();
      if (latents && !latents.disposed) latents.dispose();
      sched.reset();
    }
  }
}
