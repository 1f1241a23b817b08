/**
 * The GEMM core on subgroup matrices (Dawn's `chromium_experimental_subgroup_matrix`: tensor cores on NVIDIA, simdgroup
 * matrices on Apple, XMX on Intel), for f16 operands with f32 accumulation. It takes the same hooks as the scalar core
 * (./core.ts: gemm_dims, read_a, read_b, write_c), so matmul/linear and conv2d (implicit GEMM) with all their
 * epilogues run on it unchanged.
 *
 * Per workgroup: `sgX × sgY` subgroups of `lanes` invocations (a 1-D workgroup, so its x size is a multiple of the
 * subgroup size as the extension requires), a `TM × TN` output tile (TM = sgY·fm·m, TN = sgX·fn·n). Each step every
 * invocation stages its share of a `tk`-deep slice of A (row-major `[TM][tk]`) and B (row-major `[tk][TN]`) in
 * workgroup memory as f16 (the hooks' values come from f16 storage, so this is exact); then each subgroup multiplies
 * its `fm × fn` result matrices of `m × n` with `m × k` left and `k × n` right matrices loaded from the staged
 * slices. The epilogue stores one result matrix per subgroup at a time into an f32 scratch, and every invocation of
 * the workgroup calls `write_c` for its share of the scratch (bounds-checked: partial tiles and odd sizes work).
 *
 * `emulate` builds the same kernel with the subgroup-matrix builtins written out in plain WGSL (virtual subgroups of
 * `lanes` invocations that share each result matrix, as real ones do), so the tiling, staging and epilogue are checked
 * against the CPU references on adapters without the feature (lavapipe, in CI). Only the builtins themselves, the
 * `sm_*` wrappers of `native()` below, are left to the adapters that have them.
 */
import type { Kernel } from '@sd-webgpu/tensor';
import type { GemmHooks } from './core.js';

/** A subgroup-matrix GEMM tile. `m × n × k` must be one of the device's f16 → f32 subgroup-matrix configs. */
export interface MatrixTile {
  readonly kind: 'matrix';
  /** Rows of a left/result matrix. */
  readonly m: number;
  /** Columns of a right/result matrix. */
  readonly n: number;
  /** Columns of a left matrix, rows of a right one. */
  readonly k: number;
  /** Subgroups per workgroup along N. */
  readonly sgX: number;
  /** Subgroups per workgroup along M. */
  readonly sgY: number;
  /** Result matrices per subgroup along M. */
  readonly fm: number;
  /** Result matrices per subgroup along N. */
  readonly fn: number;
  /** k values staged per step: a multiple of 4 and of `k`. */
  readonly tk: number;
  /** Invocations per subgroup: the device's (fixed) subgroup size for the native kernel. */
  readonly lanes: number;
  /** Plain-WGSL builtins instead of the extension (tests on adapters without it). */
  readonly emulate?: boolean;
}

export function matrixTileName(t: MatrixTile): string {
  return `sm${t.m}x${t.n}x${t.k}_g${t.sgX}x${t.sgY}_f${t.fm}x${t.fn}_k${t.tk}_l${t.lanes}${t.emulate ? '_emu' : ''}`;
}

export function matrixFootprint(t: MatrixTile): { rows: number; cols: number } {
  return { rows: t.sgY * t.fm * t.m, cols: t.sgX * t.fn * t.n };
}

export function matrixInvocations(t: MatrixTile): number {
  return t.sgX * t.sgY * t.lanes;
}

/** Workgroup memory in bytes: the f16 slices of A and B and one f32 result matrix per subgroup. */
export function matrixSharedBytes(t: MatrixTile): number {
  const { rows, cols } = matrixFootprint(t);
  return (rows + cols) * t.tk * 2 + t.sgX * t.sgY * t.m * t.n * 4;
}

/** Throws when a tile is malformed; returns it otherwise. */
export function checkMatrixTile(t: MatrixTile): MatrixTile {
  const ints = [t.m, t.n, t.k, t.sgX, t.sgY, t.fm, t.fn, t.tk, t.lanes].every((v) => Number.isInteger(v) && v >= 1);
  if (!ints || t.tk % 4 !== 0 || t.tk % t.k !== 0 || t.emulate && (t.m * t.n) % t.lanes !== 0) {
    throw new Error(`subgroup-matrix GEMM tile ${JSON.stringify(t)}: sizes must be positive integers with tk a multiple of 4 and of k ` +
      '(emulated: m·n a multiple of lanes)');
  }
  return t;
}

const cache = new Map<string, Kernel>();

/** The kernel of one (hooks, tile) pair, memoized by name. The hooks must be an f16 variant. */
export function matrixKernel(hooks: GemmHooks, tile: MatrixTile): Kernel {
  const name = `gemm_${hooks.name}_${matrixTileName(tile)}`;
  let k = cache.get(name);
  if (!k) {
    checkMatrixTile(tile);
    if (!hooks.f16) throw new Error(`${name}: the subgroup-matrix GEMM multiplies f16 operands (hooks '${hooks.name}' are f32)`);
    k = {
      name,
      bindings: hooks.bindings,
      uniforms: hooks.uniforms,
      workgroupSize: [matrixInvocations(tile)],
      enables: tile.emulate ? ['f16'] : ['f16', 'subgroups', 'chromium_experimental_subgroup_matrix'],
      // Offsets derive from subgroup_id, which the workgroup-scope uniformity analysis cannot prove subgroup-uniform.
      diagnostics: tile.emulate ? [] : ['off, chromium_experimental.subgroup_matrix_uniformity'],
      source: `${hooks.source}\n${coreSource(tile)}`,
    };
    cache.set(name, k);
  }
  return k;
}

/**
 * The extension's builtins behind the `sm_*` wrappers the core calls, in the form of the Dawn in `webgpu` 0.6.2
 * (types `<T, columns, rows>`, a `col_major` bool argument; later Dawns also take a layout template argument): should
 * a Dawn reject them, probeMatrixGemm keeps the scalar core.
 */
const native = (t: MatrixTile) => /* wgsl */ `
alias SmA = subgroup_matrix_left<f16, ${t.k}, ${t.m}>;
alias SmB = subgroup_matrix_right<f16, ${t.n}, ${t.k}>;
alias SmC = subgroup_matrix_result<f32, ${t.n}, ${t.m}>;
fn sm_load_a(off: u32) -> SmA { return subgroupMatrixLoad<SmA>(&sa, off, false, TK); }
fn sm_load_b(off: u32) -> SmB { return subgroupMatrixLoad<SmB>(&sb, off, false, TN); }
fn sm_mma(a: SmA, b: SmB, c: SmC) -> SmC { return subgroupMatrixMultiplyAccumulate(a, b, c); }
fn sm_store_c(off: u32, c: SmC) { subgroupMatrixStore(&sc, off, c, false, SM_N); }
fn sm_init(li: u32) {}
`;

/**
 * The same in plain WGSL, with the extension's semantics (row-major loads: element [r, c] at off + r·stride + c). A
 * left/right matrix is its offset in the staged slice (the slices do not change between a load and the multiplies
 * that use it); a result matrix is spread over the virtual subgroup's lanes like a real one (lane l holds elements
 * l, l + lanes, ...), so each lane does 1/lanes of a multiply.
 */
const EMULATED = /* wgsl */ `
alias SmA = u32;
alias SmB = u32;
alias SmC = array<f32, SM_M * SM_N / SG_LANES>;
var<private> sm_lane: u32;
// Loop bounds the compiler cannot see through (never 0xffffffff k-quads): unrolled, one of these kernels took over a
// minute to compile on lavapipe.
var<private> sm_per_lane: u32;
var<private> sm_k: u32;
fn sm_init(li: u32) {
  sm_lane = li % SG_LANES;
  let opaque = gemm_dims().z == 0xffffffffu;
  sm_per_lane = select(SM_M * SM_N / SG_LANES, 0u, opaque);
  sm_k = select(SM_K, 0u, opaque);
}
fn sm_load_a(off: u32) -> SmA { return off; }
fn sm_load_b(off: u32) -> SmB { return off; }
fn sm_mma(a: SmA, b: SmB, c: SmC) -> SmC {
  var r = c;
  for (var j = 0u; j < sm_per_lane; j++) {
    let e = sm_lane + j * SG_LANES;
    let row = e / SM_N;
    let col = e % SM_N;
    var s = r[j];
    for (var q = 0u; q < sm_k; q++) { s += f32(sa[a + row * TK + q]) * f32(sb[b + q * TN + col]); }
    r[j] = s;
  }
  return r;
}
fn sm_store_c(off: u32, c: SmC) {
  for (var j = 0u; j < sm_per_lane; j++) { sc[off + sm_lane + j * SG_LANES] = c[j]; }
}
`;

function coreSource(t: MatrixTile): string {
  const { rows, cols } = matrixFootprint(t);
  const frags: [number, number][] = [];
  for (let i = 0; i < t.fm; i++) for (let j = 0; j < t.fn; j++) frags.push([i, j]);
  const range = (n: number) => [...Array(n).keys()];
  const sgOf = t.emulate ? 'li / SG_LANES' : 'sg_id';
  const entryArgs = t.emulate ? '' : ', @builtin(subgroup_id) sg_id: u32';
  return /* wgsl */ `
const SM_M: u32 = ${t.m}u;
const SM_N: u32 = ${t.n}u;
const SM_K: u32 = ${t.k}u;
const SGX: u32 = ${t.sgX}u;
const FM: u32 = ${t.fm}u;
const FN: u32 = ${t.fn}u;
const SG_LANES: u32 = ${t.lanes}u;
const NSG: u32 = ${t.sgX * t.sgY}u;
const TM: u32 = ${rows}u;
const TN: u32 = ${cols}u;
const TK: u32 = ${t.tk}u;
const TKQ: u32 = ${t.tk / 4}u;
const LANES: u32 = WG_X;

// Staged f16 slices: A row-major [TM][TK], B row-major [TK][TN]; one f32 result matrix per subgroup for the epilogue.
var<workgroup> sa: array<f16, ${rows * t.tk}>;
var<workgroup> sb: array<f16, ${t.tk * cols}>;
var<workgroup> sc: array<f32, ${t.sgX * t.sgY * t.m * t.n}>;
${t.emulate ? EMULATED : native(t)}
@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32${entryArgs}) {
  let dims = gemm_dims();
  let tiles_n = (dims.y + TN - 1u) / TN;
  let flat = wid.x + wid.y * nwg.x;
  // Uniform per workgroup: every invocation of a live workgroup reaches the barriers.
  if (flat >= tiles_n * ((dims.x + TM - 1u) / TM)) { return; }
  let z = wid.z;
  let m0 = (flat / tiles_n) * TM;
  let n0 = (flat % tiles_n) * TN;
  sm_init(li);
  let sg = ${sgOf};
  // This subgroup's block of the tile: rows row0.., columns col0.. (fm × fn result matrices).
  let row0 = (sg / SGX) * FM * SM_M;
  let col0 = (sg % SGX) * FN * SM_N;
${frags.map(([i, j]) => `  var c${i}${j} = SmC();`).join('\n')}
  for (var k0 = 0u; k0 < dims.z; k0 += TKQ) {
    for (var i = li; i < TKQ * TM; i += LANES) {
      let q = read_a(z, m0 + i % TM, k0 + i / TM);
      let o = (i % TM) * TK + 4u * (i / TM);
      sa[o] = f16(q.x); sa[o + 1u] = f16(q.y); sa[o + 2u] = f16(q.z); sa[o + 3u] = f16(q.w);
    }
    for (var i = li; i < TKQ * TN; i += LANES) {
      let q = read_b(z, k0 + i / TN, n0 + i % TN);
      let o = 4u * (i / TN) * TN + i % TN;
      sb[o] = f16(q.x); sb[o + TN] = f16(q.y); sb[o + 2u * TN] = f16(q.z); sb[o + 3u * TN] = f16(q.w);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TK; kk += SM_K) {
${range(t.fm).map((i) => `      let a${i} = sm_load_a((row0 + ${i}u * SM_M) * TK + kk);`).join('\n')}
${range(t.fn).map((j) => `      let b${j} = sm_load_b(kk * TN + col0 + ${j}u * SM_N);`).join('\n')}
${frags.map(([i, j]) => `      c${i}${j} = sm_mma(a${i}, b${j}, c${i}${j});`).join('\n')}
    }
    workgroupBarrier();
  }
${frags.map(([i, j]) => `  sm_store_c(sg * SM_M * SM_N, c${i}${j});
  workgroupBarrier();
  write_fragment(z, m0, n0, ${i}u, ${j}u, li, dims);
  workgroupBarrier();`).join('\n')}
}

// Every invocation writes its share of the NSG result matrices (fragment (fi, fj) of each subgroup) from the scratch.
fn write_fragment(z: u32, m0: u32, n0: u32, fi: u32, fj: u32, li: u32, dims: vec3u) {
  for (var e = li; e < NSG * SM_M * SM_N; e += LANES) {
    let s = e / (SM_M * SM_N);
    let r = e % (SM_M * SM_N);
    let m = m0 + (s / SGX) * FM * SM_M + fi * SM_M + r / SM_N;
    let n = n0 + (s % SGX) * FN * SM_N + fj * SM_N + r % SM_N;
    if (m < dims.x && n < dims.y) { write_c(z, m, n, sc[e]); }
  }
}
`;
}
