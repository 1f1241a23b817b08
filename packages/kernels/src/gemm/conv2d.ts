/**
 * conv2d's hooks for the GEMM core (./core.ts): convolution as an implicit GEMM with M = output channels, N = output
 * pixels (Hout·Wout), K = I·kh·kw, z = batch item. A is the weight, either packed `[I·kh·kw, O4·4]` (../conv2d/pack.ts,
 * what nn/Conv2d keeps) or PyTorch `[O, I·kh·kw]`: one formula `weight[w_off + (w_k0 + k)·w_ks + (w_o0 + m)·w_ms]`
 * covers both layouts and their chunk windows. B is the im2col matrix of x, gathered on the fly with zero padding
 * (`pointwise`: a 1x1 stride-1 unpadded convolution reads x planes directly). The epilogue writes NCHW with the bias
 * (first input-channel chunk) or adds into y (later chunks of a split over the binding limit).
 */
import type { BindingDecl, UniformDecl } from '@sd-webgpu/tensor';
import type { GemmHooks } from './core.js';

export interface GemmConv2dVariant {
  readonly dtype: 'f32' | 'f16';
  readonly kh: number;
  readonly kw: number;
  readonly stride: number;
  /** 1x1, stride 1, no padding: B rows are x planes. */
  readonly pointwise: boolean;
  readonly bias: boolean;
  readonly accumulate: boolean;
}

const U = (name: string, type: UniformDecl['type'] = 'u32'): UniformDecl => ({ name, type });

/** Chunk-local sizes; offsets are element offsets inside the bound windows. */
export const GEMM_CONV2D_UNIFORMS: readonly UniformDecl[] = [
  U('cin'), U('h'), U('w'), U('cout'), U('hout'), U('wout'), U('pad_t', 'i32'), U('pad_l', 'i32'),
  U('x_off'), U('x_nstride'), U('w_off'), U('w_k0'), U('w_ks'), U('w_o0'), U('w_ms'),
  U('y_off'), U('y_nstride'), U('b_off'),
];

const cache = new Map<string, GemmHooks>();

export function gemmConv2dHooks(v: GemmConv2dVariant): GemmHooks {
  const name = `conv2d_${v.dtype}_k${v.kh}x${v.kw}_s${v.stride}${v.pointwise ? '_pw' : ''}` +
    `${v.bias ? '_bias' : ''}${v.accumulate ? '_acc' : ''}`;
  let h = cache.get(name);
  if (!h) {
    if (v.accumulate && v.bias) throw new Error(`gemmConv2dHooks: ${name}: the bias belongs to the first chunk`);
    const T = v.dtype;
    const bindings: BindingDecl[] = [
      { name: 'x', type: `array<${T}>`, access: 'read' },
      { name: 'weight', type: `array<${T}>`, access: 'read' },
      ...(v.bias ? [{ name: 'bias', type: `array<${T}>`, access: 'read' as const }] : []),
      { name: 'y', type: `array<${T}>`, access: 'read_write' },
    ];
    h = { name, bindings, uniforms: GEMM_CONV2D_UNIFORMS, f16: T === 'f16', source: source(v) };
    cache.set(name, h);
  }
  return h;
}

function source(v: GemmConv2dVariant): string {
  // The 4 values of one k-quad: `call(k)` is the WGSL of one value.
  const quad = (call: (k: string) => string) => `vec4f(${[0, 1, 2, 3].map((j) => call(`4u * kq + ${j}u`)).join(', ')})`;
  const xval = v.pointwise
    ? /* wgsl */ `// 1x1, stride 1, no padding: row k of B is input plane k.
fn x_at(z: u32, k: u32, n: u32) -> f32 {
  let ok = k < k_total();
  return select(0.0, f32(x[select(params.x_off, params.x_off + z * params.x_nstride + k * params.h * params.w + n, ok)]), ok);
}`
    : /* wgsl */ `// Element (k, n) of the im2col matrix: input channel k / (KH·KW), tap (ky, kx), output pixel n; 0 in the padding.
fn x_at(z: u32, k: u32, n: u32) -> f32 {
  let ci = k / (KH * KW);
  let r = k - ci * KH * KW;
  let ky = r / KW;
  let kx = r - ky * KW;
  let oy = n / params.wout;
  let ox = n - oy * params.wout;
  let iy = i32(oy * STRIDE + ky) - params.pad_t;
  let ix = i32(ox * STRIDE + kx) - params.pad_l;
  let ok = k < k_total() && iy >= 0 && iy < i32(params.h) && ix >= 0 && ix < i32(params.w);
  let i = params.x_off + z * params.x_nstride + (ci * params.h + u32(iy)) * params.w + u32(ix);
  return select(0.0, f32(x[select(params.x_off, i, ok)]), ok);
}`;
  const epilogue = v.accumulate ? 'y[i] = T(f32(y[i]) + v);' : v.bias ? 'y[i] = T(v + f32(bias[params.b_off + m]));' : 'y[i] = T(v);';
  return /* wgsl */ `
alias T = ${v.dtype};
const KH: u32 = ${v.kh}u;
const KW: u32 = ${v.kw}u;
const STRIDE: u32 = ${v.stride}u;

// K of this chunk.
fn k_total() -> u32 { return params.cin * KH * KW; }

fn gemm_dims() -> vec3u {
  return vec3u(params.cout, params.hout * params.wout, (params.cin * KH * KW + 3u) / 4u);
}

// Weight (A) element for output channel m and reduction index k, 0 past K.
fn w_at(m: u32, k: u32) -> f32 {
  let ok = k < k_total();
  let i = params.w_off + (params.w_k0 + k) * params.w_ks + (params.w_o0 + m) * params.w_ms;
  return select(0.0, f32(weight[select(params.w_off, i, ok)]), ok);
}

${xval}

fn read_a(z: u32, m: u32, kq: u32) -> vec4f {
  if (m >= params.cout) { return vec4f(0.0); }
  return ${quad((k) => `w_at(m, ${k})`)};
}

fn read_b(z: u32, kq: u32, n: u32) -> vec4f {
  if (n >= params.hout * params.wout) { return vec4f(0.0); }
  return ${quad((k) => `x_at(z, ${k}, n)`)};
}

fn write_c(z: u32, m: u32, n: u32, v: f32) {
  let i = params.y_off + z * params.y_nstride + m * params.hout * params.wout + n;
  ${epilogue}
}
`;
}
