/**
 * Merging LoRAs into weights at load time, on the host: `W' = W + Σ scale·(alpha/rank)·up·down`, in float64 and rounded
 * once to f32 (then to f16 by the upload when the model runs in f16). Convolutions flatten as kohya's merge_lora and
 * PEFT do: `up [out, r, 1, 1]`, `down [r, in, kh, kw]` → `[out, r] @ [r, in·kh·kw]`, reshaped to `[out, in, kh, kw]`.
 * Biases are untouched.
 */
import { type SafetensorsInput, openSafetensors } from '../safetensors/open.js';
import type { WeightPatch } from '../weights/upload.js';
import { LoraError } from './errors.js';
import type { Checkpoint } from '../checkpoint/types.js';
import { type LoraComponent, type LoraUpdate, type ModuleTable, moduleShapes, parseLoraKeys } from './parse.js';

/** A LoRA file and the strength to merge it with. */
export interface LoraSpec {
  source: SafetensorsInput;
  /** Multiplier of the update (A1111's `<lora:name:0.8>`; default 1). */
  scale?: number;
  /** Name in messages (default: the path, or 'lora'). */
  name?: string;
}

/** A loaded factor pair, ready to merge. */
interface Factor {
  up: Float32Array;
  down: Float32Array;
  rank: number;
  out: number;
  /** in·kh·kw */
  inner: number;
  coef: number;
  file: string;
  key: string;
}


/** Every LoRA's updates, grouped per component and weight key (`<module>.weight`). */
export class LoraMerge {
  readonly #byComponent: Record<LoraComponent, Map<string, Factor[]>> = { unet: new Map(), text_encoder: new Map() };

  /** Reads the LoRA files (strictly: every key must be used) against the model's module table. */
  static async load(specs: readonly LoraSpec[], modules: ModuleTable): Promise<LoraMerge> {
    const m = new LoraMerge();
    for (const spec of specs) {
      const name = spec.name ?? (typeof spec.source === 'string' ? spec.source : 'lora');
      const scale = spec.scale ?? 1;
      if (!Number.isFinite(scale)) throw new LoraError(name, '(scale)', `scale must be a finite number (got ${String(scale)})`);
      const file = await openSafetensors(spec.source, { name });
      try {
        for (const u of parseLoraKeys(file.keys(), modules, name)) {
          const f = await readFactor(file, u, scale, name);
          checkFit(f, modules[u.component].get(u.module)!);
          m.#add(u, f);
        }
      } finally {
        await file.close();
      }
    }
    return m;
  }

  /** Reads LoRA files against a checkpoint's UNet and text-encoder modules (before any weight is uploaded). */
  static async forCheckpoint(ckpt: Checkpoint, specs: readonly LoraSpec[]): Promise<LoraMerge> {
    const modules = {
      unet: moduleShapes(await ckpt.componentShapes('unet')),
      text_encoder: moduleShapes(await ckpt.componentShapes('text_encoder')),
    };
    return LoraMerge.load(specs, modules);
  }

  /** The patch for one component's upload (null when no LoRA touches it). */
  patch(component: LoraComponent): WeightPatch | null {
    const map = this.#byComponent[component];
    if (map.size === 0) return null;
    return {
      has: (key) => map.has(key),
      apply: (key, w, shape) => {
        for (const f of map.get(key)!) applyFactor(f, w, shape);
      },
    };
  }

  /** Weight keys per component that some LoRA changes. */
  keys(component: LoraComponent): string[] {
    return [...this.#byComponent[component].keys()];
  }

  #add(u: LoraUpdate, f: Factor): void {
    const map = this.#byComponent[u.component];
    const key = `${u.module}.weight`;
    map.set(key, [...(map.get(key) ?? []), f]);
  }
}

async function readFactor(file: Awaited<ReturnType<typeof openSafetensors>>, u: LoraUpdate, scale: number, name: string): Promise<Factor> {
  const ds = file.info(u.downKey).shape;
  const us = file.info(u.upKey).shape;
  const rank = ds[0]!;
  if (ds.length !== 2 && ds.length !== 4) throw new LoraError(name, u.downKey, `must be [r, in] or [r, in, kh, kw], got [${ds.join(', ')}]`);
  if ((us.length !== 2 && !(us.length === 4 && us[2] === 1 && us[3] === 1)) || us[1] !== rank) {
    throw new LoraError(name, u.upKey, `must be [out, ${rank}] or [out, ${rank}, 1, 1] to match its down factor, got [${us.join(', ')}]`);
  }
  let alpha = rank;
  if (u.alphaKey) {
    const a = await file.readFloat32(u.alphaKey);
    if (a.length !== 1) throw new LoraError(name, u.alphaKey, `must be a scalar, got ${a.length} values`);
    alpha = a[0]!;
  }
  return {
    up: Float32Array.from(await file.readFloat32(u.upKey)),
    down: Float32Array.from(await file.readFloat32(u.downKey)),
    rank, out: us[0]!, inner: ds.slice(1).reduce((p, d) => p * d, 1), coef: (scale * alpha) / rank, file: name, key: u.downKey,
  };
}

function checkFit(f: Factor, shape: readonly number[]): void {
  const inner = shape.slice(1).reduce((p, d) => p * d, 1);
  if (shape[0] !== f.out || inner !== f.inner) {
    throw new LoraError(f.file, f.key, `update [${f.out}, ${f.inner}] does not fit the weight [${shape.join(', ')}]`);
  }
}

/** `w += coef·up·down` (float64 accumulation, one f32 rounding per element). */
function applyFactor(f: Factor, w: Float32Array, shape: readonly number[]): void {
  checkFit(f, shape);
  const inner = f.inner;
  const { up, down, rank, coef } = f;
  for (let o = 0; o < f.out; o++) {
    for (let i = 0; i < inner; i++) {
      let s = 0;
      for (let r = 0; r < rank; r++) s += up[o * rank + r]! * down[r * inner + i]!;
      w[o * inner + i] = w[o * inner + i]! + coef * s;
    }
  }
}
