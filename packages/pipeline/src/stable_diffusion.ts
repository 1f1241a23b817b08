import { Device, type Tensor, UnsupportedError } from '@sd-webgpu/tensor';
import { concat, mul, linearCombination, scale, slice } from '@sd-webgpu/kernels';
import {
  AutoencoderKL, COMPONENTS, type Checkpoint, type CheckpointSource, ClipTextModel, ClipTokenizer, type ModelConfigs,
  type ConfigOverrides, UNet2DConditionModel, type WeightStore, disposeModule, loadDefaultTokenizer, openCheckpoint, rootScope,
} from '@sd-webgpu/models';
import { FiniteWatch } from './finite_watch.js';
import { GpuLatentBackend } from './gpu_backend.js';
import { resizeRgba } from './image/resize.js';
import { checkRgbaImage } from './image/rgba.js';
import { rgbaToTensorData, tensorToRgba } from './image/tensor.js';
import {
  type GenerateOptions, type GeneratedImage, type Img2ImgOptions, type ResolvedOptions, autoVaeTiling, checkOptionsObject, resolveOptions, resolveStrength,
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
   * Called after each uploaded tensor with the component being loaded (text_encoder, unet, vae in that order) and the
   * bytes of its weights file(s) read so far and in all.
   */
  onProgress?: (p: { component: 'text_encoder' | 'unet' | 'vae'; doneBytes: number; totalBytes: number }) => void;
  /**
   * Keep less on the GPU: the VAE encoder is freed right after loading (txt2img needs only the decoder) and the text
   * encoder after each prompt encoding; both are loaded again from the checkpoint when a later call needs them
   * (img2img: the VAE encoder, for its encode only). Saves ~300 MiB for SD 1.x in f16 at the cost of re-reading
   * ~250 MiB per generation.
   */
  lowMemory?: boolean;
}

/** Thrown when an AbortSignal stops a generation between steps. */
export class GenerationAbortedError extends Error {
  override readonly name = 'AbortError';
  constructor() {
    super('generation aborted');
  }
}

/** A loaded Stable Diffusion 1.x model: tokenizer, CLIP text encoder, UNet, VAE, scheduler config. */
export class StableDiffusion {
  readonly dtype: 'f32' | 'f16';
  readonly #ownsDevice: boolean;
  #textEncoder: ClipTextModel | null;
  /** lowMemory: where freed components are loaded again from (null: not lowMemory). */
  #reload: CheckpointSource | null = null;
  #loadOptions: LoadOptions = {};

  private constructor(
    readonly device: Device,
    readonly configs: ModelConfigs,
    readonly tokenizer: ClipTokenizer,
    textEncoder: ClipTextModel,
    readonly unet: UNet2DConditionModel,
    readonly vae: AutoencoderKL,
    ownsDevice: boolean,
  ) {
    this.dtype = unet.dtype;
    this.#textEncoder = textEncoder;
    this.#ownsDevice = ownsDevice;
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

  /**
   * Loads a diffusers folder, a single .safetensors file (Node paths), or browser Files/URLs. Every component's file
   * is opened and its header checked first, before a device is created or any weight is uploaded.
   */
  static async load(source: CheckpointSource, opts: LoadOptions = {}): Promise<StableDiffusion> {
    let ckpt: Checkpoint | null = null;
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
      for (const c of ['text_encoder', 'unet', 'vae'] as const) {
        const onProgress = opts.onProgress;
        const upload = onProgress ? { onProgress: (doneBytes: number, totalBytes: number) => onProgress({ component: c, doneBytes, totalBytes }) } : {};
        loaded.push(await ckpt.loadComponent(c, device, dtype, upload));
      }
      const [textEncoder, unet, vae] = loaded as [WeightStore, WeightStore, WeightStore];
      const sd = await StableDiffusion.fromWeights({ device, configs, tokenizer, stores: { textEncoder, unet, vae }, ownsDevice: !opts.device });
      if (opts.lowMemory) {
        sd.#reload = source;
        sd.#loadOptions = { ...opts, dtype };
        // txt2img decodes only: the encoder half of the VAE goes at once (img2img loads it again for its encode)
        disposeModule(sd.vae.encoder);
        disposeModule(sd.vae.quant_conv);
        await device.sync();
      }
      return sd;
    } catch (e) {
      for (const s of loaded) (s.disposeAll ?? s.dispose).call(s); // fromWeights already did for its stores: idempotent
      if (device && !opts.device) device.dispose();
      throw e;
    } finally {
      await ckpt?.close();
    }
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
    if (o.signal?.aborted) throw new GenerationAbortedError();
    const gen = new TorchGenerator(o.seed);
    const sched = this.#scheduler(o);
    sched.setTimesteps(o.steps);
    const [h, w] = [o.height / 8, o.width / 8];
    const shape = [o.numImages, this.configs.unet.inChannels, h, w];
    const noise = this.device.tensor(gen.randn(shape), shape, this.dtype);
    const latents = scale(noise, sched.initNoiseSigma);
    noise.dispose();
    return this.#run(o, sched, gen, latents, sched.timesteps);
  }

  /** Image to image: encodes `image`, noises it to the strength's start step, denoises the remaining steps. */
  async img2img(options: Img2ImgOptions): Promise<GeneratedImage[]> {
    checkOptionsObject(options);
    const img = options.image;
    checkRgbaImage('StableDiffusion.img2img', img);
    const o = resolveOptions(options, { width: img.width - (img.width % 8), height: img.height - (img.height % 8) });
    const strength = resolveStrength(options.strength, o.steps);
    if (o.signal?.aborted) throw new GenerationAbortedError();
    const input = img.width === o.width && img.height === o.height ? img : resizeRgba(img, o.width, o.height);
    const gen = new TorchGenerator(o.seed);
    const sched = this.#scheduler(o);
    const { timesteps } = sched.img2imgTimesteps(o.steps, strength);
    const dev = this.device;
    // 1. encode; the posterior sample is drawn from the generator first, then the add_noise noise (diffusers order)
    const pixels = dev.tensor(rgbaToTensorData(input), [1, 3, o.height, o.width], this.dtype);
    let vae = this.vae;
    if (this.lowMemory) {
      vae = await this.#reloadComponent('vae', (s) => new AutoencoderKL(rootScope(s), this.configs.vae));
      disposeModule(vae.decoder);
      disposeModule(vae.post_quant_conv);
    }
    let posterior;
    try {
      posterior = this.#tiling(o) ? await vae.encodeTiled(pixels) : vae.encode(pixels);
    } finally {
      pixels.dispose();
      if (vae !== this.vae) disposeModule(vae);
    }
    const { mean, std, logvar } = posterior;
    logvar.dispose();
    const sf = this.configs.vae.scalingFactor;
    const e1 = dev.tensor(gen.randn(mean.shape), mean.shape, this.dtype);
    const spread = mul(std, e1);
    const init1 = linearCombination([[mean, sf], [spread, sf]]);
    for (const t of [mean, std, e1, spread]) t.dispose();
    const init = o.numImages > 1 ? concat(Array(o.numImages).fill(init1), 0) : init1;
    if (init !== init1) init1.dispose();
    const e2 = dev.tensor(gen.randn(init.shape), init.shape, this.dtype);
    const latents = sched.addNoise(init, e2, timesteps[0]!);
    init.dispose();
    e2.dispose();
    return this.#run({ ...o, strength }, sched, gen, latents, timesteps);
  }

  /** Frees the weights; their GPU memory goes back to the GPU (not to the pool), or the owned device is disposed. */
  dispose(): void {
    for (const m of [this.#textEncoder, this.unet, this.vae]) if (m) disposeModule(m);
    this.#textEncoder = null;
    if (this.#ownsDevice) this.device.dispose();
    else this.device.trim();
  }

  /** lowMemory: loads one component again from the checkpoint and builds `build` from it (strictly accounted). */
  async #reloadComponent<M extends object>(component: 'text_encoder' | 'vae', build: (store: WeightStore) => M): Promise<M> {
    const ckpt = await openCheckpoint(this.#reload!, { configs: this.#loadOptions.configs });
    try {
      const store = await ckpt.loadComponent(component, this.device, this.dtype);
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

  #defaultSize(): { width: number; height: number } {
    const s = this.configs.unet.sampleSize * 8;
    return { width: s, height: s };
  }

  #scheduler(o: ResolvedOptions): Scheduler<Tensor> {
    const cfg = (this.configs.scheduler ?? undefined) as SchedulerConfigInput | undefined;
    return createScheduler(o.scheduler, new GpuLatentBackend(this.device), cfg);
  }

  /**
   * Prompt embeddings `[rows, 77, hidden]`: the unconditional rows first (when guiding), then the prompt rows; and the
   * text each prompt lost to CLIP's length limit. With lowMemory the text encoder is loaded first if it was freed, and
   * freed afterwards.
   */
  async #encodePrompt(o: ResolvedOptions, cfg: boolean): Promise<{ emb: Tensor; truncated: GeneratedImage['truncated'] }> {
    const n = o.numImages;
    const rows = [...(cfg ? Array(n).fill(o.negativePrompt) : []), ...Array(n).fill(o.prompt)] as string[];
    const len = this.configs.textEncoder.maxPositionEmbeddings;
    const ids = new Int32Array(rows.length * len);
    rows.forEach((p, i) => ids.set(this.tokenizer.tokenize(p, { maxLength: len }).ids, i * len));
    const truncated: NonNullable<GeneratedImage['truncated']> = {};
    for (const [key, text] of [['prompt', o.prompt], ['negativePrompt', cfg ? o.negativePrompt : '']] as const) {
      const bpe = this.tokenizer.encode(text);
      if (bpe.length > len - 2) truncated[key] = this.tokenizer.decode(bpe.slice(len - 2));
    }
    if (!this.#textEncoder && this.#reload) {
      this.#textEncoder = await this.#reloadComponent('text_encoder', (s) => new ClipTextModel(rootScope(s).pp('text_model'), this.configs.textEncoder));
    }
    const idsT = this.device.tensor(ids, [rows.length, len], 'i32');
    const emb = this.textEncoder.forward(idsT);
    idsT.dispose();
    if (this.lowMemory) {
      await this.device.sync(); // the encoder's weights are read by the recorded work: free them once it has run
      disposeModule(this.#textEncoder!);
      this.#textEncoder = null;
    }
    return { emb, truncated: Object.keys(truncated).length ? truncated : undefined };
  }

  async #run(o: ResolvedOptions, sched: Scheduler<Tensor>, gen: TorchGenerator, start: Tensor, timesteps: readonly number[]): Promise<GeneratedImage[]> {
    const dev = this.device;
    const guide = o.guidanceScale > 1;
    const n = o.numImages;
    let latents = start;
    let context: Tensor | null = null;
    const watch = new FiniteWatch(dev, timesteps.length);
    try {
      const prompt = await this.#encodePrompt(o, guide);
      context = prompt.emb;
      const ctx = context;
      for (let i = 0; i < timesteps.length; i++) {
        const t = timesteps[i]!;
        const x = latents;
        // Transient tensors of the step belong to the scope (freed even if the UNet throws); scheduler values are
        // owned explicitly (GpuLatentBackend keeps them out of scopes).
        const next = dev.scope(() => {
          const input = guide ? concat([x, x], 0) : x;
          const scaled = sched.scaleModelInput(input, t);
          let eps: Tensor;
          try {
            eps = this.unet.forward(scaled, t, ctx);
          } finally {
            scaled.dispose();
          }
          const guided = guide
            ? linearCombination([[slice(eps, 0, 0, n), 1 - o.guidanceScale], [slice(eps, 0, n, 2 * n), o.guidanceScale]])
            : eps;
          const { prevSample, predOriginalSample } = sched.step(guided, t, x, gen);
          predOriginalSample?.dispose();
          return prevSample;
        });
        latents.dispose();
        latents = next;
        watch.mark(latents, i + 1);
        // Wait for the step on the queue: the event loop runs meanwhile (timers, abort signals, a browser's page).
        await dev.sync();
        if (o.signal?.aborted) throw new GenerationAbortedError();
        o.onProgress?.({ step: i + 1, totalSteps: timesteps.length, timestep: t });
      }
      await watch.check();
      const finalLatents = o.returnLatents ? await latents.float32() : null;
      const z = latents;
      context.dispose();
      // the UNet's free activation buffers are not the sizes the decoder needs: give them back before it allocates
      await dev.sync();
      dev.pool.trim();
      const zs = scale(z, 1 / this.configs.vae.scalingFactor);
      let decoded: Tensor;
      try {
        decoded = this.#tiling(o) ? await this.vae.decodeTiled(zs) : dev.scope(() => this.vae.decode(zs));
      } finally {
        zs.dispose();
      }
      let data: Float32Array;
      try {
        data = await decoded.float32();
      } finally {
        decoded.dispose();
      }
      watch.checkPixels(data);
      const params = {
        prompt: o.prompt, negativePrompt: o.negativePrompt, steps: o.steps, guidanceScale: o.guidanceScale, seed: o.seed,
        scheduler: o.scheduler, width: o.width, height: o.height, ...(o.strength !== undefined ? { strength: o.strength } : {}),
      };
      const per = finalLatents ? finalLatents.length / n : 0;
      return Array.from({ length: n }, (_, i) => ({
        width: o.width, height: o.height, data: tensorToRgba(data, [n, 3, o.height, o.width], i), seed: o.seed, params,
        ...(finalLatents ? { latents: finalLatents.slice(i * per, (i + 1) * per) } : {}),
        ...(prompt.truncated ? { truncated: prompt.truncated } : {}),
      }));
    } finally {
      watch.dispose();
      context?.dispose();
      if (!latents.disposed) latents.dispose();
      sched.reset();
    }
  }
}
