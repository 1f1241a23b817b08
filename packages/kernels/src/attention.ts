/**
 * Multi-head attention that never writes the score matrix: y = softmax(q kᵀ · scale) v per head, with an online
 * (running max / running sum) softmax over blocks of keys, accumulating in f32 on f32 and f16 storage.
 *
 * Layout (diffusers): q `[B, Sq, H·D]`, k/v `[B, Sk, H·D]`, head h owns channels [h·D, (h+1)·D); y like q.
 *
 * Design. Each invocation owns `rows` query rows, kept (pre-scaled by scale·log2(e)) in private arrays with their
 * f32 output accumulators, running max and running sum. All invocations of a workgroup walk the same keys in the
 * same order, so the K and V values are the same for every lane: in `direct` mode each lane loads them (one address
 * for the workgroup: a broadcast from cache on GPUs); in `subgroup` mode (lavapipe) lane l loads key j0 + l and
 * subgroupBroadcast shares it (see AttentionMode). No shared memory, no barrier. Per block of `keys` keys: a
 * rows x keys register tile of scores computed d-outer (each q value feeds `keys` FMAs, each k value `rows` FMAs),
 * one running-max update per row, exp2, then acc = acc·alpha + p·V, again d-outer. This tiling doubled the speed
 * of the key-outer loop it replaced, and subgroup mode doubled it again.
 * The head dim sizes the private arrays (a compile-time constant per variant), but the loops over it take their
 * bounds from uniforms of the same value: fully unrolled, a D = 88 variant took 23 s to compile on lavapipe, for no
 * measurable speed-up.
 * Large head dims can split the output columns into `chunk`-wide slices over workgroups; each slice recomputes the
 * scores, which costs (D / chunk + 1) / 2 times the work but keeps the accumulators small (for GPUs with few
 * registers; on lavapipe the unsplit D = 512 variant is fastest, see attentionTuning).
 */
import {
  type Device, type Kernel, LimitError, ParameterError, ShapeError, type Tensor, UnsupportedError, checkFloat, debugLog,
} from '@sd-webgpu/tensor';
import { FLASH_DECLS, FLASH_SCORES, flashKeys, flashTileBytes } from './flash.js';
import { cachedPlan } from './plans.js';
import { kernelRow } from './table.js';

export interface AttentionOptions {
  heads: number;
  /** Exclude key j for query i when j > i (CLIP's causal self-attention). */
  causal?: boolean;
  /** Score scale; default D^-0.5. */
  scale?: number;
}

/** Launch shape: lanes per workgroup, query rows per lane, keys per block, output columns per workgroup. */
export interface AttentionTuning {
  mode: AttentionMode;
  lanes: number;
  rows: number;
  keys: number;
  /** Output columns per workgroup: a divisor of D (a multiple of 4 when D is); D means no split. */
  chunk: number;
}

export interface AttentionVariant extends AttentionTuning {
  dtype: 'f32' | 'f16';
  /** Head dim. */
  dim: number;
  causal: boolean;
}

/**
 * How K/V values reach the lanes. `direct`: every lane loads each key's values (one address for the workgroup).
 * `subgroup` (the lavapipe row of ./table.ts: 8-lane subgroups): lane l loads key j0 + l and
 * `subgroupBroadcast` hands it to the others, so each K/V element is loaded once per workgroup instead of once per
 * lane (lavapipe runs every storage load as a per-lane loop, uniform address or not). Needs lanes = keys = 8.
 * `flash` (the GPU rows): the workgroup stages tiles of `keys` keys in workgroup memory (./flash.ts).
 */
export type AttentionMode = 'subgroup' | 'direct' | 'flash';

/**
 * Tuning, from side-by-side runs on lavapipe (bench/attention.ts --tune; CPU time of 2 cores, D = 40/64/80/160/512).
 * Subgroup mode wherever matmul uses it (2.2x faster than direct mode there), with SUBGROUP_ROWS rows per lane.
 * Direct mode: a tile of 4 rows x 8 keys per lane was best for every head dim (5.8-7.4 GFLOP/s; 2 x 8: 4.2-4.7;
 * 1 x 8: 2.4-3.0; 8 x 8 and 4 x 16 spill: 4.4-5.8). Splitting D = 512 into 128- or 256-column slices was 2.5x
 * slower than no split (the scores are recomputed per slice), so no split here; the option is for GPUs with small
 * register files, where this direct-mode choice is a starting point that was not measured.
 */
export function attentionTuning(device: Device, dim: number): AttentionTuning {
  const row = kernelRow(device).attention;
  if (typeof row === 'object') {
    const keys = flashKeys(row.flash, dim);
    if (keys > 0) return { mode: 'flash', lanes: row.flash.lanes, rows: row.flash.rows, keys, chunk: dim };
    debugLog('attention', `head dim ${dim}: a flash tile of 4 keys exceeds ${row.flash.tileBytes} B; running 'direct'`);
    return { mode: 'direct', lanes: 8, rows: 4, keys: 8, chunk: dim };
  }
  return { mode: row, lanes: 8, rows: row === 'subgroup' ? SUBGROUP_ROWS : 4, keys: 8, chunk: dim };
}

/**
 * Rows per lane in subgroup mode, from side-by-side CPU-time runs on lavapipe (1x8x1024² d40 / 1x1x1024² d512):
 * 1 row 10.0, 2 rows 11.2 / 15.4, 4 rows 12.2 / 16.0, 8 rows 9.4 GFLOP/s (spills); direct mode 4 x 8: 5.6 / 6.9.
 */
export const SUBGROUP_ROWS = 4;

/** The score tile: sv[r][kk] += q_r[d] · k_(j0+kk)[d] for one d (unrolled: broadcasts need constant lanes). */
function scoreTile(mode: 'direct' | 'subgroup', rows: number, keys: number): string {
  if (mode === 'direct') {
    return `for (var kk = 0u; kk < KB; kk = kk + 1u) {
        let kv = V(k[krow[kk] + d]);
        for (var r = 0u; r < RL; r = r + 1u) { sv[r][kk] = fma(qd[r], kv, sv[r][kk]); }
      }`;
  }
  const out = ['let kown = V(k[kmine + d]);'];
  for (let kk = 0; kk < keys; kk++) {
    out.push(`let kv${kk} = subgroupBroadcast(kown, ${kk}u);`);
    for (let r = 0; r < rows; r++) out.push(`sv[${r}][${kk}] = fma(qd[${r}], kv${kk}, sv[${r}][${kk}]);`);
  }
  return out.join('\n      ');
}

/**
 * One block's scores, unmasked (the masking loop reads them). `direct`/`subgroup`: a rows x keys register tile sv
 * computed d-outer (each q load feeds KB FMAs and each k load RL FMAs); `flash`: p itself, from the staged tiles
 * of ./flash.ts.
 */
function blockScores(mode: AttentionMode, rows: number, keys: number): string {
  if (mode === 'flash') return FLASH_SCORES;
  return `// Rows of the block's keys (clamped; keys past the end are masked below), the same for every lane.
    var krow: array<u32, KB>;
    for (var kk = 0u; kk < KB; kk = kk + 1u) { krow[kk] = kbase + min(j0 + kk, params.sk - 1u) * params.stride; }
    let kmine = kbase + min(j0 + lane, params.sk - 1u) * params.stride; // subgroup mode: this lane's key
    var sv: array<array<V, KB>, RL>;
    for (var r = 0u; r < RL; r = r + 1u) {
      for (var kk = 0u; kk < KB; kk = kk + 1u) { sv[r][kk] = V(0.0); }
    }
    for (var d = 0u; d < params.d4; d = d + 1u) {
      var qd: array<V, RL>;
      for (var r = 0u; r < RL; r = r + 1u) { qd[r] = qr[r][d]; }
      ${scoreTile(mode, rows, keys)}
    }
    var p: array<array<f32, KB>, RL>; // sv reduced and masked by the loop below`;
}

/** The output tile: a[r] += p[r][kk] · v_(j0+kk)[col0 + d] for one d. */
function outputTile(mode: AttentionMode, rows: number, keys: number): string {
  if (mode !== 'subgroup') {
    return `for (var kk = 0u; kk < KB; kk = kk + 1u) {
        let vv = ${mode === 'flash' ? 'vt[kk * O4 + d]' : 'V(v[krow[kk] + col0 + d])'};
        for (var r = 0u; r < RL; r = r + 1u) { a[r] = fma(V(p[r][kk]), vv, a[r]); }
      }`;
  }
  const out = ['let vown = V(v[kmine + col0 + d]);'];
  for (let kk = 0; kk < keys; kk++) {
    out.push(`let vv${kk} = subgroupBroadcast(vown, ${kk}u);`);
    for (let r = 0; r < rows; r++) out.push(`a[${r}] = fma(V(p[${r}][${kk}]), vv${kk}, a[${r}]);`);
  }
  return out.join('\n      ');
}

const cache = new Map<string, Kernel>();

/** Descriptor of one attention variant (memoized: the same object for the same variant). */
export function attentionKernel(variant: AttentionVariant): Kernel {
  const { mode, dtype, dim, causal, lanes, rows, keys, chunk } = variant;
  if (mode === 'subgroup' && (lanes !== 8 || keys !== 8)) {
    throw new ParameterError('attentionKernel', 'lanes/keys', `subgroup mode needs 8 lanes and 8 keys, got ${lanes} and ${keys}`);
  }
  const vec = dim % 4 === 0 ? 4 : 1;
  for (const [k, v] of Object.entries({ lanes, rows, keys })) {
    if (!Number.isInteger(v) || v < 1) throw new ParameterError('attentionKernel', k, `must be a positive integer, got ${v}`);
  }
  if (!Number.isInteger(chunk) || chunk < 1 || dim % chunk !== 0 || chunk % vec !== 0) {
    throw new ParameterError('attentionKernel', 'chunk', `must divide the head dim ${dim} in steps of ${vec}, got ${chunk}`);
  }
  const name = `attention_${mode}_${dtype}_d${dim}_c${chunk}${causal ? '_causal' : ''}_${lanes}x${rows}_k${keys}`;
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
    enables: [...(dtype === 'f16' ? ['f16' as const] : []), ...(mode === 'subgroup' ? ['subgroups' as const] : [])],
    source: /* wgsl */ `
alias V = ${vec === 4 ? 'vec4<f32>' : 'f32'};
/** Loads per head row, loads per output slice (array sizes; loops use params.d4/o4), rows per lane, keys per block. */
const D4: u32 = ${dim / vec}u;
const O4: u32 = ${chunk / vec}u;
const RL: u32 = ${rows}u;
const KB: u32 = ${keys}u;
const CAUSAL: bool = ${causal};
/** -FLT_MAX marks excluded scores (keys past the end, causal mask). */
const NEG: f32 = -3.4028234663852886e38;
${mode === 'flash' ? FLASH_DECLS : ''}
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
    ${blockScores(mode, rows, keys)}
    // Running max per row; p = exp2(s - max) (log2 domain: q carries scale·log2(e)); alpha rescales the past.
    var alpha: array<f32, RL>;
    for (var r = 0u; r < RL; r = r + 1u) {
      let i = row0 + r * WG_X + lane;
      var mx = m[r];
      for (var kk = 0u; kk < KB; kk = kk + 1u) {
        let j = j0 + kk;
        let valid = j < params.sk && (!CAUSAL || j <= i);
        p[r][kk] = select(NEG, ${mode === 'flash' ? 'p[r][kk]' : 'hsum(sv[r][kk])'}, valid);
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
    // acc = acc·alpha + p·V, d-outer: each v value feeds RL FMAs.
    for (var d = 0u; d < params.o4; d = d + 1u) {
      var a: array<V, RL>;
      for (var r = 0u; r < RL; r = r + 1u) { a[r] = acc[r][d] * alpha[r]; }
      ${outputTile(mode, rows, keys)}
      for (var r = 0u; r < RL; r = r + 1u) { acc[r][d] = a[r]; }
    }${mode === 'flash' ? '\n    workgroupBarrier(); // the next tile overwrites kt / vt' : ''}
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

/**
 * softmax(q kᵀ · scale) v per head; q `[B, Sq, H·D]`, k/v `[B, Sk, H·D]` → `[B, Sq, H·D]`. `tuning` overrides the
 * launch shape (benchmarks).
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions, tuning?: AttentionTuning): Tensor {
  const op = 'attention';
  checkFloat(op, q.dtype);
  for (const [n, t] of [['k', k], ['v', v]] as const) {
    if (t.dtype !== q.dtype) throw new UnsupportedError(op, `${n} is ${t.dtype} but q is ${q.dtype}`);
  }
  if (q.rank !== 3 || k.rank !== 3 || v.rank !== 3) {
    throw new ShapeError(op, 'q, k and v must be [B, S, heads·D]', [q.shape, k.shape, v.shape]);
  }
  const [b, sq, c] = q.shape as [number, number, number];
  const sk = k.shape[1]!;
  if (k.shape[0] !== b || k.shape[2] !== c || v.shape[0] !== b || v.shape[1] !== sk || v.shape[2] !== c) {
    throw new ShapeError(op, 'k and v must be [B, Sk, C] with the batch and channels of q', [q.shape, k.shape, v.shape]);
  }
  const { heads, causal = false } = opts;
  if (!Number.isInteger(heads) || heads < 1 || c % heads !== 0) {
    throw new ParameterError(op, 'heads', `must be a positive divisor of the channel count ${c}, got ${heads}`);
  }
  const dim = c / heads;
  const scale = opts.scale ?? 1 / Math.sqrt(dim);
  if (!Number.isFinite(scale)) throw new ParameterError(op, 'scale', `must be finite, got ${scale}`);
  if (sk === 0 && q.size > 0) throw new ShapeError(op, 'k and v have no keys (Sk = 0)', [k.shape]);
  const device = q.device;
  const limit = device.limits.maxStorageBufferBindingSize;
  for (const t of [q, k, v]) {
    if (t.byteLength > limit) throw new LimitError(op, `${t.describe()} is larger than maxStorageBufferBindingSize ${limit}`);
  }
  const t = tuning ?? attentionTuning(device, dim);
  if (t.mode === 'subgroup' && !device.features.subgroups) {
    throw new UnsupportedError(op, 'subgroup mode needs the device feature "subgroups"');
  }
  if (t.mode === 'flash' && flashTileBytes(dim, t.keys, t.chunk) > device.limits.maxComputeWorkgroupStorageSize) {
    throw new LimitError(op, `flash tiles of ${t.keys} keys at head dim ${dim} need ${flashTileBytes(dim, t.keys, t.chunk)} B ` +
      `of workgroup memory (this device: ${device.limits.maxComputeWorkgroupStorageSize} B)`);
  }
  const variant = () => attentionKernel({ dtype: q.dtype as 'f32' | 'f16', dim, causal, ...t });
  const key = `${q.dtype}|${dim}|${causal}|${t.mode}|${t.lanes}|${t.rows}|${t.keys}|${t.chunk}`;
  const kernel = tuning ? variant() : cachedPlan(device, 'attention', key, variant);
  const vec = dim % 4 === 0 ? 4 : 1;
  const nchunks = dim / t.chunk;
  const qBlocks = Math.ceil(sq / (t.lanes * t.rows));
  const max = device.limits.maxComputeWorkgroupsPerDimension;
  if (qBlocks > max || heads * nchunks > max || b > max) {
    throw new LimitError(op, `grid ${qBlocks}x${heads * nchunks}x${b} exceeds ${max} workgroups per dimension`);
  }
  const y = device.empty(q.shape, q.dtype);
  if (y.size === 0) return y;
  device.run(kernel, {
    bindings: { q, k, v, y },
    uniforms: { sq, sk, stride: c / vec, nchunks, scale2: scale * Math.LOG2E, d4: dim / vec, o4: t.chunk / vec },
    workgroups: [qBlocks, heads * nchunks, b],
  });
  return y;
}
