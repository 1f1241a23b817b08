/**
 * Tiled VAE decode and encode with diffusers' `enable_tiling` semantics (AutoencoderKL.tiled_decode / tiled_encode,
 * 0.27.2): the input is cut into square tiles of `tile` latents (decode; `tile · 8` pixels for encode) that start
 * every `floor(tile · (1 - overlap))`, each tile runs through the whole decoder (encoder) on its own, and every output
 * tile, in row-major order, is blended in place with its (already final) upper neighbour over the bottom rows of
 * that neighbour, then with its left neighbour, linearly over `floor(tileOut · overlap)` rows / columns (out · (1 - y/e)
 * + own · y/e), then cropped to `tileOut - blend` and concatenated. Only one tile's activations are ever on the GPU,
 * so the memory no longer grows with the image: 1024² decodes inside the default WebGPU limits.
 *
 * Tiles are read back and blended on the host (the result is at the pipeline's edge anyway; a 1024² image is
 * 12 MiB of f32) and the blended result is uploaded again as one tensor.
 */
import { type Tensor, ParameterError } from '@sd-webgpu/tensor';
import { slice } from '@sd-webgpu/kernels';

export interface VaeTileOptions {
  /** Tile side in latents (default: the VAE's sample size / 8, 64 for SD 1.x: 512-pixel tiles). */
  tileLatents?: number;
  /** Overlap factor of neighbouring tiles (default 0.25, diffusers' `tile_overlap_factor`). */
  overlap?: number;
}

/** Start offsets of the tiles along one side: `range(0, size, floor(tile · (1 - overlap)))`. */
export function tileStarts(size: number, tile: number, overlap: number): number[] {
  const step = Math.floor(tile * (1 - overlap));
  const out: number[] = [];
  for (let s = 0; s < size; s += step) out.push(s);
  return out;
}

/** Checks tiling options; returns the tile side in input units and the overlap. */
export function resolveTiling(where: string, o: VaeTileOptions, defaultTile: number): { tile: number; overlap: number } {
  const tile = o.tileLatents ?? defaultTile;
  const overlap = o.overlap ?? 0.25;
  if (!Number.isInteger(tile) || tile < 2) throw new ParameterError(where, 'tileLatents', `must be an integer ≥ 2 (got ${String(tile)})`);
  if (typeof overlap !== 'number' || !(overlap >= 0 && overlap < 1) || Math.floor(tile * (1 - overlap)) < 1) {
    throw new ParameterError(where, 'overlap', `must be in [0, 1) and leave a step of at least 1 (got ${String(overlap)})`);
  }
  return { tile, overlap };
}

/** One output tile on the host: `[B, C, h, w]` row-major. */
interface HostTile {
  data: Float32Array;
  h: number;
  w: number;
}

/**
 * Runs `fn` on every tile of `x [B, C, H, W]` (tiles of `tile` × `tile` input elements starting every
 * `floor(tile · (1 - overlap))`), reads each result back, blends them (`blend` output rows/columns) and crops each to
 * `limit`: returns the stitched `[B, C', H', W']` as host data. One tile's GPU work is finished and freed before the
 * next starts.
 */
export async function runTiled(
  x: Tensor, tile: number, overlap: number, blend: number, limit: number, fn: (t: Tensor) => Tensor,
): Promise<{ data: Float32Array; shape: [number, number, number, number] }> {
  const dev = x.device;
  const [b, , H, W] = x.shape as [number, number, number, number];
  const ys = tileStarts(H, tile, overlap);
  const xs = tileStarts(W, tile, overlap);
  const rows: HostTile[][] = [];
  let channels = 0;
  for (const y0 of ys) {
    const row: HostTile[] = [];
    for (const x0 of xs) {
      const out = dev.scope(() => {
        const band = slice(x, 2, y0, Math.min(H, y0 + tile));
        const t = slice(band, 3, x0, Math.min(W, x0 + tile));
        band.dispose();
        return fn(t);
      });
      const data = await out.float32();
      channels = out.shape[1]!;
      row.push({ data, h: out.shape[2]!, w: out.shape[3]! });
      out.dispose();
    }
    rows.push(row);
  }
  const planes = b * channels;
  // blend in place, row-major: with the upper neighbour (vertical), then the left one (horizontal)
  rows.forEach((row, i) =>
    row.forEach((t, j) => {
      if (i > 0) blendV(rows[i - 1]![j]!, t, blend, planes);
      if (j > 0) blendH(row[j - 1]!, t, blend, planes);
    }),
  );
  const heights = rows.map((r) => Math.min(limit, r[0]!.h));
  const widths = rows[0]!.map((t) => Math.min(limit, t.w));
  const outH = heights.reduce((a, c) => a + c, 0);
  const outW = widths.reduce((a, c) => a + c, 0);
  const data = new Float32Array(planes * outH * outW);
  let oy = 0;
  rows.forEach((row, i) => {
    let ox = 0;
    row.forEach((t, j) => {
      for (let p = 0; p < planes; p++) {
        for (let y = 0; y < heights[i]!; y++) {
          const src = (p * t.h + y) * t.w;
          data.set(t.data.subarray(src, src + widths[j]!), (p * outH + oy + y) * outW + ox);
        }
      }
      ox += widths[j]!;
    });
    oy += heights[i]!;
  });
  return { data, shape: [b, channels, outH, outW] };
}

/** diffusers `blend_v`: the first e rows of b fade in from the last e rows of a. */
function blendV(a: HostTile, b: HostTile, extent: number, planes: number): void {
  const e = Math.min(a.h, b.h, extent);
  const w = Math.min(a.w, b.w);
  for (let p = 0; p < planes; p++) {
    for (let y = 0; y < e; y++) {
      const f = y / e;
      const ra = (p * a.h + a.h - e + y) * a.w;
      const rb = (p * b.h + y) * b.w;
      for (let x = 0; x < w; x++) b.data[rb + x] = a.data[ra + x]! * (1 - f) + b.data[rb + x]! * f;
    }
  }
}

/** diffusers `blend_h`: the first e columns of b fade in from the last e columns of a. */
function blendH(a: HostTile, b: HostTile, extent: number, planes: number): void {
  const e = Math.min(a.w, b.w, extent);
  const h = Math.min(a.h, b.h);
  for (let p = 0; p < planes; p++) {
    for (let y = 0; y < h; y++) {
      const ra = (p * a.h + y) * a.w + a.w - e;
      const rb = (p * b.h + y) * b.w;
      for (let x = 0; x < e; x++) {
        const f = x / e;
        b.data[rb + x] = a.data[ra + x]! * (1 - f) + b.data[rb + x]! * f;
      }
    }
  }
}
