/**
 * LoRA file dialects → one list of low-rank updates per target module (diffusers module paths, relative to the
 * component). Accepted:
 * - kohya-ss / A1111: `lora_unet_<path>` / `lora_te_<path>` with every `.` of the module path replaced by `_`,
 *   `.lora_down.weight`, `.lora_up.weight`, optional `.alpha` (scalar; absent → alpha = rank). Module names contain
 *   `_` themselves, so names are resolved through a table built from the model's own weight names, never by splitting.
 * - diffusers / PEFT: `unet.<path>.lora_A.weight` (down) / `.lora_B.weight` (up), `text_encoder.<path>…`, optional
 *   `<path>.alpha`.
 * - diffusers 0.27 training scripts: `unet.<path>.lora.down.weight` / `.lora.up.weight` and
 *   `text_encoder.<path>.lora_linear_layer.down.weight` / `.up.weight`.
 * Every key of the file must be used: anything else is a `LoraError` naming the key.
 */
import { LoraError } from './errors.js';

export type LoraComponent = 'unet' | 'text_encoder';

/** One low-rank update of a module's weight: `ΔW = (alpha/rank)·up·down` (times the user's scale). */
export interface LoraUpdate {
  component: LoraComponent;
  /** Diffusers module path, e.g. `down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q`. */
  module: string;
  /** File keys of the factors (for messages). */
  downKey: string;
  upKey: string;
  alphaKey?: string;
}

/** The model's modules per component (weight key without `.weight` → weight shape), to resolve names and check fits. */
export type ModuleTable = Record<LoraComponent, ReadonlyMap<string, readonly number[]>>;

const KOHYA_PREFIX: Record<LoraComponent, string> = { unet: 'lora_unet_', text_encoder: 'lora_te_' };

const SUFFIXES: [RegExp, 'down' | 'up' | 'alpha'][] = [
  [/\.(?:lora_down|lora_A|lora\.down|lora_linear_layer\.down)\.weight$/, 'down'],
  [/\.(?:lora_up|lora_B|lora\.up|lora_linear_layer\.up)\.weight$/, 'up'],
  [/\.alpha$/, 'alpha'],
];

/** Groups the file's keys into updates. `file` names the LoRA in errors. */
export function parseLoraKeys(keys: readonly string[], modules: ModuleTable, file: string): LoraUpdate[] {
  const kohya = new Map<string, [LoraComponent, string]>();
  for (const c of ['unet', 'text_encoder'] as const) {
    for (const m of modules[c].keys()) kohya.set(KOHYA_PREFIX[c] + m.replace(/\./g, '_'), [c, m]);
  }
  const groups = new Map<string, { component: LoraComponent; module: string; down?: string; up?: string; alpha?: string }>();
  for (const key of keys) {
    const hit = SUFFIXES.find(([re]) => re.test(key));
    if (!hit) throw new LoraError(file, key, 'is not a LoRA factor (expected …lora_down/lora_up/lora_A/lora_B….weight or ….alpha)');
    const [re, role] = hit;
    const name = key.replace(re, '');
    let target: [LoraComponent, string] | undefined;
    if (name.startsWith('lora_unet_') || name.startsWith('lora_te_')) {
      target = kohya.get(name);
      if (!target) throw new LoraError(file, key, `names no module of the model ('${name}' matches no UNet or text-encoder layer)`);
    } else if (name.startsWith('unet.')) target = ['unet', name.slice(5)];
    else if (name.startsWith('text_encoder.')) target = ['text_encoder', name.slice(13)];
    else throw new LoraError(file, key, "has no known prefix (lora_unet_, lora_te_, unet., text_encoder.)");
    const [component, module] = target;
    if (!modules[component].has(module)) {
      throw new LoraError(file, key, `targets '${module}', which the ${component === 'unet' ? 'UNet' : 'text encoder'} does not have`);
    }
    const id = `${component}:${module}`;
    const g = groups.get(id) ?? { component, module };
    if (g[role]) throw new LoraError(file, key, `is a second ${role} factor for '${module}' (first: '${g[role]}')`);
    g[role] = key;
    groups.set(id, g);
  }
  return [...groups.values()].map((g) => {
    if (!g.down || !g.up) {
      const have = (g.down ?? g.up ?? g.alpha)!;
      throw new LoraError(file, have, `has no matching ${g.down ? 'up' : 'down'} factor for '${g.module}'`);
    }
    return { component: g.component, module: g.module, downKey: g.down, upKey: g.up, ...(g.alpha ? { alphaKey: g.alpha } : {}) };
  });
}

/** A component's modules from its weight shapes (`x.weight` → `x`). */
export function moduleShapes(weights: ReadonlyMap<string, readonly number[]>): Map<string, readonly number[]> {
  const out = new Map<string, readonly number[]>();
  for (const [k, shape] of weights) if (k.endsWith('.weight')) out.set(k.slice(0, -'.weight'.length), shape);
  return out;
}
