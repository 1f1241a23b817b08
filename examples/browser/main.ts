/**
 * The browser demo page: pick a model (a diffusers folder, one .safetensors file, or a URL), see the memory it needs
 * and its load progress, type a prompt, optionally pick an img2img image, and watch the steps (it/s, ETA, "compiling
 * shaders (n/m)" on first use) until the RGBA result lands on the canvas; Stop returns at once, and the PNG download
 * carries the same `parameters` text as the CLI's. A lost GPU device is reported and a new one can be made without a
 * reload. Built by scripts/build-browser.mjs into examples/browser/dist/ (serve examples/browser/).
 */
import { type ClipTokenizer, loadDefaultTokenizer } from '@sd-webgpu/models';
import {
  type GenerateOptions, type GeneratedImage, type RgbaImage, SAMPLER_DISPLAY_NAMES, SCHEDULER_NAMES, type SchedulerName,
  StableDiffusion, formatParameters,
} from '@sd-webgpu/pipeline';
import { Device, DeviceLostError } from '@sd-webgpu/tensor';
import { pngWithParameters } from './download';
import { readGuidance, readInt, readSeed, readSide, readStrength } from './form';
import { readImageFile } from './image_input';
import { countWeights, estimateMemory } from './memory';
import {
  type PickedModel, bundledVocabUrl, fileSource, folderSource, formatBytes, tokenizerFor, urlSource,
} from './model_source';
import { StepClock, stepStatus } from './progress';
import { type PageState, setState, ui } from './ui';

/** The sampler the page opens on (A1111's default). */
const DEFAULT_SAMPLER: SchedulerName = 'dpmpp_2m_karras';
/** How often the status shows shader compilation progress while a generation runs. */
const COMPILE_POLL_MS = 250;

let device: Device | null = null;
let model: StableDiffusion | null = null;
let picked: PickedModel | null = null;
let weightCount: { elements: number; bytes: number } | null = null;
let initImage: RgbaImage | null = null;
let bundledTokenizer: Promise<ClipTokenizer> | null = null;
/** The load or generation in flight (a stopped generation stays here until its current step ends). */
let busy: Promise<unknown> | null = null;
let running: AbortController | null = null;
let downloadUrl: string | null = null;

function show(state: PageState, message: string): void {
  setState(state, message, { hasDevice: device !== null, hasModel: model !== null, busy: busy !== null, f16: device?.features.f16 ?? false });
}

function fail(e: unknown): void {
  if (e instanceof DeviceLostError || document.body.dataset.state === 'lost') return; // onDeviceLost said what happened
  const err = e instanceof Error ? e : new Error(String(e));
  console.error(err);
  show('error', `${err.name}: ${err.message}`);
}

/** Runs `task` as the page's one load or generation; the controls stay disabled until it settles. */
async function exclusive(task: () => Promise<void>): Promise<void> {
  if (busy) return;
  const p = task();
  busy = p;
  try {
    await p;
  } finally {
    busy = null;
    show((document.body.dataset.state ?? 'ready') as PageState, ui.status.textContent ?? '');
  }
}

/** The shipped CLIP vocabulary (fetched once), for checkpoints without tokenizer/ files. */
function defaultTokenizer(): Promise<ClipTokenizer> {
  bundledTokenizer ??= loadDefaultTokenizer({ url: bundledVocabUrl() }).catch((e: unknown) => {
    bundledTokenizer = null;
    throw e;
  });
  return bundledTokenizer;
}

function chosenDtype(): 'f32' | 'f16' {
  return ui.f16.checked && device?.features.f16 ? 'f16' : 'f32';
}

/** The memory line for the picked model at the chosen dtype and image size (the model default when unset). */
function showMemory(): void {
  if (!weightCount || !picked) {
    ui.memory.textContent = '';
    return;
  }
  let w = 512;
  let h = 512;
  try {
    w = readSide(ui.width.value, 'width') ?? (model ? model.configs.unet.sampleSize * 8 : 512);
    h = readSide(ui.height.value, 'height') ?? (model ? model.configs.unet.sampleSize * 8 : 512);
  } catch {
    // an invalid size is reported when generating; the estimate keeps the default
  }
  const est = estimateMemory(weightCount.elements, chosenDtype(), w, h);
  ui.memory.textContent = `${picked.label} needs about ${formatBytes(est.totalBytes)} of GPU memory: ` +
    `${formatBytes(est.weightBytes)} of ${chosenDtype()} weights (${(weightCount.elements / 1e6).toFixed(1)} M parameters) ` +
    `+ ~${formatBytes(est.activationBytes)} of activations for ${w}x${h}`;
}

async function loadModel(next: PickedModel): Promise<void> {
  const dev = device;
  if (!dev) return;
  model?.dispose();
  model = null;
  picked = next;
  weightCount = null;
  const dtype = chosenDtype();
  show('loading', `reading ${next.label}'s headers...`);
  weightCount = await countWeights(next.weightFiles);
  showMemory();
  const totalBytes = weightCount.bytes; // tensor bytes, as the upload counts them
  ui.progress.max = Math.max(totalBytes, 1);
  ui.progress.value = 0;
  show('loading', `loading ${next.label} (${formatBytes(totalBytes)} of weights, ${dtype})...`);
  const t0 = performance.now();
  const finished = new Map<string, number>();
  // The folder's own tokenizer/ files win; otherwise the vocabulary copied next to the bundle.
  const tokenizer = await tokenizerFor(next, defaultTokenizer);
  model = await StableDiffusion.load(next.source, {
    device: dev,
    dtype,
    ...(tokenizer ? { tokenizer } : {}),
    onProgress: ({ component, doneBytes, totalBytes: componentBytes }) => {
      finished.set(component, doneBytes);
      const done = [...finished.values()].reduce((a, b) => a + b, 0);
      ui.progress.value = done;
      ui.status.textContent = `loading ${component}: ${formatBytes(done)} of ${formatBytes(totalBytes)} ` +
        `(${Math.round((100 * done) / Math.max(totalBytes, 1))} %; ${formatBytes(componentBytes)} in ${component})`;
    },
  });
  const seconds = ((performance.now() - t0) / 1000).toFixed(1);
  const vocab = next.hasTokenizer ? "the folder's tokenizer" : 'the bundled CLIP vocabulary';
  const side = model.configs.unet.sampleSize * 8;
  ui.width.placeholder = ui.height.placeholder = `${side} (default)`;
  showMemory();
  show('loaded', `loaded ${next.label} in ${seconds}s (${model.dtype}, ${vocab})`);
}

function pick(make: () => PickedModel | Promise<PickedModel | null> | null): void {
  void exclusive(async () => {
    try {
      const next = await make();
      if (next) await loadModel(next);
    } catch (e) {
      fail(e);
    }
  });
}

async function draw(image: GeneratedImage): Promise<void> {
  ui.canvas.width = image.width;
  ui.canvas.height = image.height;
  const ctx = ui.canvas.getContext('2d');
  if (!ctx) throw new Error('canvas: no 2d context');
  // ImageData wants its own ArrayBuffer-backed array; the result's bytes are copied once.
  ctx.putImageData(new ImageData(new Uint8ClampedArray(image.data), image.width, image.height), 0, 0);
  const text = formatParameters(image.params);
  ui.parameters.textContent = text;
  const blob = await pngWithParameters(ui.canvas, text);
  if (downloadUrl) URL.revokeObjectURL(downloadUrl);
  downloadUrl = URL.createObjectURL(blob);
  ui.download.href = downloadUrl;
  ui.download.download = `sd-webgpu-${image.seed}.png`;
  ui.download.hidden = false;
}

/** The form's settings as library options (ParameterError on a bad field, before any GPU work). */
function readSettings(): GenerateOptions {
  const seed = readSeed(ui.seed.value);
  const width = readSide(ui.width.value, 'width');
  const height = readSide(ui.height.value, 'height');
  return {
    prompt: ui.prompt.value,
    negativePrompt: ui.negative.value,
    steps: readInt(ui.steps.value, 'steps', 1, 1000),
    guidanceScale: readGuidance(ui.guidance.value),
    scheduler: ui.scheduler.value as SchedulerName,
    ...(seed !== undefined ? { seed } : {}),
    ...(width !== undefined ? { width } : {}),
    ...(height !== undefined ? { height } : {}),
  };
}

/** Resolves when `signal` aborts: Stop answers at once even while a long step (or shader compilation) runs. */
function whenAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    signal.addEventListener('abort', () => reject(Object.assign(new Error('stopped'), { name: 'AbortError' })), { once: true });
  });
}

async function generate(): Promise<void> {
  const sd = model;
  const dev = device;
  if (!sd || !dev || busy) return;
  let settings: GenerateOptions;
  let strength = 0;
  try {
    settings = readSettings();
    if (initImage) strength = readStrength(ui.strength.value);
  } catch (e) {
    fail(e);
    return;
  }
  const steps = settings.steps!;
  const ctrl = new AbortController();
  running = ctrl;
  let step = 0;
  let line = `step 0/${steps}`;
  const clock = new StepClock();
  // Shader compilation happens in the GPU process while the page waits for the first step: show its progress.
  const compiledBefore = dev.pipelines.compiled;
  const requestedBefore = dev.pipelines.requested;
  const render = () => {
    const { compiled, requested } = dev.pipelines;
    const pending = requested > compiled;
    ui.status.textContent = pending
      ? `compiling shaders (${compiled - compiledBefore}/${requested - requestedBefore}), ${line}`
      : line;
  };
  const t0 = performance.now();
  const call = (async () => {
    const common: GenerateOptions = {
      ...settings,
      signal: ctrl.signal,
      onProgress: (p) => {
        step = p.step;
        ui.progress.max = p.totalSteps;
        ui.progress.value = p.step;
        line = stepStatus(p.step, p.totalSteps, clock.step(p.step, p.totalSteps));
        if (p.step === p.totalSteps) line += ', decoding';
        render();
      },
    };
    return initImage ? sd.img2img({ ...common, image: initImage, strength }) : sd.txt2img(common);
  })();
  // A stopped call keeps the page busy (Generate disabled) until its step ends; its result or error is dropped.
  void exclusive(() => call.then(() => undefined, () => undefined));
  ui.progress.max = steps;
  ui.progress.value = 0;
  show('generating', line);
  const poll = setInterval(render, COMPILE_POLL_MS);
  try {
    const [image] = await Promise.race([call, whenAborted(ctrl.signal)]);
    await draw(image!);
    const seconds = ((performance.now() - t0) / 1000).toFixed(1);
    show('done', `${image!.width}x${image!.height} in ${seconds}s, seed ${image!.seed}`);
  } catch (e) {
    if (e instanceof Error && e.name === 'AbortError') show('stopped', `stopped after step ${step}/${steps}`);
    else fail(e);
  } finally {
    clearInterval(poll);
    running = null;
  }
}

function onDeviceLost(e: DeviceLostError, lostDevice: Device): void {
  if (device !== lostDevice) return;
  running?.abort();
  try {
    model?.dispose();
    lostDevice.dispose();
  } catch (err) {
    console.warn('freeing the lost device:', err);
  }
  model = null;
  device = null;
  console.warn(e);
  show('lost', `the GPU device was lost (${e.reason}): make a new GPU device below or reload the page; ` +
    'if it happens again, choose f32 or a smaller size');
}

async function makeDevice(): Promise<boolean> {
  let dev: Device;
  try {
    dev = await Device.create({
      onError: (err) => {
        if (err instanceof DeviceLostError) onDeviceLost(err, dev);
        else console.error(err);
      },
    });
  } catch (e) {
    show('no-webgpu', `WebGPU is present but no device could be created: ${(e as Error).message}`);
    return false;
  }
  device = dev;
  const info = dev.adapterInfo;
  if (!dev.features.f16) ui.f16.checked = false;
  ui.device.textContent = `${info.vendor || 'unknown vendor'} ${info.architecture || info.description}`.trim() +
    (dev.features.f16 ? '' : ' (no shader-f16: f32 only)');
  return true;
}

async function start(): Promise<void> {
  for (const name of SCHEDULER_NAMES) ui.scheduler.add(new Option(SAMPLER_DISPLAY_NAMES[name], name));
  ui.scheduler.value = DEFAULT_SAMPLER; // `selected` (not only `defaultSelected`): what the select shows and submits
  ui.folder.addEventListener('change', () => pick(() => (ui.folder.files?.length ? folderSource(ui.folder.files) : null)));
  ui.file.addEventListener('change', () => pick(() => (ui.file.files?.[0] ? fileSource(ui.file.files[0]) : null)));
  ui.loadUrl.addEventListener('click', () => pick(() => urlSource(ui.url.value, document.baseURI)));
  ui.f16.addEventListener('change', () => {
    if (picked) pick(() => picked);
  });
  for (const el of [ui.width, ui.height]) el.addEventListener('change', showMemory);
  ui.initImage.addEventListener('change', () => {
    const f = ui.initImage.files?.[0];
    if (!f) return;
    readImageFile(f).then((img) => {
      initImage = img;
      ui.clearImage.hidden = false;
      show((document.body.dataset.state ?? 'ready') as PageState, `img2img from ${f.name} (${img.width}x${img.height})`);
    }, fail);
  });
  ui.clearImage.addEventListener('click', () => {
    initImage = null;
    ui.initImage.value = '';
    ui.clearImage.hidden = true;
  });
  ui.generate.addEventListener('click', () => void generate());
  ui.stop.addEventListener('click', () => running?.abort());
  ui.newDevice.addEventListener('click', () => {
    void exclusive(async () => {
      show('starting', 'making a new GPU device...');
      if (!(await makeDevice())) return;
      if (picked) await loadModel(picked).catch(fail);
      else show('ready', 'pick a model folder, a .safetensors checkpoint or a URL');
    });
  });
  window.addEventListener('pagehide', () => {
    model?.dispose();
    device?.dispose();
  });
  // For the headless test: lose the device on purpose (as a driver reset would).
  (window as unknown as { sdDemo?: object }).sdDemo = { loseDevice: () => device?.gpu.destroy() };

  if (!navigator.gpu) {
    show('no-webgpu', 'This browser has no WebGPU (navigator.gpu is missing). Try a recent Chrome, Edge or Safari.');
    return;
  }
  if (!(await makeDevice())) return;
  ui.f16.checked = device!.features.f16; // f16 by default where the adapter has it (half the memory)
  show('ready', 'pick a model folder, a .safetensors checkpoint or a URL');
}

start().catch(fail);
