/**
 * The demo page's elements (looked up once; a missing or mistyped id in index.html fails at start) and its states,
 * mirrored on `<body data-state>` for styling and for the headless test.
 */

export type PageState =
  | 'starting' | 'no-webgpu' | 'ready' | 'loading' | 'loaded' | 'generating' | 'done' | 'stopped' | 'lost' | 'error';

function element<T extends HTMLElement>(id: string, type: { new (): T }): T {
  const el = document.getElementById(id);
  if (!(el instanceof type)) throw new Error(`index.html: #${id} is missing or not a ${type.name}`);
  return el;
}

export const ui = {
  folder: element('model-folder', HTMLInputElement),
  file: element('model-file', HTMLInputElement),
  url: element('model-url', HTMLInputElement),
  loadUrl: element('load-url', HTMLButtonElement),
  f16: element('f16', HTMLInputElement),
  device: element('device', HTMLSpanElement),
  newDevice: element('new-device', HTMLButtonElement),
  memory: element('memory', HTMLDivElement),
  prompt: element('prompt', HTMLTextAreaElement),
  negative: element('negative', HTMLTextAreaElement),
  steps: element('steps', HTMLInputElement),
  seed: element('seed', HTMLInputElement),
  guidance: element('guidance', HTMLInputElement),
  scheduler: element('scheduler', HTMLSelectElement),
  width: element('width', HTMLInputElement),
  height: element('height', HTMLInputElement),
  initImage: element('init-image', HTMLInputElement),
  strength: element('strength', HTMLInputElement),
  clearImage: element('clear-image', HTMLButtonElement),
  generate: element('generate', HTMLButtonElement),
  stop: element('stop', HTMLButtonElement),
  progress: element('progress', HTMLProgressElement),
  status: element('status', HTMLDivElement),
  canvas: element('output', HTMLCanvasElement),
  download: element('download', HTMLAnchorElement),
  parameters: element('parameters', HTMLDivElement),
};

/** What the controls' enabled state depends on. */
export interface Availability {
  hasDevice: boolean;
  hasModel: boolean;
  /** A load or a generation (possibly a stopped one still finishing its step) is in flight. */
  busy: boolean;
  f16: boolean;
}

export function setState(state: PageState, message: string, a: Availability): void {
  document.body.dataset.state = state;
  ui.status.textContent = message;
  ui.status.classList.toggle('error', state === 'error' || state === 'no-webgpu' || state === 'lost');
  ui.generate.disabled = a.busy || !a.hasModel || !a.hasDevice;
  ui.stop.disabled = state !== 'generating';
  ui.folder.disabled = ui.file.disabled = ui.loadUrl.disabled = a.busy || !a.hasDevice;
  ui.f16.disabled = a.busy || !a.hasDevice || !a.f16;
  ui.newDevice.hidden = state !== 'lost';
}
