/**
 * Flash attention for GPUs (the `{ flash }` attention of the kernel table, ./table.ts): the workgroup owns a block
 * of WG_X·RL query rows of one head and walks the keys in tiles of KB. Each tile's K rows and V columns are loaded
 * once per workgroup, cooperatively (consecutive lanes take consecutive vec4s, so the loads coalesce), into
 * `var<workgroup>` as f32, and every lane reads them from there (one address for all lanes: a broadcast). Each
 * lane keeps its RL query rows (pre-scaled by scale·log2(e)), their f32 output accumulators and the online-softmax
 * running max and sum in registers, exactly like the `direct` kernel: it is the `flash` mode of ./attention.ts's
 * one kernel generator, and this file holds what differs (the tiles' size, their declarations, the staging and the
 * kk-outer scores); only the way K/V reach the lanes differs (global loads per lane there, one staged tile here).
 *
 * Keys past Sk (77 cross-attention keys in tiles of 32: the tail of the last tile) are clamped on load and masked
 * out of the max and the sum; causal masking as in ./attention.ts. Workgroup memory is 2·KB·D·4 bytes (K tile plus
 * the V tile of the `chunk` output columns), which `flashKeys` keeps within the row's `tileBytes`.
 */
/** The kernel table's flash-attention shape: lanes, query rows per lane, at most `keys` keys per tile. */
export interface FlashTile {
  readonly lanes: number;
  readonly rows: number;
  readonly keys: number;
  /** Workgroup memory for the K and V tiles; the tile's key count is cut to fit it. */
  readonly tileBytes: number;
}

/** Workgroup memory of the K and V tiles of `keys` keys at head dim `dim` (f32 in workgroup memory). */
export const flashTileBytes = (dim: number, keys: number, chunk = dim): number => 4 * keys * (dim + chunk);

/**
 * Keys per tile for head dim `dim`: the largest power of two ≤ tile.keys whose K/V tiles fit tile.tileBytes; 0 when
 * fewer than 4 keys fit (the caller runs the `direct` kernel instead).
 */
export function flashKeys(tile: FlashTile, dim: number): number {
  let keys = 1;
  while (keys * 2 <= tile.keys && flashTileBytes(dim, keys * 2) <= tile.tileBytes) keys *= 2;
  return keys >= 4 && flashTileBytes(dim, keys) <= tile.tileBytes ? keys : 0;
}

/** The K and V tiles in workgroup memory (declared beside the kernel's bindings). */
export const FLASH_DECLS = /* wgsl */ `
/** This tile's K rows (KB x D4) and V columns of the output slice (KB x O4), f32. */
var<workgroup> kt: array<V, KB * D4>;
var<workgroup> vt: array<V, KB * O4>;`;

/**
 * Per key tile: stage K and V (keys past the end clamped, masked by the caller; uniform bounds keep the barriers in
 * uniform flow), then the scores p[r][kk], kk-outer so that each staged k value feeds RL FMAs.
 */
export const FLASH_SCORES = /* wgsl */ `// Stage the tile (keys past the end clamped; masked below). Uniform bounds: the barriers stay in uniform flow.
    for (var t = lane; t < KB * D4; t = t + WG_X) {
      let kk = t / D4;
      kt[t] = V(k[kbase + min(j0 + kk, params.sk - 1u) * params.stride + t - kk * D4]);
    }
    for (var t = lane; t < KB * O4; t = t + WG_X) {
      let kk = t / O4;
      vt[t] = V(v[kbase + min(j0 + kk, params.sk - 1u) * params.stride + col0 + t - kk * O4]);
    }
    workgroupBarrier();
    // Scores: each staged k value feeds RL FMAs.
    var p: array<array<f32, KB>, RL>;
    for (var kk = 0u; kk < KB; kk = kk + 1u) {
      var s: array<V, RL>;
      for (var r = 0u; r < RL; r = r + 1u) { s[r] = V(0.0); }
      for (var d = 0u; d < params.d4; d = d + 1u) {
        let kv = kt[kk * D4 + d];
        for (var r = 0u; r < RL; r = r + 1u) { s[r] = fma(qr[r][d], kv, s[r]); }
      }
      for (var r = 0u; r < RL; r = r + 1u) { p[r][kk] = hsum(s[r]); }
    }`;
