import type { Device, Kernel, Tensor } from '@sd-webgpu/tensor';

/**
 * y = a + alpha·b over n values: the runtime tests' small kernel with two uniforms. It reads its index as
 * `gid.x + gid.y · num_workgroups.x · WG_X`, so a grid the recorder folds into (x, y) covers every value.
 */
export const axpy: Kernel = {
  name: 'test_axpy',
  bindings: [
    { name: 'a', type: 'array<f32>', access: 'read' },
    { name: 'b', type: 'array<f32>', access: 'read' },
    { name: 'y', type: 'array<f32>', access: 'read_write' },
  ],
  uniforms: [{ name: 'n', type: 'u32' }, { name: 'alpha', type: 'f32' }],
  workgroupSize: [64],
  source: /* wgsl */ `
@compute @workgroup_size(WG_X)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG_X;
  if (i >= params.n) { return; }
  y[i] = a[i] + params.alpha * b[i];
}`,
};

/** `a + alpha·b` into a new pooled tensor. */
export function axpyOp(dev: Device, a: Tensor, b: Tensor, alpha: number): Tensor {
  const y = dev.empty(a.shape);
  dev.run(axpy, { bindings: { a, b, y }, uniforms: { n: a.size, alpha }, workgroups: [Math.ceil(a.size / 64)] });
  return y;
}
