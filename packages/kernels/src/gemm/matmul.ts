/**
 * matmul's hooks for the GEMM core (./core.ts): A `[z, M, K]` row-major, B `[z, K, N]` or (transB) `[z, N, K]`, output
 * `[z, M, N]`, with the batch and window uniforms of ../matmul/plan.ts (MATMUL_UNIFORMS, planned with column unit 1
 * and k unit 4 when K % 4 == 0). With `kVec` A rows and Bᵀ rows are bound as vec4 arrays: one load per k-quad.
 * Non-transposed B is gathered per k (neighbouring invocations read neighbouring columns). The epilogue adds the
 * bias and, for the continuation of a K split, the output's current value.
 */
import type { BindingDecl } from '@sd-webgpu/tensor';
import { MATMUL_UNIFORMS } from '../matmul/wgsl.js';
import type { GemmHooks } from './core.js';

export interface GemmMatmulVariant {
  readonly dtype: 'f32' | 'f16';
  /** K % 4 == 0: A (and Bᵀ) bound as vec4 along K. */
  readonly kVec: boolean;
  readonly transB: boolean;
  readonly bias: boolean;
  readonly accumulate: boolean;
}

const cache = new Map<string, GemmHooks>();

export function gemmMatmulHooks(v: GemmMatmulVariant): GemmHooks {
  const name = `matmul_${v.dtype}_${v.kVec ? 'k4' : 'k1'}_${v.transB ? 'tb' : 'nn'}${v.bias ? '_bias' : ''}${v.accumulate ? '_acc' : ''}`;
  let h = cache.get(name);
  if (!h) {
    h = { name, bindings: bindings(v), uniforms: MATMUL_UNIFORMS, f16: v.dtype === 'f16', source: source(v) };
    cache.set(name, h);
  }
  return h;
}

function bindings(v: GemmMatmulVariant): BindingDecl[] {
  const T = v.dtype;
  const out: BindingDecl[] = [
    { name: 'a', type: `array<${v.kVec ? `vec4<${T}>` : T}>`, access: 'read' },
    { name: 'b', type: `array<${v.kVec && v.transB ? `vec4<${T}>` : T}>`, access: 'read' },
    { name: 'y', type: `array<${T}>`, access: 'read_write' },
  ];
  if (v.bias) out.push({ name: 'bias', type: `array<${T}>`, access: 'read' });
  return out;
}

function source(v: GemmMatmulVariant): string {
  const kq = v.kVec ? 'params.ks' : '(params.ks + 3u) / 4u';
  // A row / Bᵀ row element k of a scalar binding, zero past K (the address is clamped so it stays in the window).
  const gather = (arr: string, base: string, stride: string) =>
    `vec4f(${[0, 1, 2, 3].map((j) => `kval_${arr}(${base}, ${stride}, 4u * kq + ${j}u)`).join(', ')})`;
  const readA = v.kVec
    ? 'return vec4f(a[a_base(z) + m * params.lda + kq]);'
    : `return ${gather('a', 'a_base(z) + m * params.lda', '1u')};`;
  const readB = v.transB
    ? v.kVec ? 'return vec4f(b[b_base(z) + n * params.ldb + kq]);' : `return ${gather('b', 'b_base(z) + n * params.ldb', '1u')};`
    : `return ${gather('b', 'b_base(z) + n', 'params.ldb')};`;
  const kvalFns = (['a', 'b'] as const)
    .filter((arr) => !v.kVec || (arr === 'b' && !v.transB))
    .map((arr) => `fn kval_${arr}(base: u32, stride: u32, k: u32) -> f32 {
  let ok = k < params.ks * ${v.kVec ? 4 : 1}u;
  return select(0.0, f32(${arr}[base + select(0u, k, ok) * stride]), ok);
}`).join('\n');
  let val = 'v';
  if (v.bias) val += ' + f32(bias[params.bias_off + n])';
  if (v.accumulate) val += ' + f32(y[i])';
  return /* wgsl */ `
fn gemm_dims() -> vec3u { return vec3u(params.m, params.n, ${kq}); }

fn a_base(z: u32) -> u32 {
  let z0 = z / params.zd1;
  return params.a_off + z0 * params.sa0 + (z - z0 * params.zd1) * params.sa1;
}

fn b_base(z: u32) -> u32 {
  let z0 = z / params.zd1;
  return params.b_off + z0 * params.sb0 + (z - z0 * params.zd1) * params.sb1;
}
${kvalFns}

fn read_a(z: u32, m: u32, kq: u32) -> vec4f {
  if (m >= params.m || kq >= ${kq}) { return vec4f(0.0); }
  ${readA}
}

fn read_b(z: u32, kq: u32, n: u32) -> vec4f {
  if (n >= params.n || kq >= ${kq}) { return vec4f(0.0); }
  ${readB}
}

fn write_c(z: u32, m: u32, n: u32, v: f32) {
  let i = params.y_off + z * params.sy + m * params.ldy + n;
  y[i] = ${v.dtype}(${val});
}
`;
}
