/**
 * Flash attention for GPUs (the `{ flash }` attention of the kernel table, ./table.ts): the workgroup owns a block
 * of WG_X·RL query rows of one head and walks the keys in tiles of KB. Each tile's K rows and V columns are loaded
 * once per workgroup, cooperatively (consecutive lanes take consecutive vec4s, so the loads coalesce), into
 * `var<workgroup>` as f32, and every lane reads them from there (one address for all lanes: a broadcast). Each
 * lane keeps its RL query rows (pre-scaled by scale·log2(e)), their f32 output accumulators and the online-softmax
 * running max and sum in registers, exactly like the `direct` kernel of ./attention.ts, whose layout, uniforms and
 * grid it shares: only the way K/V reach the lanes differs (global loads per lane there, one staged tile here).
 *
 * Keys past Sk (77 cross-attention keys in tiles of 32: the tail of the last tile) are clamped on load and masked
 * out of the max and the sum; causal masking as in ./attention.ts. Workgroup memory is 2·KB·D·4 bytes (K tile plus
 * the V tile of the `chunk` output columns), which `flashKeys` keeps within the row's `tileBytes`.
 */
import { type Kernel, ParameterError } from '@sd-webgpu/tensor';

/** The kernel table's flash-attention shape: lanes, query rows per lane, at most `keys` keys per tile. */
export interface FlashTile {
  readonly lanes: number;
  readonly rows: number;
  readonly keys: number;
  /** Workgroup memory for the K and V tiles; the tile's key count is cut to fit it. */
  readonly tileBytes: number;
}

export interface FlashVariant {
  dtype: 'f32' | 'f16';
  /** Head dim. */
  dim: number;
  causal: boolean;
  lanes: number;
  rows: number;
  /** Keys per tile. */
  keys: number;
  /** Output columns per workgroup: a divisor of D (a multiple of 4 when D is). */
  chunk: number;
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

const cache = new Map<string, Kernel>();

/** Descriptor of one flash-attention variant (memoized: the same object for the same variant). */
export function flashKernel(variant: FlashVariant): Kernel {
  const { dtype, dim, causal, lanes, rows, keys, chunk } = variant;
  const vec = dim % 4 === 0 ? 4 : 1;
  for (const [k, v] of Object.entries({ lanes, rows, keys })) {
    if (!Number.isInteger(v) || v < 1) throw new ParameterError('flashKernel', k, `must be a positive integer, got ${v}`);
  }
  if (!Number.isInteger(chunk) || chunk < 1 || dim % chunk !== 0 || chunk % vec !== 0) {
    throw new ParameterError('flashKernel', 'chunk', `must divide the head dim ${dim} in steps of ${vec}, got ${chunk}`);
  }
  const name = `attention_flash_${dtype}_d${dim}_c${chunk}${causal ? '_causal' : ''}_${lanes}x${rows}_k${keys}`;
  const hit = cache.get(name);
  if (hit) return hit;
  const st = vec === 4 ? `vec4<${dtype}>` : dtype;
  const kernel: Kernel = {
    name,
    bindings: [
      { name: 'q', type: `array<${st}>`, access: 'read' },
      { name: 'k', type: `array<${st}>`, access: 'read' },
      { name: 'v', type: `array<${st}>`, access: 'read' },
      { name: 'y', type: `array<${st}>`, access: 'read_write' },
    ],
    uniforms: [
      { name: 'sq', type: 'u32' },
      { name: 'sk', type: 'u32' },
      { name: 'stride', type: 'u32' },
      { name: 'nchunks', type: 'u32' },
      { name: 'scale2', type: 'f32' },
      { name: 'd4', type: 'u32' },
      { name: 'o4', type: 'u32' },
    ],
    workgroupSize: [lanes],
    enables: dtype === 'f16' ? ['f16'] : [],
    source: /* wgsl */ `
alias V = ${vec === 4 ? 'vec4<f32>' : 'f32'};
/** Loads per head row, loads per output slice, rows per lane, keys per tile. */
const D4: u32 = ${dim / vec}u;
const O4: u32 = ${chunk / vec}u;
const RL: u32 = ${rows}u;
const KB: u32 = ${keys}u;
const CAUSAL: bool = ${causal};
/** -FLT_MAX marks excluded scores (keys past the end, causal mask). */
const NEG: f32 = -3.4028234663852886e38;

/** This tile's K rows (KB x D4) and V columns of the output slice (KB x O4), f32. */
var<workgroup> kt: array<V, KB * D4>;
var<workgroup> vt: array<V, KB * O4>;

fn hsum(a: V) -> f32 { return ${vec === 4 ? 'dot(a, vec4<f32>(1.0))' : 'a'}; }

@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
  let head = wid.y / params.nchunks;
  let col0 = (wid.y % params.nchunks) * params.o4;
  let row0 = wid.x * WG_X * RL;
  let qbase = wid.z * params.sq * params.stride + head * D4;
  let kbase = wid.z * params.sk * params.stride + head * D4;

  var qr: array<array<V, D4>, RL>;
  var acc: array<array<V, O4>, RL>;
  var m: array<f32, RL>;
  var l: array<f32, RL>;
  for (var r = 0u; r < RL; r = r + 1u) {
    let i = min(row0 + r * WG_X + lane, params.sq - 1u);
    for (var d = 0u; d < params.d4; d = d + 1u) { qr[r][d] = V(q[qbase + i * params.stride + d]) * params.scale2; }
    for (var d = 0u; d < params.o4; d = d + 1u) { acc[r][d] = V(0.0); }
    m[r] = NEG;
    l[r] = 0.0;
  }

  var kend = params.sk;
  if (CAUSAL) { kend = min(kend, row0 + WG_X * RL); } // no row of this workgroup sees keys past its last row
  for (var j0 = 0u; j0 < kend; j0 = j0 + KB) {
    // Stage the tile (keys past the end clamped; masked below). Uniform bounds: the barriers stay in uniform flow.
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
    }
    // Running max per row; p = exp2(s - max) (log2 domain: q carries scale·log2(e)); alpha rescales the past.
    var alpha: array<f32, RL>;
    for (var r = 0u; r < RL; r = r + 1u) {
      let i = row0 + r * WG_X + lane;
      var mx = m[r];
      for (var kk = 0u; kk < KB; kk = kk + 1u) {
        let j = j0 + kk;
        let valid = j < params.sk && (!CAUSAL || j <= i);
        p[r][kk] = select(NEG, p[r][kk], valid);
        mx = max(mx, p[r][kk]);
      }
      alpha[r] = exp2(m[r] - mx);
      m[r] = mx;
      var sum = 0.0;
      for (var kk = 0u; kk < KB; kk = kk + 1u) {
        p[r][kk] = select(0.0, exp2(p[r][kk] - mx), p[r][kk] > NEG);
        sum = sum + p[r][kk];
      }
      l[r] = l[r] * alpha[r] + sum;
    }
    // acc = acc·alpha + p·V, each staged v value feeding RL FMAs.
    for (var d = 0u; d < params.o4; d = d + 1u) {
      var a: array<V, RL>;
      for (var r = 0u; r < RL; r = r + 1u) { a[r] = acc[r][d] * alpha[r]; }
      for (var kk = 0u; kk < KB; kk = kk + 1u) {
        let vv = vt[kk * O4 + d];
        for (var r = 0u; r < RL; r = r + 1u) { a[r] = fma(V(p[r][kk]), vv, a[r]); }
      }
      for (var r = 0u; r < RL; r = r + 1u) { acc[r][d] = a[r]; }
    }
    workgroupBarrier(); // the next tile overwrites kt / vt
  }

  for (var r = 0u; r < RL; r = r + 1u) {
    let i = row0 + r * WG_X + lane;
    if (i < params.sq) {
      let inv = select(0.0, 1.0 / l[r], l[r] > 0.0);
      let ybase = qbase + i * params.stride + col0;
      for (var d = 0u; d < params.o4; d = d + 1u) { y[ybase + d] = ${st}(acc[r][d] * inv); }
    }
  }
}`,
  };
  cache.set(name, kernel);
  return kernel;
}
