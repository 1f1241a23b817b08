/**
 * The demo model's world (mirrors tools/demo-model/data.py): 8 colours, 3 shapes, captions
 * "a <colour> <shape> on a <colour> background", an antialiased renderer of the ideal scene, and the classifier that
 * scores generated images (shape colour from the centre, background colour from the border, shape from a mask test).
 */
import type { RgbaImage } from '@sd-webgpu/pipeline';

export const COLOURS = {
  red: [220, 40, 40],
  orange: [245, 140, 20],
  yellow: [240, 220, 40],
  green: [40, 170, 60],
  blue: [40, 80, 220],
  purple: [140, 50, 180],
  white: [245, 245, 245],
  black: [20, 20, 20],
} as const satisfies Record<string, readonly [number, number, number]>;
export type Colour = keyof typeof COLOURS;
export const COLOUR_NAMES = Object.keys(COLOURS) as Colour[];
export const SHAPES = ['circle', 'square', 'triangle'] as const;
export type Shape = (typeof SHAPES)[number];

export interface Scene {
  shape: Shape;
  colour: Colour;
  background: Colour;
}

const article = (w: string) => (/^[aeiou]/.test(w) ? 'an' : 'a');

export function prompt(s: Scene): string {
  return `${article(s.colour)} ${s.colour} ${s.shape} on ${article(s.background)} ${s.background} background`;
}

/**
 * The evaluation set: every shape colour × shape, each with a background that differs from the shape colour and
 * rotates through the palette (8 × 3 = 24 scenes).
 */
export function evalScenes(): Scene[] {
  const out: Scene[] = [];
  COLOUR_NAMES.forEach((colour, ci) => {
    SHAPES.forEach((shape, si) => {
      const background = COLOUR_NAMES[(ci + 1 + ((si * 3 + ci) % 7)) % 8]!;
      out.push({ shape, colour, background });
    });
  });
  return out;
}

/** Signed distance in pixels (negative inside) of a shape of "radius" r centred at (cx, cy). */
function sdf(shape: Shape, x: number, y: number, cx: number, cy: number, r: number): number {
  const dx = x - cx;
  const dy = y - cy;
  if (shape === 'circle') return Math.hypot(dx, dy) - r;
  if (shape === 'square') {
    const s = r * 0.86;
    const qx = Math.abs(dx) - s;
    const qy = Math.abs(dy) - s;
    return Math.hypot(Math.max(qx, 0), Math.max(qy, 0)) + Math.min(Math.max(qx, qy), 0);
  }
  // equilateral triangle pointing up, circumradius 1.25 r (iq's sdEquilateralTriangle)
  const R = r * 1.25;
  const k = Math.sqrt(3);
  let px = Math.abs(dx) / R - k / 2;
  let py = -dy / R + 0.5;
  if (px + k * py > 0) [px, py] = [(px - k * py) / 2, (-k * px - py) / 2];
  px -= Math.min(Math.max(px, -k), 0);
  return -Math.hypot(px, py) * Math.sign(py) * R;
}

/** The ideal picture of a scene: the shape (radius 16 at 64 px, scaled with the size) centred on a flat background. */
export function renderScene(s: Scene, size = 64): RgbaImage {
  const data = new Uint8ClampedArray(size * size * 4);
  const fg = COLOURS[s.colour];
  const bg = COLOURS[s.background];
  const r = (16 * size) / 64;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const a = Math.min(Math.max(0.5 - sdf(s.shape, x + 0.5, y + 0.5, size / 2, size / 2, r), 0), 1);
      const o = (y * size + x) * 4;
      for (let c = 0; c < 3; c++) data[o + c] = Math.round(a * fg[c]! + (1 - a) * bg[c]!);
      data[o + 3] = 255;
    }
  }
  return { width: size, height: size, data };
}

export interface Classified {
  colour: Colour;
  background: Colour;
  /** null when no pixel is nearer the centre colour than the border colour. */
  shape: Shape | null;
}

function median(values: number[]): number {
  const v = [...values].sort((a, b) => a - b);
  return v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
}

function nearestColour(rgb: readonly number[]): Colour {
  let best: Colour = 'red';
  let bestD = Infinity;
  for (const name of COLOUR_NAMES) {
    const c = COLOURS[name];
    const d = (c[0] - rgb[0]!) ** 2 + (c[1] - rgb[1]!) ** 2 + (c[2] - rgb[2]!) ** 2;
    if (d < bestD) [best, bestD] = [name, d];
  }
  return best;
}

/**
 * Shape colour: per-channel median of the central 8×8 pixels; background: of the 2-pixel border; each snapped to the
 * nearest palette colour. Shape: the mask of pixels nearer the centre colour than the border colour; a triangle when
 * its bounding box is at most 2/3 filled and its top fifth is much narrower than its bottom fifth, a square when the
 * box is more than 88 % filled, else a circle (π/4 ≈ 79 %).
 */
export function classify(img: RgbaImage): Classified {
  const { width: w, height: h, data } = img;
  const px = (x: number, y: number) => [data[(y * w + x) * 4]!, data[(y * w + x) * 4 + 1]!, data[(y * w + x) * 4 + 2]!];
  const centre: number[][] = [];
  const border: number[][] = [];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (Math.abs(x + 0.5 - w / 2) < 4 && Math.abs(y + 0.5 - h / 2) < 4) centre.push(px(x, y));
      if (x < 2 || y < 2 || x >= w - 2 || y >= h - 2) border.push(px(x, y));
    }
  }
  const med = (rows: number[][]) => [0, 1, 2].map((c) => median(rows.map((p) => p[c]!)));
  const cen = med(centre);
  const bor = med(border);
  const colour = nearestColour(cen);
  const background = nearestColour(bor);
  const dist = (p: number[], q: number[]) => (p[0]! - q[0]!) ** 2 + (p[1]! - q[1]!) ** 2 + (p[2]! - q[2]!) ** 2;
  const mask = new Uint8Array(w * h);
  let [x0, x1, y0, y1, count] = [w, -1, h, -1, 0];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = px(x, y);
      if (dist(p, cen) < dist(p, bor)) {
        mask[y * w + x] = 1;
        count++;
        [x0, x1, y0, y1] = [Math.min(x0, x), Math.max(x1, x), Math.min(y0, y), Math.max(y1, y)];
      }
    }
  }
  if (count === 0) return { colour, background, shape: null };
  const fill = count / ((x1 - x0 + 1) * (y1 - y0 + 1));
  const band = Math.max(1, Math.floor((y1 - y0) * 0.2));
  const rowWidth = (from: number, to: number) => {
    let n = 0;
    for (let y = from; y < to; y++) for (let x = 0; x < w; x++) n += mask[y * w + x]!;
    return n / (to - from);
  };
  const top = rowWidth(y0, y0 + band);
  const bottom = rowWidth(y1 - band + 1, y1 + 1);
  const shape: Shape = fill < 0.66 && top < 0.6 * bottom ? 'triangle' : fill > 0.88 ? 'square' : 'circle';
  return { colour, background, shape };
}
