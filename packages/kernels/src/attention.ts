/**
 * Multi-head attention that never writes the score matrix: y = softmax(q kᵀ · scale) v per head, with an online
 * (running max / running sum) softmax over blocks of keys, accumulating in f32 on f32 and f16 storage.
 *
 * Layout (diffusers): q `[B, Sq, H·D]`, k/v `[B, Sk, H·D]`, head h owns channels [h·D, (h+1)·D); y like q.
 *
 * Design. Each invocation owns `rows` query rows and keeps them, scaled by scale·log2(e), in registers, with their
 * f32 output accumulators, running max and running sum. All invocations of a workgroup walk the same keys in the
 * same order, so every K and V load has one address for the whole workgroup: on lavapipe a uniform load is a
 * scalar load plus a broadcast, far cheaper than per-lane loads, and on GPUs it is a broadcast from cache. There is
 * no shared memory and no barrier. Per key block: scores for `keys` keys, one max update (rescaling the output
 * once), then exp2 and accumulation. The head dim sizes the private arrays (a compile-time constant per variant),
 * but the loops over it take their bounds from uniforms of the same value: fully unrolled, a D = 88 variant took
 * 23 s to compile on lavapipe, for no measurable speed-up.
 * Large head dims can split the output columns into `chunk`-wide slices over workgroups; each slice recomputes the
 * scores, which costs (D / chunk + 1) / 2 times the work but keeps the accumulators small (for GPUs with few
 * registers; on lavapipe the unsplit D = 512 variant is fastest, see attentionTuning).
 */
import { type Kernel, LimitError, ParameterError, ShapeError, type Tensor, UnsupportedError, checkFloat } from '@sd-webgpu/tensor';

export interface AttentionOptions {
  heads: number;
  /** Exclude key j for query i when j > i (CLIP's causal self-attention). */
  causal?: boolean;
  /** Score scale; default D^-0.5. */
  scale?: number;
}

/** Launch shape: lanes per workgroup, query rows per lane, keys per block, output columns per workgroup. */
export interface AttentionTuning {
  lanes: number;
  rows: number;
  keys: number;
  /** Output columns per workgroup (a divisor of D, and of D/4 · 4 when D % 4 == 0); D means no split. */
  chunk: number;
}

export interface AttentionVariant extends AttentionTuning {
  dtype: 'f32' | 'f16';
  /** Head dim. */
  dim: number;
  causal: boolean;
}

/**
 * Tuning by head dim, from `npm run bench -- attention` on lavapipe (see bench/attention.ts for the comparison).
 * Rows per lane trade the uniform K/V loads (amortised over more rows) against private-array size.
 */
export function attentionTuning(dim: number): AttentionTuning {
  const chunk = dim > 160 ? largestDivisorAtMost(dim, 128, dim % 4 === 0 ? 4 : 1) : dim;
  return { lanes: 8, rows: dim <= 80 ? 2 : 1, keys: 8, chunk };
}

function largestDivisorAtMost(n: number, max: number, step: number): number {
  for (let c = Math.floor(max / step) * step; c >= step; c -= step) if (n % c === 0) return c;
  return n;
}

const cache = new Map<string, Kernel>();

/** Descriptor of one attention variant (memoized: the same object for the same variant). */
export function attentionKernel(variant: AttentionVariant): Kernel {
  const { dtype, dim, causal, lanes, rows, keys, chunk } = variant;
  const vec = dim % 4 === 0 ? 4 : 1;
  if (dim % chunk !== 0 || chunk % vec !== 0) {
    throw new ParameterError('attentionKernel', 'chunk', `must divide the head dim ${dim} in steps of ${vec}, got ${chunk}`);
  }
  const name = `attention_${dtype}_d${dim}_c${chunk}${causal ? '_causal' : ''}_${lanes}x${rows}_k${keys}`;
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
/** Loads per head row, loads per output slice (array sizes; loops use params.d4/o4), rows per lane, keys per block. */
const D4: u32 = ${dim / vec}u;
const O4: u32 = ${chunk / vec}u;
const RL: u32 = ${rows}u;
const KB: u32 = ${keys}u;
const CAUSAL: bool = ${causal};
/** -FLT_MAX marks excluded scores (keys past the end, causal mask). */
const NEG: f32 = -3.4028234663852886e38;

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
    // Scores of KB keys (log2 domain). The key index is the same for every lane: uniform loads.
    var s: array<array<f32, KB>, RL>;
    for (var kk = 0u; kk < KB; kk = kk + 1u) {
      let j = j0 + kk;
      let krow = kbase + min(j, params.sk - 1u) * params.stride;
      var sc: array<V, RL>;
      for (var r = 0u; r < RL; r = r + 1u) { sc[r] = V(0.0); }
      for (var d = 0u; d < params.d4; d = d + 1u) {
        let kv = V(k[krow + d]);
        for (var r = 0u; r < RL; r = r + 1u) { sc[r] = fma(qr[r][d], kv, sc[r]); }
      }
      for (var r = 0u; r < RL; r = r + 1u) {
        let valid = j < params.sk && (!CAUSAL || j <= row0 + r * WG_X + lane);
        s[r][kk] = select(NEG, hsum(sc[r]), valid);
      }
    }
    // One max update per block: rescale the running sum and the accumulators once.
    for (var r = 0u; r < RL; r = r + 1u) {
      var mx = m[r];
      for (var kk = 0u; kk < KB; kk = kk + 1u) { mx = max(mx, s[r][kk]); }
      let alpha = exp2(m[r] - mx);
      m[r] = mx;
      l[r] = l[r] * alpha;
      for (var d = 0u; d < params.o4; d = d + 1u) { acc[r][d] = acc[r][d] * alpha; }
    }
    for (var kk = 0u; kk < KB; kk = kk + 1u) {
      let vrow = kbase + min(j0 + kk, params.sk - 1u) * params.stride + col0;
      var p: array<f32, RL>;
      for (var r = 0u; r < RL; r = r + 1u) {
        p[r] = select(0.0, exp2(s[r][kk] - m[r]), s[r][kk] > NEG);
        l[r] = l[r] + p[r];
      }
      for (var d = 0u; d < params.o4; d = d + 1u) {
        let vv = V(v[vrow + d]);
        for (var r = 0u; r < RL; r = r + 1u) { acc[r][d] = fma(V(p[r]), vv, acc[r][d]); }
      }
    }
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
  const device = q.device;
  const y = device.empty(q.shape, q.dtype);
  if (y.size === 0) return y;
  if (sk === 0) throw new ShapeError(op, 'k and v have no keys (Sk = 0)', [k.shape]);
  const limit = device.limits.maxStorageBufferBindingSize;
  for (const t of [q, k, v]) {
    if (t.byteLength > limit) throw new LimitError(op, `${t.describe()} is larger than maxStorageBufferBindingSize ${limit}`);
  }
  const t = tuning ?? attentionTuning(dim);
  const kernel = attentionKernel({ dtype: q.dtype as 'f32' | 'f16', dim, causal, ...t });
  const vec = dim % 4 === 0 ? 4 : 1;
  const nchunks = dim / t.chunk;
  const qBlocks = Math.ceil(sq / (t.lanes * t.rows));
  const max = device.limits.maxComputeWorkgroupsPerDimension;
  if (qBlocks > max || heads * nchunks > max || b > max) {
    throw new LimitError(op, `grid ${qBlocks}x${heads * nchunks}x${b} exceeds ${max} workgroups per dimension`);
  }
  device.run(kernel, {
    bindings: { q, k, v, y },
    uniforms: { sq, sk, stride: c / vec, nchunks, scale2: scale * Math.LOG2E, d4: dim / vec, o4: t.chunk / vec },
    workgroups: [qBlocks, heads * nchunks, b],
  });
  return y;
}
