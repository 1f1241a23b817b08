/** A contact sheet: a grid of RGBA tiles with gaps, each tile optionally underlined by a coloured status bar. */
import type { RgbaImage } from '@sd-webgpu/pipeline';

export interface Tile {
  image: RgbaImage;
  /** RGB of a 3-pixel bar under the tile (absent: none). */
  bar?: readonly [number, number, number];
}

/** Lays out `rows` (each a list of tiles, null = empty cell) on a grey canvas; all tiles share one size. */
export function contactSheet(rows: (Tile | null)[][], tile: number, gap = 4): RgbaImage {
  const cols = Math.max(...rows.map((r) => r.length));
  const cell = tile + gap + 3;
  const width = cols * (tile + gap) + gap;
  const height = rows.length * cell + gap;
  const data = new Uint8ClampedArray(width * height * 4).fill(96);
  for (let i = 3; i < data.length; i += 4) data[i] = 255;
  rows.forEach((row, r) =>
    row.forEach((t, c) => {
      if (!t) return;
      const ox = gap + c * (tile + gap);
      const oy = gap + r * cell;
      for (let y = 0; y < tile; y++) {
        for (let x = 0; x < tile; x++) {
          const s = (y * t.image.width + x) * 4;
          const d = ((oy + y) * width + ox + x) * 4;
          data.set(t.image.data.subarray(s, s + 4), d);
        }
      }
      if (t.bar) {
        for (let y = tile; y < tile + 3; y++) {
          for (let x = 0; x < tile; x++) data.set([...t.bar, 255], ((oy + y) * width + ox + x) * 4);
        }
      }
    }),
  );
  return { width, height, data };
}
