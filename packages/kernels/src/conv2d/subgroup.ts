/**
 * WGSL of the subgroup-shared direct convolution for the lavapipe row (../table.ts):
 * the implicit GEMM of ./wgsl.ts (output pixels × output channels, K = I·kh·kw, packed weights as B) with the A
 * operand shared the way the matmul's subgroup kernel shares it. In this Mesa build every storage load compiles to
 * a loop over the 8 lanes, even a uniform one, so ./wgsl.ts paid `tileY · (stride·(tileX−1)+kw)` such loops per
 * kernel row for the input segment. Here lane l loads values l, l+8, ... of each row segment (distinct addresses,
 * `ceil(seg / 8)` loads per lane) and `subgroupBroadcast` hands every value to all lanes; the weight loads (one vec4
 * per lane, tap and channel group) and the accumulators are as in ./wgsl.ts. Fewer loads per FMA allows larger
 * tiles (see ./tiles.ts for the measured choice).
 *
 * The dispatch geometry and uniforms are those of ./wgsl.ts (`CONV2D_UNIFORMS`), so conv2d.ts runs either kernel
 * with the same arguments; the workgroup must be exactly one 8-lane subgroup.
 */
import type { Kernel } from '@sd-webgpu/tensor';
import {
  CONV2D_UNIFORMS, type Conv2dVariant, TILE_PROLOGUE, accumulatorCopies, conv2dVariantName, packedWeightAndStoreFns,
} from './wgsl.js';

/** A subgroup variant: `shareRows` loads each input row once per input channel for all kernel rows (ky unrolled). */
export interface Conv2dSubgroupVariant extends Conv2dVariant {
  readonly shareRows?: boolean;
  /**
   * Load x as aligned vec4s (4x fewer loads): needs W % 4 == 0, tileX·stride % 4 == 0 and 4-aligned x windows; the
   * left padding `padL` is then compiled in (it fixes where the segment starts inside the first vec4).
   */
  readonly x4?: { readonly padL: number };
}

export function conv2dSubgroupName(v: Conv2dSubgroupVariant): string {
  return conv2dVariantName(v).replace(/^conv2d_/, 'conv2d_sg_') + (v.shareRows ? '_rows' : '') +
    (v.x4 ? `_x4p${v.x4.padL}` : '');
}

const cache = new Map<string, Kernel>();

/** The descriptor of a subgroup variant (memoized: the same object for the same variant). Needs `subgroups`. */
export function conv2dSubgroupKernel(v: Conv2dSubgroupVariant): Kernel {
  const name = conv2dSubgroupName(v);
  let k = cache.get(name);
  if (!k) {
    k = {
      name,
      bindings: [
        { name: 'x', type: v.x4 ? `array<vec4<${v.dtype}>>` : `array<${v.dtype}>`, access: 'read' },
        { name: 'weight', type: `array<vec4<${v.dtype}>>`, access: 'read' },
        ...(v.bias ? [{ name: 'bias', type: `array<${v.dtype}>`, access: 'read' as const }] : []),
        { name: 'y', type: `array<${v.dtype}>`, access: 'read_write' },
      ],
      uniforms: CONV2D_UNIFORMS,
      workgroupSize: [8],
      enables: v.dtype === 'f16' ? ['f16', 'subgroups'] : ['subgroups'],
      source: conv2dSubgroupSource(v),
    };
    cache.set(name, k);
  }
  return k;
}

/** The WGSL body of a subgroup variant (exported for inspection in tests and benchmarks). */
export function conv2dSubgroupSource(v: Conv2dSubgroupVariant): string {
  const { kh, kw, stride: S, tileX: TX, tileY: TY, vec: V } = v;
  if (![kh, kw, S, TX, TY, V].every((n) => Number.isInteger(n) && n >= 1)) {
    throw new Error(`conv2dSubgroupSource: invalid variant ${conv2dSubgroupName(v)}`);
  }
  if (v.accumulate && v.bias) {
    throw new Error(`conv2dSubgroupSource: ${conv2dSubgroupName(v)}: the bias belongs to the first chunk`);
  }
  const seg = S * (TX - 1) + kw;
  const loads = Math.ceil(seg / 8);

  const decls: string[] = [];
  const rows: string[] = [];
  for (let vi = 0; vi < V; vi++) rows.push(`  let wg${vi} = weight_group(lg0 + ${vi}u);`);
  for (let q = 0; q < loads; q++) rows.push(`  let lc${q} = ix0 + i32(lane + ${8 * q}u);`);
  for (let vi = 0; vi < V; vi++) {
    for (let r = 0; r < TY; r++) for (let c = 0; c < TX; c++) decls.push(`  var ${acc(vi, r, c)} = vec4<f32>(0.0);`);
  }

  if (v.x4 && (v.shareRows || (TX * S) % 4 !== 0 || !Number.isInteger(v.x4.padL) || v.x4.padL < 0)) {
    throw new Error(`conv2dSubgroupSource: ${conv2dSubgroupName(v)}: vec4 x loads need tileX·stride % 4 == 0`);
  }
  const body = v.x4 ? x4Body(v, seg, rows) : v.shareRows ? sharedRowsBody(v, seg, loads) : kernelRowBody(v, seg, loads);

  const copies = accumulatorCopies(V, TY, TX, acc);

  return /* wgsl */ `
const KH: u32 = ${kh}u;
const KW: u32 = ${kw}u;
const STRIDE: u32 = ${S}u;
const TILE_X: u32 = ${TX}u;
const TILE_Y: u32 = ${TY}u;
const VEC: u32 = ${V}u;

${v.x4 ? X4_LOAD : X_LOAD}

${packedWeightAndStoreFns(v)}

@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lane: u32) {
${TILE_PROLOGUE}
${rows.join('\n')}
${decls.join('\n')}
  for (var ci = 0u; ci < params.cin; ci++) {
    let xc = ${v.x4 ? '(xb + ci * params.h * params.w) / 4u' : 'xb + ci * params.h * params.w'};
    let kc = ci * KH * KW;
${body.join('\n')}
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

const acc = (vi: number, r: number, c: number) => `a${vi}_${r}_${c}`;

const X_LOAD = `// Input at column \`col\` of the row starting at \`row\` (window index), 0 in the zero padding.
fn load_x(row: u32, col: i32, row_ok: bool) -> f32 {
  let ok = row_ok && col >= 0 && col < i32(params.w);
  return select(0.0, f32(x[select(params.x_off, row + u32(col), ok)]), ok);
}`;

const X4_LOAD = `// The aligned vec4 \`col4\` of the row starting at vec4 \`row4\`, 0 in the zero padding (W % 4 == 0: a vec4 is
// wholly inside or wholly outside the row).
fn load_x4(row4: u32, col4: i32, row_ok: bool) -> vec4<f32> {
  let ok = row_ok && col4 >= 0 && col4 < i32(params.w / 4u);
  return select(vec4<f32>(0.0), vec4<f32>(x[select(params.x_off / 4u, row4 + u32(col4), ok)]), ok);
}`;

/**
 * vec4 loads of x. The TY row segments of a kernel row span `nv` aligned vec4s each (the segment starts `d` values
 * into the first); the TY·nv vec4s are spread over the lanes (lane l loads items l, l+8, ...), broadcast as vec4s
 * and split into components. `rows` (the setup) gets each lane's item row and vec4 column.
 */
function x4Body(v: Conv2dSubgroupVariant, seg: number, setup: string[]): string[] {
  const { kw, stride: S, tileX: TX, tileY: TY, vec: V } = v;
  const p4 = Math.ceil(v.x4!.padL / 4) * 4;
  const d = p4 - v.x4!.padL;
  const nv = Math.ceil((d + seg) / 4);
  const items = TY * nv;
  const loads = Math.ceil(items / 8);
  for (let q = 0; q < loads; q++) {
    setup.push(`  let it${q} = min(lane + ${8 * q}u, ${items - 1}u);`);
    setup.push(`  let ir${q} = it${q} / ${nv}u;`);
    setup.push(`  let ic${q} = i32(ox0 * STRIDE / 4u + it${q} % ${nv}u) - ${p4 / 4};`);
  }
  const body: string[] = ['    for (var ky = 0u; ky < KH; ky++) {'];
  for (let q = 0; q < loads; q++) {
    body.push(`      let iy${q} = i32((oy0 + ir${q}) * STRIDE + ky) - params.pad_t;`);
    body.push(`      let l${q} = load_x4(xc + u32(iy${q}) * (params.w / 4u), ic${q}, iy${q} >= 0 && iy${q} < i32(params.h));`);
  }
  const used = new Set<number>();
  for (let r = 0; r < TY; r++) for (let i = 0; i < seg; i++) used.add(r * nv + ((d + i) >> 2));
  for (const t of [...used].sort((a, b) => a - b)) body.push(`      let b${t} = subgroupBroadcast(l${t >> 3}, ${t & 7}u);`);
  const val = (r: number, i: number) => `b${r * nv + ((d + i) >> 2)}.${'xyzw'[(d + i) & 3]}`;
  body.push(`      let kr = kc + ky * KW;`);
  for (let kx = 0; kx < kw; kx++) {
    for (let vi = 0; vi < V; vi++) {
      body.push(`      {`, `        let wv = load_w(kr + ${kx}u, wg${vi});`);
      for (let r = 0; r < TY; r++) {
        for (let c = 0; c < TX; c++) body.push(`        ${acc(vi, r, c)} += wv * ${val(r, kx + S * c)};`);
      }
      body.push(`      }`);
    }
  }
  body.push('    }');
  return body;
}

/**
 * The rolled kernel-row loop: each lane loads its `loads` values of the TY row segments of kernel row ky, the
 * subgroup shares them, then kw taps that each load the lane's weights once.
 */
function kernelRowBody(v: Conv2dSubgroupVariant, seg: number, loads: number): string[] {
  const { kw, stride: S, tileX: TX, tileY: TY, vec: V } = v;
  const body: string[] = ['    for (var ky = 0u; ky < KH; ky++) {'];
  for (let r = 0; r < TY; r++) {
    body.push(`      let iy${r} = i32((oy0 + ${r}u) * STRIDE + ky) - params.pad_t;`);
    body.push(`      let ok${r} = iy${r} >= 0 && iy${r} < i32(params.h);`);
    body.push(`      let rb${r} = xc + u32(iy${r}) * params.w;`);
    for (let q = 0; q < loads; q++) body.push(`      let l${r}_${q} = load_x(rb${r}, lc${q}, ok${r});`);
    for (let i = 0; i < seg; i++) body.push(`      let s${r}_${i} = subgroupBroadcast(l${r}_${i >> 3}, ${i & 7}u);`);
  }
  body.push(`      let kr = kc + ky * KW;`);
  for (let kx = 0; kx < kw; kx++) {
    for (let vi = 0; vi < V; vi++) {
      body.push(`      {`, `        let wv = load_w(kr + ${kx}u, wg${vi});`);
      for (let r = 0; r < TY; r++) {
        for (let c = 0; c < TX; c++) body.push(`        ${acc(vi, r, c)} += wv * s${r}_${kx + S * c};`);
      }
      body.push(`      }`);
    }
  }
  body.push('    }');
  return body;
}

/**
 * Kernel rows unrolled: the `(TY−1)·stride + kh` input rows of the tile are loaded and shared once per input channel
 * and serve every kernel row (output row r, kernel row ky reads input row r·stride + ky).
 */
function sharedRowsBody(v: Conv2dSubgroupVariant, seg: number, loads: number): string[] {
  const { kh, kw, stride: S, tileX: TX, tileY: TY, vec: V } = v;
  const rows = (TY - 1) * S + kh;
  const body: string[] = [];
  for (let j = 0; j < rows; j++) {
    body.push(`    let iy${j} = i32(oy0 * STRIDE + ${j}u) - params.pad_t;`);
    body.push(`    let ok${j} = iy${j} >= 0 && iy${j} < i32(params.h);`);
    body.push(`    let rb${j} = xc + u32(iy${j}) * params.w;`);
    for (let q = 0; q < loads; q++) body.push(`    let l${j}_${q} = load_x(rb${j}, lc${q}, ok${j});`);
    for (let i = 0; i < seg; i++) body.push(`    let s${j}_${i} = subgroupBroadcast(l${j}_${i >> 3}, ${i & 7}u);`);
  }
  for (let ky = 0; ky < kh; ky++) {
    for (let kx = 0; kx < kw; kx++) {
      for (let vi = 0; vi < V; vi++) {
        body.push(`    {`, `      let wv = load_w(kc + ${ky * kw + kx}u, wg${vi});`);
        for (let r = 0; r < TY; r++) {
          for (let c = 0; c < TX; c++) body.push(`      ${acc(vi, r, c)} += wv * s${r * S + ky}_${kx + S * c};`);
        }
        body.push(`    }`);
      }
    }
  }
  return body;
}
