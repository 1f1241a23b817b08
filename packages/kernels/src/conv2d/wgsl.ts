/**
 * WGSL of the direct convolution (an implicit GEMM over output pixels × output channels, K = I·kh·kw) without
 * shared memory or barriers, for lavapipe's strengths: a workgroup is one 8-lane subgroup that owns one tile of
 * `tileY × tileX` output pixels and `8 · 4 · vec` output channels. The tile's input values are the same for every
 * lane (uniform loads, cheap there), each lane loads its own `vec` vec4s of packed weights (./pack.ts) per tap and
 * keeps `tileY · tileX · vec` vec4 accumulators (4 channels each). One row segment of `stride·(tileX−1)+kw` inputs serves all kw taps of a
 * kernel row, and the kernel-row loop stays rolled (unrolling it measured slower).
 *
 * Indices are relative to bound windows (`*_off` uniforms) so that the op can split tensors larger than one binding:
 * a dispatch covers batches `[n0, n0+N)`, input channels `[c0, c0+C)` and output channels `[o0, o0+O)`. Chunks of
 * input channels after the first add into `y` (`accumulate`).
 */
import type { Kernel, UniformDecl } from '@sd-webgpu/tensor';

/** Lanes per workgroup: one lavapipe subgroup (256-bit vectors, 8 × f32). */
export const CONV2D_LANES = 8;

export interface Conv2dVariant {
  readonly dtype: 'f32' | 'f16';
  readonly kh: number;
  readonly kw: number;
  readonly stride: number;
  /** Output pixels per tile along x. */
  readonly tileX: number;
  /** Output rows per tile. */
  readonly tileY: number;
  /** vec4 groups of output channels per lane (a lane owns 4·vec channels). */
  readonly vec: number;
  /** Add `bias[o]` in the epilogue. */
  readonly bias: boolean;
  /** Add into the values already in `y` instead of overwriting them. */
  readonly accumulate: boolean;
}

export function conv2dVariantName(v: Conv2dVariant): string {
  return `conv2d_${v.dtype}_k${v.kh}x${v.kw}_s${v.stride}_t${v.tileY}x${v.tileX}_v${v.vec}` +
    `${v.bias ? '_bias' : ''}${v.accumulate ? '_acc' : ''}`;
}

const U = (name: string, type: UniformDecl['type'] = 'u32'): UniformDecl => ({ name, type });

/** Uniforms of the conv kernel (all chunk-local sizes; offsets are element offsets inside the bound windows). */
export const CONV2D_UNIFORMS: readonly UniformDecl[] = [
  U('cin'), U('h'), U('w'), U('cout'), U('hout'), U('wout'),
  U('pad_t', 'i32'), U('pad_l', 'i32'),
  U('tiles_x'), U('pgroups'), U('oblocks'),
  U('x_off'), U('x_nstride'),
  U('w_off'), U('w_o4'), U('w_g0'),
  U('y_off'), U('y_nstride'),
  U('b_off'),
];

const cache = new Map<string, Kernel>();

/** The kernel descriptor of a variant (memoized: the same object for the same variant). */
export function conv2dKernel(v: Conv2dVariant): Kernel {
  const name = conv2dVariantName(v);
  let k = cache.get(name);
  if (!k) {
    k = {
      name,
      bindings: [
        { name: 'x', type: `array<${v.dtype}>`, access: 'read' },
        { name: 'weight', type: `array<vec4<${v.dtype}>>`, access: 'read' },
        ...(v.bias ? [{ name: 'bias', type: `array<${v.dtype}>`, access: 'read' as const }] : []),
        { name: 'y', type: `array<${v.dtype}>`, access: 'read_write' },
      ],
      uniforms: CONV2D_UNIFORMS,
      workgroupSize: [CONV2D_LANES],
      enables: v.dtype === 'f16' ? ['f16'] : [],
      source: conv2dSource(v),
    };
    cache.set(name, k);
  }
  return k;
}

/** The WGSL body of a variant (exported for inspection in tests and benchmarks). */
export function conv2dSource(v: Conv2dVariant): string {
  const { kh, kw, stride: S, tileX: TX, tileY: TY, vec: V } = v;
  if (![kh, kw, S, TX, TY, V].every((n) => Number.isInteger(n) && n >= 1)) {
    throw new Error(`conv2dSource: invalid variant ${conv2dVariantName(v)}`);
  }
  if (v.accumulate && v.bias) throw new Error(`conv2dSource: ${conv2dVariantName(v)}: the bias belongs to the first chunk`);
  const seg = S * (TX - 1) + kw;
  const acc = (vi: number, r: number, c: number) => `a${vi}_${r}_${c}`;

  const decls: string[] = [];
  const rows: string[] = [];
  for (let vi = 0; vi < V; vi++) rows.push(`  let wg${vi} = weight_group(lg0 + ${vi}u);`);
  for (let vi = 0; vi < V; vi++) {
    for (let r = 0; r < TY; r++) for (let c = 0; c < TX; c++) decls.push(`  var ${acc(vi, r, c)} = vec4<f32>(0.0);`);
  }

  // One kernel row: TY input row segments, then kw taps that each load the lane's weights once.
  const body: string[] = [];
  for (let r = 0; r < TY; r++) {
    body.push(`      let iy${r} = i32((oy0 + ${r}u) * STRIDE + ky) - params.pad_t;`);
    body.push(`      let ok${r} = iy${r} >= 0 && iy${r} < i32(params.h);`);
    body.push(`      let rb${r} = xc + u32(iy${r}) * params.w;`);
    for (let i = 0; i < seg; i++) body.push(`      let s${r}_${i} = load_x(rb${r}, ix0 + ${i}, ok${r});`);
  }
  body.push(`      let kr = kc + ky * KW;`);
  for (let kx = 0; kx < kw; kx++) {
    for (let vi = 0; vi < V; vi++) {
      body.push(`      {`);
      body.push(`        let wv = load_w(kr + ${kx}u, wg${vi});`);
      for (let r = 0; r < TY; r++) {
        for (let c = 0; c < TX; c++) body.push(`        ${acc(vi, r, c)} += wv * s${r}_${kx + S * c};`);
      }
      body.push(`      }`);
    }
  }

  const copies = accumulatorCopies(V, TY, TX, acc);

  return /* wgsl */ `
const KH: u32 = ${kh}u;
const KW: u32 = ${kw}u;
const STRIDE: u32 = ${S}u;
const TILE_X: u32 = ${TX}u;
const TILE_Y: u32 = ${TY}u;
const VEC: u32 = ${V}u;

// Input at column \`col\` of the row starting at \`row\` (window index), 0 in the zero padding.
fn load_x(row: u32, col: i32, row_ok: bool) -> f32 {
  let ok = row_ok && col >= 0 && col < i32(params.w);
  return select(0.0, f32(x[select(params.x_off, row + u32(col), ok)]), ok);
}

${packedWeightAndStoreFns(v)}

@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lane: u32) {
${TILE_PROLOGUE}
${rows.join('\n')}
${decls.join('\n')}
  for (var ci = 0u; ci < params.cin; ci++) {
    let xc = xb + ci * params.h * params.w;
    let kc = ci * KH * KW;
    for (var ky = 0u; ky < KH; ky++) {
${body.join('\n')}
    }
  }
  var acc: array<vec4<f32>, ${V * TY * TX}>;
${copies.join('\n')}
  for (var i = 0u; i < VEC * TILE_Y * TILE_X; i++) {
    let vi = i / (TILE_Y * TILE_X);
    let oy = oy0 + (i / TILE_X) % TILE_Y;
    let ox = ox0 + i % TILE_X;
    for (var j = 0u; j < 4u; j++) { store_y(n, oc0 + 4u * vi + j, oy, ox, acc[i][j]); }
  }
}
`;
}

/**
 * Copies the accumulators into an array for a rolled store loop: unrolled stores made the shaders several times slower
 * to compile. Shared by this kernel and the subgroup one (conv2d/subgroup.ts).
 */
export function accumulatorCopies(V: number, TY: number, TX: number, acc: (vi: number, r: number, c: number) => string): string[] {
  const copies: string[] = [];
  for (let vi = 0; vi < V; vi++) {
    for (let r = 0; r < TY; r++) {
      for (let c = 0; c < TX; c++) copies.push(`  acc[${(vi * TY + r) * TX + c}] = ${acc(vi, r, c)};`);
    }
  }
  return copies;
}

/** The packed-weight access and the output store (bias or accumulate epilogue) of the 3x3 kernels. */
export function packedWeightAndStoreFns(v: { dtype: string; bias: boolean; accumulate: boolean }): string {
  const epilogue = v.accumulate
    ? `y[i] = ${v.dtype}(f32(y[i]) + v);`
    : v.bias ? `y[i] = ${v.dtype}(v + f32(bias[params.b_off + o]));` : `y[i] = ${v.dtype}(v);`;
  return /* wgsl */ `// Packed-weight column of the chunk-local channel group g (channels 4g..4g+3); groups past the chunk read its last
// group (their results are never stored).
fn weight_group(g: u32) -> u32 {
  return params.w_g0 + min(g, (params.cout + 3u) / 4u - 1u);
}

// Weights of packed row k (k = chunk-local input channel · KH·KW + ky·KW + kx) for the 4 channels of column g.
fn load_w(k: u32, g: u32) -> vec4<f32> {
  return vec4<f32>(weight[params.w_off + k * params.w_o4 + g]);
}

fn store_y(n: u32, o: u32, oy: u32, ox: u32, v: f32) {
  if (o >= params.cout || oy >= params.hout || ox >= params.wout) { return; }
  let i = params.y_off + n * params.y_nstride + (o * params.hout + oy) * params.wout + ox;
  ${epilogue}
}`;
}

/**
 * The start of `main` in the 3x3 kernels (this one and conv2d/subgroup.ts): which tile, channel block and batch item
 * this workgroup computes, and the lane's first output channels. The early return is uniform per workgroup, so the
 * subgroup kernel's broadcasts stay in uniform control flow.
 */
export const TILE_PROLOGUE = /* wgsl */ `  let flat = wid.x + wid.y * nwg.x;
  if (flat >= params.oblocks * params.pgroups) { return; }
  // Channel blocks vary fastest, so consecutive workgroups reuse the same input tile from cache.
  let ob = flat % params.oblocks;
  let pg = flat / params.oblocks;
  let n = wid.z;
  let oy0 = (pg / params.tiles_x) * TILE_Y;
  let ox0 = (pg % params.tiles_x) * TILE_X;
  let ix0 = i32(ox0 * STRIDE) - params.pad_l;
  let lg0 = (ob * WG_X + lane) * VEC;
  let oc0 = lg0 * 4u;
  let xb = params.x_off + n * params.x_nstride;`;
