/**
 * The one GEMM core (the tfjs `conv2d_mm` pattern): C[z, m, n] = Σ_k A[z, m, k] · B[z, k, n], where the operand
 * producer decides what A, B and C are through three WGSL hooks that are part of the generated source:
 *
 *   fn gemm_dims() -> vec3u                         // (M, N, KQ): KQ = ceil(K / 4) quads of k
 *   fn read_a(z: u32, m: u32, kq: u32) -> vec4f     // A[z, m, 4kq .. 4kq+3], zero past M or K
 *   fn read_b(z: u32, kq: u32, n: u32) -> vec4f     // B[z, 4kq .. 4kq+3, n], zero past N or K
 *   fn write_c(z: u32, m: u32, n: u32, v: f32)      // the epilogue: called once per output with m < M, n < N
 *
 * matmul/linear (./matmul.ts) reads rows of A and B (or Bᵀ) as vec4 along K; conv2d (./conv2d.ts) reads packed or
 * PyTorch-layout weights as A and gathers the im2col matrix of x as B (implicit GEMM: nothing is materialised), and
 * its `write_c` adds the bias and stores NCHW. Epilogues (bias, accumulate, and later activations or a residual add)
 * are code in `write_c`; the core never changes for them.
 *
 * Per workgroup of `wgX × wgY` invocations: a `TM × TN` output tile (TM = wgY·rm, TN = wgX·rn). Each step stages a
 * `TK`-deep slice of A and B in workgroup memory as vec4 k-quads (every invocation loads its share once), then each
 * invocation accumulates its `rm × rn` outputs (rows lid.y + i·wgY, columns lid.x + j·wgX: neighbouring invocations
 * write neighbouring columns) from vec4 reads of the staged tiles, one `dot` per output and quad. Storage can be
 * f16; staging and accumulation are f32. The grid is flat (`wid.x + wid.y·nwg.x`, so `run()` may fold it) over
 * ceil(M/TM)·ceil(N/TN) tiles, with the batch index in `wid.z`. The loops have constant trip counts and stay rolled
 * in the source (drivers unroll them; SwiftShader compiles them in well under a second).
 */
import type { BindingDecl, Kernel, UniformDecl } from '@sd-webgpu/tensor';

/** Launch shape of the core: invocations per workgroup (wgX × wgY), outputs per invocation, k-depth per stage. */
export interface GemmTile {
  readonly wgX: number;
  readonly wgY: number;
  /** Output rows per invocation. */
  readonly rm: number;
  /** Output columns per invocation. */
  readonly rn: number;
  /** k values staged per step (a multiple of 4). */
  readonly tk: number;
}

/** What an operand producer hands to the core. */
export interface GemmHooks {
  /** Unique per hook variant; the kernel name adds the tile. */
  readonly name: string;
  readonly bindings: readonly BindingDecl[];
  readonly uniforms: readonly UniformDecl[];
  readonly f16: boolean;
  /** WGSL defining gemm_dims, read_a, read_b and write_c (and any helpers they use). */
  readonly source: string;
}

export function gemmTileName(t: GemmTile): string {
  return `w${t.wgX}x${t.wgY}_r${t.rm}x${t.rn}_k${t.tk}`;
}

/** Output footprint of one workgroup. */
export function gemmFootprint(t: GemmTile): { rows: number; cols: number } {
  return { rows: t.wgY * t.rm, cols: t.wgX * t.rn };
}

/** Workgroup memory of a tile in bytes (both staged slices, f32 vec4 quads). */
export function gemmSharedBytes(t: GemmTile): number {
  const { rows, cols } = gemmFootprint(t);
  return (t.tk / 4) * (rows + cols) * 16;
}

/** Throws when a tile is malformed; returns it otherwise. */
export function checkGemmTile(t: GemmTile): GemmTile {
  const ok = [t.wgX, t.wgY, t.rm, t.rn, t.tk].every((v) => Number.isInteger(v) && v >= 1) && t.tk % 4 === 0;
  if (!ok) throw new Error(`GEMM tile ${JSON.stringify(t)}: sizes must be positive integers with tk a multiple of 4`);
  return t;
}

const cache = new Map<string, Kernel>();

/** The kernel of one (hooks, tile) pair, memoized by name. */
export function gemmKernel(hooks: GemmHooks, tile: GemmTile): Kernel {
  const name = `gemm_${hooks.name}_${gemmTileName(tile)}`;
  let k = cache.get(name);
  if (!k) {
    checkGemmTile(tile);
    k = {
      name,
      bindings: hooks.bindings,
      uniforms: hooks.uniforms,
      workgroupSize: [tile.wgX, tile.wgY],
      enables: hooks.f16 ? ['f16'] : [],
      source: `${hooks.source}\n${coreSource(tile)}`,
    };
    cache.set(name, k);
  }
  return k;
}

/** The tiled loop around the hooks. */
function coreSource(t: GemmTile): string {
  const { rows, cols } = gemmFootprint(t);
  return /* wgsl */ `
const RM: u32 = ${t.rm}u;
const RN: u32 = ${t.rn}u;
const TM: u32 = ${rows}u;
const TN: u32 = ${cols}u;
const TKQ: u32 = ${t.tk / 4}u;
const LANES: u32 = WG_X * WG_Y;

// Staged slices, [kq][m] and [kq][n]: 4 consecutive k per vec4.
var<workgroup> tile_a: array<vec4f, ${(t.tk / 4) * rows}>;
var<workgroup> tile_b: array<vec4f, ${(t.tk / 4) * cols}>;

@compute @workgroup_size(WG_X, WG_Y)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) li: u32) {
  let dims = gemm_dims();
  let tiles_n = (dims.y + TN - 1u) / TN;
  let flat = wid.x + wid.y * nwg.x;
  // Uniform per workgroup: every invocation of a live workgroup reaches the barriers.
  if (flat >= tiles_n * ((dims.x + TM - 1u) / TM)) { return; }
  let z = wid.z;
  let m0 = (flat / tiles_n) * TM;
  let n0 = (flat % tiles_n) * TN;
  var acc: array<f32, ${t.rm * t.rn}>;
  var b: array<vec4f, ${t.rn}>;
  for (var k0 = 0u; k0 < dims.z; k0 += TKQ) {
    for (var i = li; i < TKQ * TM; i += LANES) {
      tile_a[i] = read_a(z, m0 + i % TM, k0 + i / TM);
    }
    for (var i = li; i < TKQ * TN; i += LANES) {
      tile_b[i] = read_b(z, k0 + i / TN, n0 + i % TN);
    }
    workgroupBarrier();
    for (var kq = 0u; kq < TKQ; kq++) {
      for (var j = 0u; j < RN; j++) { b[j] = tile_b[kq * TN + lid.x + j * WG_X]; }
      for (var i = 0u; i < RM; i++) {
        let a = tile_a[kq * TM + lid.y + i * WG_Y];
        for (var j = 0u; j < RN; j++) { acc[i * RN + j] += dot(a, b[j]); }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < RM; i++) {
    let m = m0 + lid.y + i * WG_Y;
    for (var j = 0u; j < RN; j++) {
      let n = n0 + lid.x + j * WG_X;
      if (m < dims.x && n < dims.y) { write_c(z, m, n, acc[i * RN + j]); }
    }
  }
}
`;
}
