/**
 * Tile choice for conv2d. Numbers from `npm run bench -- conv2d --tiles` on lavapipe (2 shared cores, f32; see the
 * header of bench/conv2d.ts). A lane holds tileY·tileX·vec vec4 accumulators: 16 was the sweet spot (8 starves the
 * FMA units, 32 spills), so narrow images trade tile width for more channels per lane.
 */
export interface Conv2dTile {
  readonly tileX: number;
  readonly tileY: number;
  readonly vec: number;
}

/**
 * 3x3 (and other k>1) kernels: 16 pixels of one row × 4 channels per lane where the row is wide enough, else 8
 * pixels × 8 channels (1280 channels at 8x8).
 */
const WIDE: Conv2dTile = { tileX: 16, tileY: 1, vec: 1 };
const NARROW: Conv2dTile = { tileX: 8, tileY: 1, vec: 2 };
/** 1x1 kernels run over the flattened image (one row of H·W pixels): 16 pixels × 8 channels per lane. */
const POINTWISE: Conv2dTile = { tileX: 16, tileY: 1, vec: 2 };

/** The tile for a convolution with this kernel and output width (`pointwise`: 1x1, stride 1, no padding). */
export function chooseConv2dTile(pointwise: boolean, wout: number): Conv2dTile {
  if (pointwise) return POINTWISE;
  return wout <= 8 ? NARROW : WIDE;
}
