/**
 * Tile choice for the lavapipe row's subgroup matmul kernel: a small table of candidate (rows, cols) per layout, each with a relative
 * cost per multiply-add measured by `npm run bench -- matmul --tiles` (the measurements are quoted below). The pick
 * minimises cost × padded work, so a small M or N prefers a smaller tile that wastes less.
 */
export type MatmulLayout = 'tb' | 'n4' | 'n1';

export interface TileCandidate {
  readonly rows: number;
  readonly cols: number;
  /** Relative time per multiply-add (lower is better). */
  readonly cost: number;
}

/**
 * lavapipe (subgroup mode): cost = best rate / rate, from `npm run bench -- matmul --tiles` (f32 1024x320x320, CPU-time
 * GFLOP/s on the 2-core machine, mean of two sweeps):
 *   tb: 32x4 28.5, 48x4 28.4, 24x4 27.4, 16x4 26.2, 32x2 23.1, 64x4 22.5 (spills), 8x4 19.6
 *   n4: 32x1 29.8, 16x2 29.0, 24x1 26.6, 16x1 23.8, 64x1 22.4, 8x1 20.7, 32x2 19.3
 *   n1: 32x4 26.2, 16x4 24.2, 64x4 18.4, 8x4 14.6
 * Every storage load costs a scalar per-lane loop there, so larger register tiles (fewer loads per FMA) win until
 * spilled accumulators dominate (128 f32 accumulators per lane is the sweet spot).
 */
const SUBGROUP: Readonly<Record<MatmulLayout, readonly TileCandidate[]>> = {
  tb: [
    { rows: 32, cols: 4, cost: 1.0 },
    { rows: 24, cols: 4, cost: 1.04 },
    { rows: 16, cols: 4, cost: 1.09 },
    { rows: 32, cols: 2, cost: 1.23 },
    { rows: 8, cols: 4, cost: 1.45 },
  ],
  n4: [
    { rows: 32, cols: 1, cost: 1.0 },
    { rows: 16, cols: 2, cost: 1.03 },
    { rows: 24, cols: 1, cost: 1.12 },
    { rows: 16, cols: 1, cost: 1.25 },
    { rows: 8, cols: 1, cost: 1.44 },
  ],
  n1: [
    { rows: 32, cols: 4, cost: 1.0 },
    { rows: 16, cols: 4, cost: 1.08 },
    { rows: 8, cols: 4, cost: 1.8 },
  ],
};

/** Chooses the tile with the least estimated cost for an M x N output. */
export function chooseTile(layout: MatmulLayout, M: number, N: number): TileCandidate {
  const table = SUBGROUP[layout];
  const colUnit = layout === 'n4' ? 4 : 1;
  let best = table[0]!;
  let bestCost = Infinity;
  for (const t of table) {
    const rowsPerGroup = t.rows;
    const colsPerGroup = 8 * t.cols * colUnit;
    const work = Math.ceil(M / rowsPerGroup) * rowsPerGroup * Math.ceil(N / colsPerGroup) * colsPerGroup;
    const c = work * t.cost;
    if (c < bestCost) {
      bestCost = c;
      best = t;
    }
  }
  return best;
}
