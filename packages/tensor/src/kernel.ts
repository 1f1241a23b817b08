/**
 * A kernel is data: its storage bindings, its uniforms, its workgroup size and its WGSL body. The WGSL declarations
 * of the bindings and of `struct Params` are generated here from the same lists that the host uses to pack the
 * uniform buffer, so the two cannot drift. `kernelSource()` returns the exact WGSL that is compiled.
 */
export type UniformType = 'u32' | 'i32' | 'f32';

export interface BindingDecl {
  readonly name: string;
  /** WGSL type of the binding, e.g. `array<f32>`, `array<vec4<f32>>`, `array<f16>`. */
  readonly type: string;
  readonly access: 'read' | 'read_write';
}

export interface UniformDecl {
  readonly name: string;
  readonly type: UniformType;
}

export interface Kernel {
  /** Unique per variant: also the pipeline cache key. */
  readonly name: string;
  /** Storage buffers, `@group(0) @binding(i)` in this order. */
  readonly bindings: readonly BindingDecl[];
  /** Fields of `struct Params`, bound as `params` at `@binding(bindings.length)` (omitted when empty). */
  readonly uniforms: readonly UniformDecl[];
  readonly workgroupSize: readonly [number, number?, number?];
  /** WGSL features to enable. */
  readonly enables?: readonly ('f16' | 'subgroups' | 'chromium_experimental_subgroup_matrix')[];
  /** Global diagnostic filters, e.g. `off, chromium_experimental.subgroup_matrix_uniformity` (`diagnostic(...);`). */
  readonly diagnostics?: readonly string[];
  /** The WGSL body: helper functions and `@compute` entry point `main`; may use `params` and the binding names. */
  readonly source: string;
}

/** Bytes of a kernel's `struct Params`: one 4-byte slot per uniform, rounded up to 16 (at least 16). */
export function uniformBytes(kernel: Kernel): number {
  return Math.max(16, Math.ceil((kernel.uniforms.length * 4) / 16) * 16);
}

/**
 * Writes the uniform values at `byteOffset` of `view`: each uniform takes one 4-byte slot, in declaration order (all
 * scalar 32-bit, so no padding rules apply).
 */
export function writeUniforms(kernel: Kernel, values: Readonly<Record<string, number>>, view: DataView, byteOffset: number): void {
  const decls = kernel.uniforms;
  for (let i = 0; i < decls.length; i++) {
    const u = decls[i]!;
    const v = values[u.name];
    if (v === undefined || !Number.isFinite(v) && u.type !== 'f32') {
      throw new Error(`kernel '${kernel.name}': uniform '${u.name}' is ${v}`);
    }
    if (u.type === 'f32') view.setFloat32(byteOffset + i * 4, v, true);
    else if (u.type === 'u32') view.setUint32(byteOffset + i * 4, v >>> 0, true);
    else view.setInt32(byteOffset + i * 4, v | 0, true);
  }
}

/** The uniform values as the bytes of `struct Params`. */
export function packUniforms(kernel: Kernel, values: Readonly<Record<string, number>>): ArrayBuffer {
  const buf = new ArrayBuffer(uniformBytes(kernel));
  writeUniforms(kernel, values, new DataView(buf), 0);
  return buf;
}

export function kernelSource(kernel: Kernel): string {
  const lines: string[] = [];
  for (const e of kernel.enables ?? []) lines.push(`enable ${e};`);
  for (const d of kernel.diagnostics ?? []) lines.push(`diagnostic(${d});`);
  kernel.bindings.forEach((b, i) => {
    lines.push(`@group(0) @binding(${i}) var<storage, ${b.access}> ${b.name}: ${b.type};`);
  });
  if (kernel.uniforms.length) {
    lines.push(`struct Params {\n${kernel.uniforms.map((u) => `  ${u.name}: ${u.type},`).join('\n')}\n}`);
    lines.push(`@group(0) @binding(${kernel.bindings.length}) var<uniform> params: Params;`);
  }
  const [x, y = 1, z = 1] = kernel.workgroupSize;
  lines.push(`const WG_X: u32 = ${x}u;\nconst WG_Y: u32 = ${y}u;\nconst WG_Z: u32 = ${z}u;`);
  lines.push(kernel.source);
  return lines.join('\n');
}
