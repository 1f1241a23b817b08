/**
 * WGSL generator and memoized descriptors of the lavapipe row's matmul kernel (every other row runs the GEMM core,
 * ../gemm/core.ts).
 *
 * Each invocation ("lane") owns `cols` output columns (vec4 column groups when `nVec`) spaced 8 apart. A workgroup is
 * one subgroup of 8 lanes and computes `rows` rows (a multiple of 8) for all its lanes. Lane l loads the A values of
 * rows l, l+8, ... and `subgroupBroadcast` shares them, so every A element and every B element is loaded exactly once
 * per workgroup. On lavapipe every storage load costs a per-lane scalar loop (even for uniform addresses), so loads
 * per FMA is what matters.
 *
 * With `kVec` (K % 4 == 0) A rows (and Bᵀ rows with transB) are read as vec4 along K. With `nVec` (non-transposed
 * B, N % 4 == 0) B rows and the output are read/written as vec4 along N. Everything accumulates in f32.
 *
 * Uniforms are in units of the binding's array element (vec4 or scalar): `m` rows, `n` column units, `ks` k-steps
 * (K/4 with kVec), leading dimensions `lda`, `ldb`, `ldy`, base offsets inside the bound windows, and the batch
 * decomposition z = z0 * zd1 + z1 with per-operand strides (0 for a broadcast operand).
 */
import type { Kernel, UniformDecl } from '@sd-webgpu/tensor';

export interface MatmulVariant {
  readonly dtype: 'f32' | 'f16';
  /** A (and Bᵀ) read as vec4 along K; needs K % 4 == 0. */
  readonly kVec: boolean;
  readonly transB: boolean;
  /** Non-transposed B and the output read/written as vec4 along N; needs N % 4 == 0 and !transB. */
  readonly nVec: boolean;
  readonly bias: boolean;
  /** Adds the product to the output's current values (the continuation of a K split). */
  readonly accumulate: boolean;
  /** Output rows per workgroup (a multiple of 8). */
  readonly rows: number;
  /** Output column units per lane (vec4 groups when nVec). */
  readonly cols: number;
}

/** Workgroup footprint of a variant in output elements. */
export function tileOf(v: MatmulVariant): { rowsPerGroup: number; colsPerGroup: number; colUnit: number } {
  const colUnit = v.nVec ? 4 : 1;
  return { rowsPerGroup: v.rows, colsPerGroup: 8 * v.cols * colUnit, colUnit };
}

export const MATMUL_UNIFORMS: readonly UniformDecl[] = [
  'm', 'n', 'ks', 'lda', 'ldb', 'ldy', 'a_off', 'b_off', 'y_off', 'bias_off', 'zd1', 'sa0', 'sa1', 'sb0', 'sb1', 'sy',
].map((name) => ({ name, type: 'u32' as const }));

export function variantName(v: MatmulVariant): string {
  const layout = v.transB ? 'tb' : v.nVec ? 'n4' : 'n1';
  return `matmul_${v.dtype}_subgroup_${v.kVec ? 'k4' : 'k1'}_${layout}_r${v.rows}c${v.cols}` +
    `${v.bias ? '_bias' : ''}${v.accumulate ? '_acc' : ''}`;
}

const cache = new Map<string, Kernel>();

/** The kernel of one variant (memoized: the same object for the same variant). */
export function matmulKernel(v: MatmulVariant): Kernel {
  const name = variantName(v);
  let k = cache.get(name);
  if (!k) {
    k = build(name, v);
    cache.set(name, k);
  }
  return k;
}

function build(name: string, v: MatmulVariant): Kernel {
  const T = v.dtype;
  const vecT = `vec4<${T}>`;
  const aType = v.kVec ? vecT : T;
  const bType = v.kVec && v.transB ? vecT : v.nVec ? vecT : T;
  const yType = v.nVec ? vecT : T;
  const bindings = [
    { name: 'a', type: `array<${aType}>`, access: 'read' as const },
    { name: 'b', type: `array<${bType}>`, access: 'read' as const },
    { name: 'y', type: `array<${yType}>`, access: 'read_write' as const },
  ];
  if (v.bias) bindings.push({ name: 'bias', type: `array<${yType}>`, access: 'read' as const });
  const enables: ('f16' | 'subgroups')[] = T === 'f16' ? ['f16', 'subgroups'] : ['subgroups'];
  return {
    name,
    bindings,
    uniforms: MATMUL_UNIFORMS,
    workgroupSize: [8],
    enables,
    source: source(v),
  };
}

function source(v: MatmulVariant): string {
  if (v.rows % 8 !== 0) throw new Error(`matmul variant: subgroup rows ${v.rows} is not a multiple of 8`);
  const R = v.rows;
  const C = v.cols;
  const loadsA = R / 8; // A rows each lane loads per k-step
  const av = v.kVec ? 'vec4f' : 'f32'; // f32 type of one A value (4 k-steps with kVec)
  const acc = v.nVec ? 'vec4f' : 'f32';
  const rowOfLoad = (q: number) => `${8 * q}u + lane`;
  const rowOfOut = (r: number) => `${r}u`;
  const L: string[] = [];
  const p = (s: string) => L.push(`  ${s}`);

  p('let z0 = wid.z / params.zd1;');
  p('let z1 = wid.z - z0 * params.zd1;');
  p('let a_base = params.a_off + z0 * params.sa0 + z1 * params.sa1;');
  p('let b_base = params.b_off + z0 * params.sb0 + z1 * params.sb1;');
  p('let y_base = params.y_off + wid.z * params.sy;');
  p('let lane = lid.x;');
  p(`let m0 = wid.y * ${R}u;`);
  p(`let n0 = wid.x * ${8 * C}u + lane;`);
  // Rows and columns past the edge are clamped for loading (their results are never stored).
  for (let q = 0; q < loadsA; q++) p(`let ra${q} = a_base + min(m0 + ${rowOfLoad(q)}, params.m - 1u) * params.lda;`);
  for (let c = 0; c < C; c++) {
    const col = `min(n0 + ${8 * c}u, params.n - 1u)`;
    p(`let rb${c} = b_base + ${v.transB ? `${col} * params.ldb` : col};`);
  }
  for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) p(`var acc${r}_${c} = ${acc}(0.0);`);

  p('for (var k = 0u; k < params.ks; k++) {');
  for (let q = 0; q < loadsA; q++) p(`  let a${q} = ${av}(a[ra${q} + k]);`);
  const bLoads = bLoadLines(v, C);
  for (const s of bLoads) p(`  ${s}`);
  for (let r = 0; r < R; r++) {
    p(`  let x${r} = subgroupBroadcast(a${r >> 3}, ${r & 7}u);`);
    for (let c = 0; c < C; c++) p(`  acc${r}_${c} += ${fmaExpr(v, `x${r}`, c)};`);
  }
  p('}');

  for (let r = 0; r < R; r++) {
    p(`if (m0 + ${rowOfOut(r)} < params.m) {`);
    p(`  let yr${r} = y_base + (m0 + ${rowOfOut(r)}) * params.ldy;`);
    for (let c = 0; c < C; c++) {
      p(`  if (n0 + ${8 * c}u < params.n) {`);
      let val = `acc${r}_${c}`;
      if (v.bias) val += ` + ${acc}(bias[params.bias_off + n0 + ${8 * c}u])`;
      if (v.accumulate) val += ` + ${acc}(y[yr${r} + n0 + ${8 * c}u])`;
      const yT = v.nVec ? `vec4<${v.dtype}>` : v.dtype;
      p(`    y[yr${r} + n0 + ${8 * c}u] = ${yT}(${val});`);
      p('  }');
    }
    p('}');
  }

  const builtins = '@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u';
  return `@compute @workgroup_size(WG_X)\nfn main(${builtins}) {\n${L.join('\n')}\n}\n`;
}

/** WGSL lines that load the B values of one k-step for each of the lane's columns. */
function bLoadLines(v: MatmulVariant, C: number): string[] {
  const out: string[] = [];
  if (v.transB) {
    // Bᵀ row n is contiguous along K: one vec4 (4 k-steps) or one scalar per column.
    for (let c = 0; c < C; c++) out.push(`let b${c} = ${v.kVec ? 'vec4f' : 'f32'}(b[rb${c} + k]);`);
    return out;
  }
  if (!v.kVec) {
    out.push('let kb = k * params.ldb;');
    for (let c = 0; c < C; c++) out.push(`let b${c} = ${v.nVec ? 'vec4f' : 'f32'}(b[rb${c} + kb]);`);
    return out;
  }
  out.push('let kb = 4u * k * params.ldb;');
  for (let c = 0; c < C; c++) {
    const rows = [0, 1, 2, 3].map((j) => `b[rb${c} + kb${j ? ` + ${j}u * params.ldb` : ''}]`);
    if (v.nVec) rows.forEach((e, j) => out.push(`let b${c}_${j} = vec4f(${e});`));
    else out.push(`let b${c} = vec4f(${rows.map((e) => `f32(${e})`).join(', ')});`);
  }
  return out;
}

/** The contribution of one k-step of row value `x` to the accumulator of column `c`. */
function fmaExpr(v: MatmulVariant, x: string, c: number): string {
  if (!v.nVec) return v.kVec ? `dot(${x}, b${c})` : `${x} * b${c}`;
  if (!v.kVec) return `${x} * b${c}`;
  return `${x}.x * b${c}_0 + ${x}.y * b${c}_1 + ${x}.z * b${c}_2 + ${x}.w * b${c}_3`;
}
