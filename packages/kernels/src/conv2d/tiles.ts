/**
 * Tile choices for conv2d, from `npm run bench -- conv2d --tiles` on lavapipe (2 shared cores, f32; numbers in the
 * header of bench/conv2d.ts). A lane of the channel-lane kernel holds tileY·tileX·vec vec4 accumulators: 16 was the
 * sweet spot (8 starves the FMA units, 32 spills), so narrow images trade tile width for rows or channels.
 */
export interface Conv2dTile {
  readonly tileX: number;
  readonly tileY: number;
  readonly vec: number;
}

/** 16 pixels of one row × 4 channels per lane where the row is wide enough. */
const WIDE: Conv2dTile = { tileX: 16, tileY: 1, vec: 1 };
/** 8x8 images (1280 channels): 2 rows of 8 pixels × 4 channels per lane. */
const NARROW: Conv2dTile = { tileX: 8, tileY: 2, vec: 1 };
/** Stride 2: 8 pixels × 8 channels per lane (a 16-pixel row segment would read 33 inputs per kernel row). */
const STRIDED: Conv2dTile = { tileX: 8, tileY: 1, vec: 2 };
/** 1x1 kernels whose H·W is not a multiple of 4 run over the flattened image: 16 pixels × 8 channels per lane. */
const FLAT: Conv2dTile = { tileX: 16, tileY: 1, vec: 2 };

/** The pointwise kernel (1x1, H·W % 4 == 0): 16 channels per workgroup × 2 vec4 pixel groups per lane. */
export const POINTWISE_TILE = { rows: 16, vec: 2 } as const;

/** The channel-lane tile for a convolution (`flat`: a 1x1 run over the flattened image). */
export function chooseConv2dTile(flat: boolean, stride: number, wout: number): Conv2dTile {
  if (flat) return FLAT;
  if (stride > 1) return STRIDED;
  return wout <= 8 ? NARROW : WIDE;
}
