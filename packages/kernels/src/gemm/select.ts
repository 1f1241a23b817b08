/**
 * A GEMM tile of either core: the scalar register-tiled one (./core.ts) or the subgroup-matrix one (./matrix.ts, f16
 * only). matmul and conv2d plan with `tileFootprint` and build with `tileKernel`, whichever core the table chose.
 */
import { type Kernel, UnsupportedError } from '@sd-webgpu/tensor';
import { type GemmHooks, type GemmTile, checkGemmTile, gemmFootprint, gemmKernel } from './core.js';
import { type MatrixTile, checkMatrixTile, matrixFootprint, matrixKernel } from './matrix.js';

export type AnyGemmTile = GemmTile | MatrixTile;

export function isMatrixTile(t: AnyGemmTile): t is MatrixTile {
  return (t as MatrixTile).kind === 'matrix';
}

/** Output rows and columns of one workgroup (checks the tile). */
export function tileFootprint(t: AnyGemmTile): { rows: number; cols: number } {
  return isMatrixTile(t) ? matrixFootprint(checkMatrixTile(t)) : gemmFootprint(checkGemmTile(t));
}

/** The kernel of `hooks` on `t`'s core; UnsupportedError for a subgroup-matrix tile with f32 hooks. */
export function tileKernel(op: string, hooks: GemmHooks, t: AnyGemmTile): Kernel {
  if (!isMatrixTile(t)) return gemmKernel(hooks, t);
  if (!hooks.f16) throw new UnsupportedError(op, 'the subgroup-matrix GEMM multiplies f16 operands (these are f32)');
  return matrixKernel(hooks, t);
}
