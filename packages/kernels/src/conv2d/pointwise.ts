/**
 * WGSL of the lavapipe row's 1x1 convolution (stride 1, no padding, H·W a multiple of 4): a per-pixel linear
 * `y[o, p] = Σ_i w[o, i]·x[i, p]`. Here the lanes run over pixels instead of channels: a workgroup (one 8-lane
 * subgroup) owns `rows` output channels, lane l loads the weights of rows l, l+8, ... and `subgroupBroadcast` shares
 * them, and each lane owns `vec` groups of 4 consecutive pixels, loaded as vec4 (one contiguous load per input
 * channel). On lavapipe this beat the channel-lane kernel of ./wgsl.ts on 1x1 convs by ~40 % with uniform weight
 * loads, and sharing the weights by broadcast nearly doubled that (bench/conv2d.ts --tiles).
 *
 * The weight is read as scalars at `w_off + o·w_ostride + i·w_cstride + w_base` (chunk-local o and i), so both the
 * PyTorch layout `[O, I]` and the packed layout `[I, O4·4]` of ./pack.ts work.
 */
import type { Kernel, UniformDecl } from '@sd-webgpu/tensor';
import { CONV2D_LANES } from './wgsl.js';

export interface Conv2dPointwiseVariant {
  readonly dtype: 'f32' | 'f16';
  /** Output channels per workgroup (a multiple of 8). */
  readonly rows: number;
  /** vec4 pixel groups per lane. */
  readonly vec: number;
  readonly bias: boolean;
  /** Add into the values already in `y` (input-channel chunks after the first). */
  readonly accumulate: boolean;
}

export function conv2dPointwiseName(v: Conv2dPointwiseVariant): string {
  return `conv2d_pointwise_${v.dtype}_sg_r${v.rows}_v${v.vec}${v.bias ? '_bias' : ''}` +
    `${v.accumulate ? '_acc' : ''}`;
}

const U = (name: string): UniformDecl => ({ name, type: 'u32' });

export const CONV2D_POINTWISE_UNIFORMS: readonly UniformDecl[] = [
  U('cin'), U('cout'), U('hw4'), U('pgroups'), U('oblocks'),
  U('x_off'), U('x_nstride'), U('y_off'), U('y_nstride'),
  U('w_off'), U('w_ostride'), U('w_cstride'), U('w_base'), U('b_off'),
];

const cache = new Map<string, Kernel>();

/** The descriptor of a pointwise variant (memoized). `x`/`y` offsets and strides are in vec4 units. */
export function conv2dPointwiseKernel(v: Conv2dPointwiseVariant): Kernel {
  const name = conv2dPointwiseName(v);
  let k = cache.get(name);
  if (!k) {
    if (v.accumulate && v.bias) throw new Error(`${name}: the bias belongs to the first chunk`);
    if (v.rows % 8 !== 0) throw new Error(`${name}: subgroup rows must be a multiple of 8`);
    k = {
      name,
      bindings: [
        { name: 'x', type: `array<vec4<${v.dtype}>>`, access: 'read' },
        { name: 'weight', type: `array<${v.dtype}>`, access: 'read' },
        ...(v.bias ? [{ name: 'bias', type: `array<${v.dtype}>`, access: 'read' as const }] : []),
        { name: 'y', type: `array<vec4<${v.dtype}>>`, access: 'read_write' },
      ],
      uniforms: CONV2D_POINTWISE_UNIFORMS,
      workgroupSize: [CONV2D_LANES],
      enables: [...(v.dtype === 'f16' ? ['f16' as const] : []), 'subgroups'],
      source: pointwiseSource(v),
    };
    cache.set(name, k);
  }
  return k;
}

function pointwiseSource(v: Conv2dPointwiseVariant): string {
  const { rows: R, vec: V, dtype } = v;
  const acc = (r: number, p: number) => `a${r}_${p}`;
  const setup: string[] = [];
  const decls: string[] = [];
  const body: string[] = [];
  const copies: string[] = [];
  for (let p = 0; p < V; p++) setup.push(`  let px${p} = xb + min(p0 + ${p}u, params.hw4 - 1u);`);
  const wrow = (r: string) => `params.w_off + min(o0 + ${r}, params.cout - 1u) * params.w_ostride + params.w_base`;
  for (let q = 0; q < R / 8; q++) setup.push(`  let wl${q} = ${wrow(`${8 * q}u + lane`)};`);
  for (let p = 0; p < V; p++) body.push(`    let x${p} = vec4<f32>(x[px${p} + xc]);`);
  for (let q = 0; q < R / 8; q++) body.push(`    let ws${q} = f32(weight[wl${q} + wc]);`);
  for (let r = 0; r < R; r++) {
    body.push(`    {`, `      let wv = subgroupBroadcast(ws${r >> 3}, ${r & 7}u);`);
    for (let p = 0; p < V; p++) body.push(`      ${acc(r, p)} += wv * x${p};`);
    body.push(`    }`);
    for (let p = 0; p < V; p++) {
      decls.push(`  var ${acc(r, p)} = vec4<f32>(0.0);`);
      copies.push(`  acc[${r * V + p}] = ${acc(r, p)};`);
    }
  }
  const epilogue = v.accumulate
    ? `y[i] = vec4<${dtype}>(vec4<f32>(y[i]) + a);`
    : v.bias ? `y[i] = vec4<${dtype}>(a + f32(bias[params.b_off + o]));` : `y[i] = vec4<${dtype}>(a);`;

  return /* wgsl */ `
const ROWS: u32 = ${R}u;
const VEC: u32 = ${V}u;

@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lane: u32) {
  let flat = wid.x + wid.y * nwg.x;
  if (flat >= params.oblocks * params.pgroups) { return; }
  // Channel blocks vary fastest, so consecutive workgroups reuse the same input pixels from cache.
  let ob = flat % params.oblocks;
  let pg = flat / params.oblocks;
  let n = wid.z;
  let o0 = ob * ROWS;
  let p0 = (pg * WG_X + lane) * VEC;
  let xb = params.x_off + n * params.x_nstride;
  // Pixel groups past the image and channels past the chunk load clamped values that are never stored.
${setup.join('\n')}
${decls.join('\n')}
  for (var ci = 0u; ci < params.cin; ci++) {
    let xc = ci * params.hw4;
    let wc = ci * params.w_cstride;
${body.join('\n')}
  }
  // A rolled epilogue keeps the shader quick to compile.
  var acc: array<vec4<f32>, ${R * V}>;
${copies.join('\n')}
  for (var i = 0u; i < ROWS * VEC; i++) {
    let o = o0 + i / VEC;
    let p = p0 + i % VEC;
    if (o < params.cout && p < params.hw4) { store_y(n, o, p, acc[i]); }
  }
}

fn store_y(n: u32, o: u32, p: u32, a: vec4<f32>) {
  let i = params.y_off + n * params.y_nstride + o * params.hw4 + p;
  ${epilogue}
}
`;
}
