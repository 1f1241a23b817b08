/**
 * Dispatch planning for matmul: batch-dimension broadcasting, and splitting work whose operands do not fit one
 * storage binding (`maxStorageBufferBindingSize`) into chunks along M, N and K, each bound as aligned windows
 * (`{ offset, size }`) of the full buffers. Pure arithmetic: no GPU objects, so it is testable on its own.
 */
import { LimitError, ShapeError } from '@sd-webgpu/tensor';

/** One merged output batch dimension with the element strides of A and B along it (0 = broadcast). */
export interface BatchDim {
  readonly size: number;
  readonly sa: number;
  readonly sb: number;
}

export interface MatmulProblem {
  readonly M: number;
  readonly N: number;
  readonly K: number;
  readonly transB: boolean;
  /** Output batch dims after broadcasting and merging; the output is contiguous over them. */
  readonly batch: readonly BatchDim[];
  readonly bytesPerElement: number;
  readonly bias: boolean;
}

/** Geometry of the chosen kernel variant. */
export interface PlanTile {
  readonly rowsPerGroup: number;
  readonly colsPerGroup: number;
  /** Elements per column unit of B/output/bias loads (4 with nVec). */
  readonly colUnit: number;
  /** Elements per k-step (4 with kVec). */
  readonly kUnit: number;
}

export interface PlanLimits {
  readonly maxBinding: number;
  readonly offsetAlignment: number;
  readonly maxGroups: number;
}

export interface Window {
  readonly offset: number;
  readonly size: number;
}

export interface PlannedDispatch {
  readonly a: Window;
  readonly b: Window;
  readonly y: Window;
  readonly bias?: Window;
  readonly accumulate: boolean;
  readonly uniforms: Readonly<Record<string, number>>;
  readonly workgroups: [number, number, number];
}

/**
 * Broadcasts the batch dims of A `[...A, M, K]` and B (`[...B, K, N]` or `[...B, N, K]`) like torch.matmul and merges
 * adjacent dims with compatible strides. Returns the output batch shape and the merged dims.
 */
export function broadcastBatch(op: string, aShape: readonly number[], bShape: readonly number[], M: number, K: number, N: number):
  { outBatch: number[]; dims: BatchDim[] } {
  const aB = aShape.slice(0, -2);
  const bB = bShape.slice(0, -2);
  const rank = Math.max(aB.length, bB.length);
  const pa = [...Array(rank - aB.length).fill(1), ...aB] as number[];
  const pb = [...Array(rank - bB.length).fill(1), ...bB] as number[];
  const outBatch: number[] = [];
  for (let i = 0; i < rank; i++) {
    const x = pa[i]!;
    const y = pb[i]!;
    if (x !== y && x !== 1 && y !== 1) {
      throw new ShapeError(op, `batch dims do not broadcast (dim ${i}: ${x} vs ${y})`, [aShape, bShape]);
    }
    outBatch.push(x === 1 ? y : x);
  }
  const raw: BatchDim[] = [];
  let sa = M * K;
  let sb = K * N;
  for (let i = rank - 1; i >= 0; i--) {
    const size = outBatch[i]!;
    if (size !== 1) raw.unshift({ size, sa: pa[i] === 1 ? 0 : sa, sb: pb[i] === 1 ? 0 : sb });
    sa *= pa[i]!;
    sb *= pb[i]!;
  }
  const dims: BatchDim[] = [];
  for (const d of raw) {
    const last = dims[dims.length - 1];
    if (last && last.sa === d.sa * d.size && last.sb === d.sb * d.size) {
      dims[dims.length - 1] = { size: last.size * d.size, sa: d.sa, sb: d.sb };
    } else dims.push(d);
  }
  return { outBatch, dims };
}

const ceilDiv = (a: number, b: number) => Math.ceil(a / b);
const gcd = (a: number, b: number): number => (b ? gcd(b, a % b) : a);

/** Plans all dispatches of one matmul. Throws LimitError when no split fits the device. */
export function planMatmul(p: MatmulProblem, tile: PlanTile, lim: PlanLimits): PlannedDispatch[] {
  const { M, N, K } = p;
  const outCount = p.batch.reduce((s, d) => s * d.size, 1);
  if (M === 0 || N === 0 || outCount === 0) return [];
  // Window starts must be multiples of the offset alignment and leave vec4 element offsets whole.
  const unitBytes = 4 * p.bytesPerElement;
  const align = (lim.offsetAlignment * unitBytes) / gcd(lim.offsetAlignment, unitBytes);
  const fits = (elems: number) => elems * p.bytesPerElement + align <= lim.maxBinding;

  // In-shader batch: up to the last two merged dims; the rest (or everything, when too large) loops on the host.
  let inner = p.batch.slice(-2);
  let zCount = inner.reduce((s, d) => s * d.size, 1);
  const spanOf = (dims: readonly BatchDim[], key: 'sa' | 'sb') => dims.reduce((s, d) => s + (d.size - 1) * d[key], 0);
  const extents = (mc: number, nc: number, kc: number, dims: readonly BatchDim[]) => {
    const z = dims.reduce((s, d) => s * d.size, 1);
    return {
      a: spanOf(dims, 'sa') + (mc - 1) * K + kc,
      b: spanOf(dims, 'sb') + (p.transB ? (nc - 1) * K + kc : Math.max(kc - 1, 0) * N + nc),
      y: (z - 1) * M * N + (mc - 1) * N + nc,
      bias: p.bias ? nc : 0,
    };
  };
  const fitsAll = (e: ReturnType<typeof extents>) => fits(e.a) && fits(e.b) && fits(e.y) && fits(e.bias);
  if (zCount > lim.maxGroups || !fitsAll(extents(M, N, K, inner))) {
    inner = [];
    zCount = 1;
  }
  const outer = p.batch.slice(0, p.batch.length - inner.length);

  // Chunk sizes: start whole, halve the dimension that shrinks the largest offending window.
  const maxRows = lim.maxGroups * tile.rowsPerGroup;
  const maxCols = lim.maxGroups * tile.colsPerGroup;
  let mc = Math.min(M, maxRows);
  let nc = Math.min(N, maxCols);
  let kc = K;
  const halve = (x: number, tileQ: number, minQ: number) => {
    const q = x > tileQ ? tileQ : minQ;
    return Math.max(minQ, Math.ceil(x / 2 / q) * q);
  };
  const rowQ = tile.rowsPerGroup;
  const colQ = tile.colsPerGroup;
  for (;;) {
    const e = extents(mc, nc, kc, inner);
    if (fitsAll(e)) break;
    const over = (['a', 'b', 'y', 'bias'] as const).filter((k) => !fits(e[k])).sort((x, y) => e[y] - e[x])[0]!;
    const canM = mc > 1;
    const canN = nc > tile.colUnit;
    const canK = kc > tile.kUnit;
    const before = [mc, nc, kc].join();
    if (over === 'a') {
      if (canM) mc = halve(mc, rowQ, 1);
      else if (canK) kc = halve(kc, 4 * tile.kUnit, tile.kUnit);
    } else if (over === 'b') {
      if (p.transB ? canN : !canK && canN) nc = halve(nc, colQ, tile.colUnit);
      else if (canK) kc = halve(kc, 4 * tile.kUnit, tile.kUnit);
    } else if (over === 'y') {
      if (canM) mc = halve(mc, rowQ, 1);
      else if (canN) nc = halve(nc, colQ, tile.colUnit);
    } else if (canN) nc = halve(nc, colQ, tile.colUnit);
    if ([mc, nc, kc].join() === before) {
      throw new LimitError('matmul', `cannot split [${M}x${K}]·[${K}x${N}] (${p.bytesPerElement}-byte elements) into ` +
        `bindings of at most ${lim.maxBinding} bytes (offset alignment ${lim.offsetAlignment})`);
    }
  }

  const win = (start: number, end: number, unit: number): { w: Window; off: number } => {
    const startBytes = start * p.bytesPerElement;
    const offset = Math.floor(startBytes / align) * align;
    // At least one vec4 (WGSL arrays of vec4 need 16 bytes bound, even when nothing is read).
    const size = Math.max(16, Math.ceil((end * p.bytesPerElement - offset) / 4) * 4);
    return { w: { offset, size }, off: (startBytes - offset) / (unit * p.bytesPerElement) };
  };

  const out: PlannedDispatch[] = [];
  const ku = tile.kUnit;
  const cu = tile.colUnit;
  const zd1 = inner.length === 2 ? inner[1]! : { size: 1, sa: 0, sb: 0 };
  const zd0 = inner.length === 2 ? inner[0]! : inner.length === 1 ? inner[0]! : { size: 1, sa: 0, sb: 0 };
  const outerCount = outer.reduce((s, d) => s * d.size, 1);
  const innerSpan = { a: spanOf(inner, 'sa'), b: spanOf(inner, 'sb') };
  for (let o = 0; o < outerCount; o++) {
    // Base element offsets of this outer batch index.
    let rest = o;
    let baseA = 0;
    let baseB = 0;
    for (let i = outer.length - 1; i >= 0; i--) {
      const d = outer[i]!;
      const idx = rest % d.size;
      rest = Math.floor(rest / d.size);
      baseA += idx * d.sa;
      baseB += idx * d.sb;
    }
    const baseY = o * zCount * M * N;
    for (let m0 = 0; m0 < M; m0 += mc) {
      const mn = Math.min(mc, M - m0);
      for (let n0 = 0; n0 < N; n0 += nc) {
        const nn = Math.min(nc, N - n0);
        for (let k0 = 0; k0 === 0 || k0 < K; k0 += Math.max(kc, 1)) {
          const kn = Math.min(kc, K - k0);
          const aStart = baseA + m0 * K + k0;
          const a = win(aStart, aStart + innerSpan.a + (mn - 1) * K + kn, ku);
          const bStart = baseB + (p.transB ? n0 * K + k0 : k0 * N + n0);
          const bLen = p.transB ? (nn - 1) * K + kn : Math.max(kn - 1, 0) * N + nn;
          const b = win(bStart, bStart + innerSpan.b + bLen, p.transB ? ku : cu);
          const yStart = baseY + m0 * N + n0;
          const y = win(yStart, yStart + (zCount - 1) * M * N + (mn - 1) * N + nn, cu);
          const bias = p.bias && k0 === 0 ? win(n0, n0 + nn, cu) : undefined;
          out.push({
            a: a.w, b: b.w, y: y.w, bias: bias?.w, accumulate: k0 > 0,
            uniforms: {
              m: mn, n: nn / cu, ks: kn / ku, lda: K / ku, ldb: p.transB ? K / ku : N / cu, ldy: N / cu,
              a_off: a.off, b_off: b.off, y_off: y.off, bias_off: bias?.off ?? 0,
              zd1: zd1.size, sa0: zd0.sa / ku, sa1: zd1.sa / ku, sb0: zd0.sb / (p.transB ? ku : cu),
              sb1: zd1.sb / (p.transB ? ku : cu), sy: (M * N) / cu,
            },
            workgroups: [ceilDiv(nn, tile.colsPerGroup), ceilDiv(mn, tile.rowsPerGroup), zCount],
          });
        }
      }
    }
  }
  return out;
}
