/**
 * Just enough DOM for the demo page's script (examples/browser/main.ts) to run in Node: the elements of index.html
 * (by id, with the classes main.ts checks), `document.body.dataset`, `Option`, `ImageData`, a canvas whose 2d context
 * records the last `putImageData`, and `navigator.gpu` from Dawn's `webgpu` package. Used by page_node.test.ts
 * where no browser is installed; it checks the page's wiring, not rendering.
 */
import { createRequire } from 'node:module';
import { decodePng, encodePng } from '@sd-webgpu/pipeline/node';

type Listener = () => void;

export class FakeElement {
  dataset: Record<string, string> = {};
  textContent = '';
  disabled = false;
  hidden = false;
  value = '';
  readonly classList = { toggle: (_name: string, _on?: boolean): void => {} };
  readonly #listeners = new Map<string, Listener[]>();
  constructor(readonly id: string) {}
  addEventListener(type: string, fn: Listener): void {
    this.#listeners.set(type, [...(this.#listeners.get(type) ?? []), fn]);
  }
  /** Runs the listeners of `type` (what a user's change or click would trigger). */
  fire(type: string): void {
    for (const fn of this.#listeners.get(type) ?? []) fn();
  }
}

export class FakeInput extends FakeElement {
  checked = false;
  placeholder = '';
  files: File[] | null = null;
}
export class FakeSelect extends FakeElement {
  readonly options: { text: string; value: string }[] = [];
  add(o: { text: string; value: string; selected: boolean }): void {
    this.options.push(o);
    if (o.selected) this.value = o.value;
  }
}
export class FakeProgress extends FakeElement {
  max = 1;
}
export class FakeAnchor extends FakeElement {
  href = '';
  download = '';
}
export class FakeCanvas extends FakeElement {
  width = 0;
  height = 0;
  drawn: { data: Uint8ClampedArray; width: number; height: number } | null = null;
  getContext(): { putImageData(img: { data: Uint8ClampedArray; width: number; height: number }): void } {
    return { putImageData: (img) => (this.drawn = img) };
  }
  /** A PNG of the drawn pixels, as a browser's encoder would produce. */
  toBlob(cb: (b: Blob | null) => void): void {
    const d = this.drawn;
    cb(d ? new Blob([encodePng({ width: d.width, height: d.height, data: d.data }) as Uint8Array<ArrayBuffer>], { type: 'image/png' }) : null);
  }
}

const CLASS_OF_TAG: Record<string, [string, typeof FakeElement]> = {
  input: ['HTMLInputElement', FakeInput],
  textarea: ['HTMLTextAreaElement', FakeElement],
  select: ['HTMLSelectElement', FakeSelect],
  button: ['HTMLButtonElement', FakeElement],
  progress: ['HTMLProgressElement', FakeProgress],
  div: ['HTMLDivElement', FakeElement],
  span: ['HTMLSpanElement', FakeElement],
  canvas: ['HTMLCanvasElement', FakeCanvas],
  a: ['HTMLAnchorElement', FakeAnchor],
};

/**
 * Installs the fake DOM for `html` on globalThis and returns the elements by id. Each tag gets its own subclass,
 * published under the DOM class name, so `instanceof HTMLInputElement` holds only for inputs.
 */
export function installFakeDom(html: string): { elements: Record<string, FakeElement>; body: { dataset: Record<string, string> } } {
  const g = globalThis as Record<string, unknown>;
  const classes = new Map<string, typeof FakeElement>();
  for (const [tag, [name, base]] of Object.entries(CLASS_OF_TAG)) {
    const cls = class extends base {};
    Object.defineProperty(cls, 'name', { value: name });
    classes.set(tag, cls);
    g[name] = cls;
  }
  const elements: Record<string, FakeElement> = {};
  for (const m of html.matchAll(/<(\w+)\s+id="([\w-]+)"([^>]*)>/g)) {
    const cls = classes.get(m[1]!);
    if (!cls) continue;
    const el = new cls(m[2]!);
    const value = /\svalue="([^"]*)"/.exec(m[3]!);
    if (value) el.value = value[1]!;
    elements[m[2]!] = el;
  }
  const body = { dataset: {} as Record<string, string> };
  g.document = { getElementById: (id: string) => elements[id] ?? null, body, baseURI: 'http://127.0.0.1/' };
  g.window = { addEventListener: () => {} };
  g.Option = class {
    constructor(readonly text: string, readonly value: string, readonly selected: boolean) {}
  };
  g.ImageData = class {
    constructor(readonly data: Uint8ClampedArray, readonly width: number, readonly height: number) {
      if (data.length !== width * height * 4) throw new Error(`ImageData: ${data.length} bytes for ${width}x${height}`);
    }
  };
  // img2img picker: the browser's image decoding, here pngjs (PNG files only).
  type FakeBitmap = { width: number; height: number; data: Uint8Array | Uint8ClampedArray; close(): void };
  g.createImageBitmap = async (blob: Blob): Promise<FakeBitmap> => {
    const img = decodePng(new Uint8Array(await blob.arrayBuffer()));
    return { ...img, close: () => {} };
  };
  g.OffscreenCanvas = class {
    #drawn: FakeBitmap | null = null;
    constructor(readonly width: number, readonly height: number) {}
    getContext() {
      return {
        drawImage: (b: FakeBitmap) => (this.#drawn = b),
        getImageData: () => ({ width: this.width, height: this.height, data: new Uint8ClampedArray(this.#drawn!.data) }),
      };
    }
  };
  const webgpu = createRequire(import.meta.url)('webgpu') as { create(flags: string[]): GPU; globals: object };
  for (const [k, v] of Object.entries(webgpu.globals)) if (!(k in g)) g[k] = v;
  Object.defineProperty(globalThis, 'navigator', { value: { gpu: webgpu.create([]) }, configurable: true, writable: true });
  return { elements, body };
}
