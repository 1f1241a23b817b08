/**
 * The browser demo page: pick a model (a diffusers folder or one .safetensors file), type a prompt, watch the
 * progress bar, see the RGBA result on a canvas. One WebGPU device for the page's lifetime; f16 when the adapter has
 * `shader-f16`. Built by scripts/build-browser.mjs into examples/browser/dist/ (serve examples/browser/).
 */
import { type ClipTokenizer, loadDefaultTokenizer } from '@sd-webgpu/models';
import {
  type GeneratedImage, SAMPLER_DISPLAY_NAMES, SCHEDULER_NAMES, type SchedulerName, StableDiffusion, formatParameters,
} from '@sd-webgpu/pipeline';
import { Device, ParameterError } from '@sd-webgpu/tensor';
import { type ExtraInputs, inpaintInputs, loadTaesdFile, loraSpecs } from './extras';
import { type PickedModel, bundledVocabUrl, fileSource, folderSource, formatBytes, tokenizerFor } from './model_source';

/** Page states, mirrored on `<body data-state>` (for styling and for the headless test). */
type PageState = 'starting' | 'no-webgpu' | 'ready' | 'loading' | 'loaded' | 'generating' | 'done' | 'error';

function element<T extends HTMLElement>(id: string, type: { new (): T }): T {
  const el = document.getElementById(id);
  if (!(el instanceof type)) throw new Error(`index.html: #${id} is missing or not a ${type.name}`);
  return el;
}

const ui = {
  folder: element('model-folder', HTMLInputElement),
  file: element('model-file', HTMLInputElement),
  f16: element('f16', HTMLInputElement),
  device: element('device', HTMLSpanElement),
  prompt: element('prompt', HTMLTextAreaElement),
  negative: element('negative', HTMLTextAreaElement),
  steps: element('steps', HTMLInputElement),
  seed: element('seed', HTMLInputElement),
  guidance: element('guidance', HTMLInputElement),
  scheduler: element('scheduler', HTMLSelectElement),
  generate: element('generate', HTMLButtonElement),
  stop: element('stop', HTMLButtonElement),
  progress: element('progress', HTMLProgressElement),
  status: element('status', HTMLDivElement),
  canvas: element('output', HTMLCanvasElement),
  download: element('download', HTMLAnchorElement),
  parameters: element('parameters', HTMLDivElement),
};
const extras: ExtraInputs = {
  loraFiles: element('lora-files', HTMLInputElement),
  loraScale: element('lora-scale', HTMLInputElement),
  initImage: element('init-image', HTMLInputElement),
  maskImage: element('mask-image', HTMLInputElement),
  taesdFile: element('taesd-file', HTMLInputElement),
};

let device: Device | null = null;
let model: StableDiffusion | null = null;
let picked: PickedModel | null = null;
let bundledTokenizer: Promise<ClipTokenizer> | null = null;
let running: AbortController | null = null;
let downloadUrl: string | null = null;

function setState(state: PageState, message: string): void {
  document.body.dataset.state = state;
  ui.status.textContent = message;
  ui.status.classList.toggle('error', state === 'error' || state === 'no-webgpu');
  const busy = state === 'loading' || state === 'generating';
  ui.generate.disabled = busy || model === null;
  ui.stop.disabled = state !== 'generating';
  ui.folder.disabled = ui.file.disabled = busy || device === null;
  ui.f16.disabled = busy || device === null || !device.features.f16;
}

function fail(e: unknown): void {
  const err = e instanceof Error ? e : new Error(String(e));
  console.error(err);
  setState('error', `${err.name}: ${err.message}`);
}

/** The shipped CLIP vocabulary (fetched once), for checkpoints without tokenizer/ files. */
function defaultTokenizer(): Promise<ClipTokenizer> {
  bundledTokenizer ??= loadDefaultTokenizer({ url: bundledVocabUrl() }).catch((e: unknown) => {
    bundledTokenizer = null;
    throw e;
  });
  return bundledTokenizer;
}

async function loadModel(next: PickedModel): Promise<void> {
  if (!device) return;
  model?.dispose();
  model = null;
  picked = next;
  const dtype = ui.f16.checked ? 'f16' : 'f32';
  setState('loading', `loading ${next.label} (${formatBytes(next.weightBytes)} of weights, ${dtype})...`);
  const t0 = performance.now();
  try {
    // The folder's own tokenizer/ files win; otherwise the vocabulary copied next to the bundle.
    const tokenizer = await tokenizerFor(next, defaultTokenizer);
    const loras = loraSpecs(extras);
    model = await StableDiffusion.load(next.source, { device, dtype, loras, ...(tokenizer ? { tokenizer } : {}) });
    await loadTaesdFile(extras, model);
    const seconds = ((performance.now() - t0) / 1000).toFixed(1);
    const vocab = next.hasTokenizer ? "the folder's tokenizer" : 'the bundled CLIP vocabulary';
    setState('loaded', `loaded ${next.label} in ${seconds}s (${model.dtype}, ${vocab})`);
  } catch (e) {
    fail(e);
  }
}

function readInt(input: HTMLInputElement, name: string, lo: number, hi: number): number {
  const v = Number(input.value);
  if (input.value.trim() === '' || !Number.isInteger(v) || v < lo || v > hi) {
    throw new ParameterError('page', name, `must be an integer in ${lo}..${hi} (got '${input.value}')`);
  }
  return v;
}

function readSeed(): number | undefined {
  if (ui.seed.value.trim() === '') return undefined;
  return readInt(ui.seed, 'seed', 0, Number.MAX_SAFE_INTEGER);
}

function readGuidance(): number {
  const v = Number(ui.guidance.value);
  if (ui.guidance.value.trim() === '' || !Number.isFinite(v) || v < 0) {
    throw new ParameterError('page', 'CFG scale', `must be a number ≥ 0 (got '${ui.guidance.value}')`);
  }
  return v;
}

/** Draws RGBA pixels on the canvas (the result, or a TAESD preview during the run). */
function draw(image: { width: number; height: number; data: Uint8Array | Uint8ClampedArray }): void {
  ui.canvas.width = image.width;
  ui.canvas.height = image.height;
  const ctx = ui.canvas.getContext('2d');
  if (!ctx) throw new Error('canvas: no 2d context');
  // ImageData wants its own ArrayBuffer-backed array; the result's bytes are copied once.
  ctx.putImageData(new ImageData(new Uint8ClampedArray(image.data), image.width, image.height), 0, 0);
}

function show(image: GeneratedImage): void {
  draw(image);
  const text = formatParameters(image.params);
  ui.parameters.textContent = text;
  ui.canvas.toBlob((blob) => {
    if (!blob) return;
    if (downloadUrl) URL.revokeObjectURL(downloadUrl);
    downloadUrl = URL.createObjectURL(blob);
    ui.download.href = downloadUrl;
    ui.download.download = `sd-webgpu-${image.seed}.png`;
    ui.download.hidden = false;
  }, 'image/png');
}

async function generate(): Promise<void> {
  if (!model) return;
  let steps: number;
  let seed: number | undefined;
  let guidanceScale: number;
  try {
    steps = readInt(ui.steps, 'steps', 1, 1000);
    seed = readSeed();
    guidanceScale = readGuidance();
  } catch (e) {
    fail(e);
    return;
  }
  running = new AbortController();
  ui.progress.max = steps;
  ui.progress.value = 0;
  setState('generating', `step 0/${steps}`);
  const t0 = performance.now();
  try {
    const inpaint = await inpaintInputs(extras);
    const options = {
      prompt: ui.prompt.value,
      negativePrompt: ui.negative.value,
      steps,
      guidanceScale,
      scheduler: ui.scheduler.value as SchedulerName,
      ...(seed !== undefined ? { seed } : {}),
      signal: running.signal,
      ...(model.taesd ? { previewEvery: 2 } : {}),
      onProgress: ({ step, totalSteps, preview }: { step: number; totalSteps: number; preview?: Parameters<typeof draw>[0] }) => {
        ui.progress.max = totalSteps;
        ui.progress.value = step;
        ui.status.textContent = `step ${step}/${totalSteps}`;
        if (preview) draw(preview);
      },
    };
    const [image] = inpaint ? await model.inpaint({ ...options, ...inpaint }) : await model.txt2img(options);
    show(image!);
    const seconds = ((performance.now() - t0) / 1000).toFixed(1);
    setState('done', `${image!.width}x${image!.height} in ${seconds}s, seed ${image!.seed}`);
  } catch (e) {
    if (e instanceof Error && e.name === 'AbortError') setState('loaded', 'stopped');
    else fail(e);
  } finally {
    running = null;
  }
}

function onPick(make: () => PickedModel | null): void {
  try {
    const next = make();
    if (next) void loadModel(next);
  } catch (e) {
    fail(e);
  }
}

async function start(): Promise<void> {
  for (const name of SCHEDULER_NAMES) ui.scheduler.add(new Option(SAMPLER_DISPLAY_NAMES[name], name, name === 'dpmpp_2m_karras'));
  ui.folder.addEventListener('change', () => onPick(() => (ui.folder.files?.length ? folderSource(ui.folder.files) : null)));
  ui.file.addEventListener('change', () => onPick(() => (ui.file.files?.[0] ? fileSource(ui.file.files[0]) : null)));
  ui.f16.addEventListener('change', () => {
    if (picked) void loadModel(picked);
  });
  for (const input of [extras.loraFiles, extras.loraScale, extras.taesdFile]) {
    input.addEventListener('change', () => {
      if (picked) void loadModel(picked);
    });
  }
  ui.generate.addEventListener('click', () => void generate());
  ui.stop.addEventListener('click', () => running?.abort());
  window.addEventListener('pagehide', () => {
    model?.dispose();
    device?.dispose();
  });

  if (!navigator.gpu) {
    setState('no-webgpu', 'This browser has no WebGPU (navigator.gpu is missing). Try a recent Chrome, Edge or Safari.');
    return;
  }
  try {
    device = await Device.create({ onError: (e) => console.error(e) });
  } catch (e) {
    setState('no-webgpu', `WebGPU is present but no device could be created: ${(e as Error).message}`);
    return;
  }
  const info = device.adapterInfo;
  ui.f16.checked = device.features.f16;
  ui.device.textContent = `${info.vendor || 'unknown vendor'} ${info.architecture || info.description}`.trim() +
    (device.features.f16 ? '' : ' (no shader-f16: f32 only)');
  setState('ready', 'pick a model folder or a .safetensors checkpoint');
}

start().catch(fail);
