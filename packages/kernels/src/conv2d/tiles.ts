/**
 * Tile choices of the lavapipe row's conv2d kernels, from `npm run bench -- conv2d --tiles` / `--subgroup` on lavapipe
 * (2 shared cores, f32; numbers here and in the header of bench/conv2d.ts). The subgroup-shared kernels run 3x3 and
 * strided convolutions; the uniform-load channel-lane kernel only 1x1 convolutions whose H·W is not a multiple of 4
 * (FLAT). Every other row runs the GEMM core (../table.ts).
 */
export interface Conv2dTile {
  readonly tileX: number;
  readonly tileY: number;
  readonly vec: number;
  /**
   * Run the subgroup-shared kernel of ./subgroup.ts (lanes load distinct inputs and broadcast them) instead of the
   * uniform-load kernel of ./wgsl.ts. Needs the `subgroups` feature and 8-lane subgroups.
   */
  readonly subgroup?: boolean;
  /** Subgroup kernel only: load each input row once per input channel for all kernel rows (ky unrolled). */
  readonly shareRows?: boolean;
  /**
   * Subgroup kernel only: load x as aligned vec4s where the geometry allows (W % 4 == 0, tileX·stride % 4 == 0,
   * 4-aligned windows); other shapes fall back to scalar loads.
   */
  readonly x4?: boolean;
}

/** 1x1 kernels whose H·W is not a multiple of 4 run over the flattened image: 16 pixels × 8 channels per lane. */
const FLAT: Conv2dTile = { tileX: 16, tileY: 1, vec: 2 };

/**
 * Subgroup mode (lavapipe-like devices, ./subgroup.ts): lanes load distinct inputs and share them, so tiles grow to
 * 32 vec4 accumulators per lane (64 spilled: 2x32x1 / 4x16x1 were 30-40 % slower). `npm run bench -- conv2d
 * --subgroup --quick`, batch 1, f32, cpu GFLOP/s (one round, shared machine), uniform-load default → subgroup tiles:
 *   320@64x64  12.5 → 1x32x1 26.8, 2x16x1 27.3, 4x8x1 25.5 (2nd run 18.5 / 25.2), 1x16x1 22.7
 *   640@32x32  11.0 → 1x32x1 25.1, 2x16x1 18.7, 4x8x1 19.7 (2nd run 22.2 / 21.5), 1x24x1 15.9, 1x30x1 12.4
 *   1280@16x16  9.8 → 4x8x1 19.7, 2x16x1 17.5, 1x32x1 10.1 (half the tile idle)
 *   1280@8x8    9.4 → 4x8x1 20.7, 2x8x1 11.9, 2x16x1 10.5
 *   s2 320 64->32 8.3 → 1x32x1 23.0, 2x16x1 21.3, 1x16x1 18.3, 4x8x1 17.7
 *   VAE 512@64x64 11.9 → 2x16x1 24.8, 1x32x1 23.7, 4x8x1 22.3;  VAE 128@256x256 8.3 → 1x16x1 20.9, 1x32x1 19.0
 *   VAE enc s2 [0,1,0,1] 128@256 6.4 → 1x32x1 17.3, 1x16x1 16.4, 2x8x1 14.1
 * Loading each input row once for all kernel rows (ky unrolled, `shareRows`) was 25-40 % slower at every shape.
 * Aligned vec4 x loads (`x4`, 2 loads per lane and kernel row instead of 5-9) were within the noise at stride 1
 * (second/third runs, 1x32x1 vs 1x32x1 x4: 320@64x64 22.4/21.7, 18.0/15.9; 640@32x32 18.7/17.7, 23.2/19.4; 4x8x1 vs
 * 4x8x1 x4 at 1280@16x16 15.1/22.4, 19.9/19.2) but helped stride 2, whose row segments are twice as long
 * (4x8x1 vs 4x8x1 x4: s2 320 6.9/11.5, 19.5/23.2; VAE enc s2 12.0/14.3; 1x32x1 x4 10.7, 23.6, 13.1).
 */
const SG_WIDE: Conv2dTile = { tileX: 32, tileY: 1, vec: 1, subgroup: true };
const SG_SQUARE: Conv2dTile = { tileX: 8, tileY: 4, vec: 1, subgroup: true };
const SG_STRIDED: Conv2dTile = { tileX: 8, tileY: 4, vec: 1, subgroup: true, x4: true };

/**
 * The pointwise kernel (1x1, H·W % 4 == 0): 16 channels per workgroup × 2 vec4 pixel groups per lane, the weights
 * loaded by distinct lanes and broadcast (./pointwise.ts `subgroup`).
 * `npm run bench -- conv2d --tiles --only 1x1 --sgtiles p16x2,p32x2,...` (1x1 320@64x64, f32, cpu GFLOP/s, two
 * rounds): uniform-load 16x2 11.0, 12x2 11.3, 8x4 11.4; subgroup 16x2 20.4 (20.1 in a one-round run), 32x2 17.3,
 * 24x2 17.7, 16x4 16.1, 8x4 16.4, 8x8 13.3, 32x1 11.4.
 */
const POINTWISE_SUBGROUP_TILE = { rows: 16, vec: 2, subgroup: true } as const;

/** The pointwise kernel's tile. */
export function choosePointwiseTile(): typeof POINTWISE_SUBGROUP_TILE {
  return POINTWISE_SUBGROUP_TILE;
}

/** The channel-lane tile for a convolution (`flat`: a 1x1 run over the flattened image). */
export function chooseConv2dTile(flat: boolean, stride: number, wout: number): Conv2dTile {
  if (flat) return FLAT;
  return stride > 1 ? SG_STRIDED : wout >= 32 ? SG_WIDE : SG_SQUARE;
}
