/**
 * Workgroup reductions shared by the norms (./norm.ts) and softmax (./softmax.ts): WGSL functions
 * `wg_sum(v, lid)` and `wg_max(v, lid)` over the WG_X lanes of a 1-D workgroup, called in uniform control flow.
 *
 * - `serial` (lavapipe's 8-lane workgroups): every lane writes its value, then reads all WG_X partials (same
 *   addresses, so cheap): two barriers, which is what costs on lavapipe, and WG_X reads.
 * - `tree` (GPU workgroups of 64-256 lanes without subgroups): a log-step tree in workgroup memory, log2(WG_X) + 2
 *   barriers, WG_X - 1 additions spread over the lanes.
 * - `subgroup` (GPUs with the `subgroups` feature): subgroupAdd / subgroupMax inside each subgroup, lane 0 of each
 *   writes one partial, and every lane reads the WG_X / subgroup_size partials: two barriers. The subgroup size is
 *   read from the `subgroup_size` builtin (4 on SwiftShader, 8 on lavapipe, 32/64 on GPUs, possibly varying between
 *   dispatches), so the kernel is correct for any size; it relies on the subgroups of a 1-D workgroup being runs of
 *   consecutive local invocation indices (lid / subgroup_size is the subgroup's slot), which is how Vulkan, Metal
 *   and D3D drivers lay them out.
 */
export type ReduceMode = 'serial' | 'tree' | 'subgroup';

/** One reduction launch shape of the kernel table (./table.ts, fields `norm` and `softmax`). */
export interface ReductionShape {
  /**
   * `subgroup` means "subgroup reduction where the device has the `subgroups` feature, else `tree`" (the rows of
   * ./table.ts describe adapter classes, not one device's feature set).
   */
  readonly reduce: ReduceMode;
  /** Lanes per workgroup (a power of two for `tree`). */
  readonly lanes: number;
  /** Lanes per workgroup for rows or groups of at least 4·wide loads (every lane still gets 4 or more). */
  readonly wide: number;
  /** Rows per workgroup, one after the other (layer norm, softmax: amortises per-workgroup cost on CPU drivers). */
  readonly rows: number;
}

/** The reduction a device runs for `shape`: `subgroup` only with the feature. */
export function reduceMode(shape: ReductionShape, subgroups: boolean): ReduceMode {
  return shape.reduce === 'subgroup' && !subgroups ? 'tree' : shape.reduce;
}

/** Lanes of the workgroup that reduces rows or groups of `loads` loads. */
export function reductionLanes(shape: ReductionShape, loads: number): number {
  return loads >= 4 * shape.wide ? shape.wide : shape.lanes;
}

/** WGSL of `wg_sum` / `wg_max` for `mode`. */
export function reductionWgsl(mode: ReduceMode): string {
  const fn = (name: string, op: (a: string, b: string) => string, init: string, sg: string) => {
    if (mode === 'serial') {
      return /* wgsl */ `
fn ${name}(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  var r = ${init};
  for (var i = 0u; i < WG_X; i = i + 1u) { r = ${op('r', 'red[i]')}; }
  workgroupBarrier();
  return r;
}`;
    }
    if (mode === 'tree') {
      return /* wgsl */ `
fn ${name}(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG_X / 2u; s > 0u; s = s / 2u) {
    if (lid < s) { red[lid] = ${op('red[lid]', 'red[lid + s]')}; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}`;
    }
    return /* wgsl */ `
fn ${name}(v: f32, lid: u32) -> f32 {
  let part = ${sg}(v);
  if (sg_lane == 0u) { red[lid / sg_size] = part; }
  workgroupBarrier();
  var r = ${init};
  for (var i = 0u; i < (WG_X + sg_size - 1u) / sg_size; i = i + 1u) { r = ${op('r', 'red[i]')}; }
  workgroupBarrier();
  return r;
}`;
  };
  return [
    'var<workgroup> red: array<f32, WG_X>;',
    mode === 'subgroup' ? 'var<private> sg_size: u32;\nvar<private> sg_lane: u32;' : '',
    fn('wg_sum', (a, b) => `${a} + ${b}`, '0.0', 'subgroupAdd'),
    fn('wg_max', (a, b) => `max(${a}, ${b})`, '-3.4028234663852886e38', 'subgroupMax'),
  ].join('\n');
}

/** Extra parameters of `main` (the subgroup builtins) for `mode`. */
export function reductionParams(mode: ReduceMode): string {
  return mode === 'subgroup' ? ', @builtin(subgroup_size) sgs: u32, @builtin(subgroup_invocation_id) sgi: u32' : '';
}

/** First statement of `main` for `mode` (stores the subgroup builtins for wg_sum / wg_max). */
export function reductionInit(mode: ReduceMode): string {
  return mode === 'subgroup' ? 'sg_size = sgs;\n  sg_lane = sgi;' : '';
}

/** WGSL enables that `mode` needs. */
export function reductionEnables(mode: ReduceMode): 'subgroups'[] {
  return mode === 'subgroup' ? ['subgroups'] : [];
}

