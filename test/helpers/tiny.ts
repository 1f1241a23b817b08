import type { Device } from '@sd-webgpu/tensor';
import { type Component, type ModelConfigs, type WeightDType, type WeightScope, openCheckpoint, rootScope } from '@sd-webgpu/models';
import { fixturePath } from './fixtures';

export type TinySource = 'folder' | 'single';

/** The tiny fixture model's two layouts. */
export const TINY_PATHS: Readonly<Record<TinySource, string>> = {
  folder: fixturePath('models/tiny-sd'),
  single: fixturePath('models/tiny-sd-v1-original.safetensors'),
};

/** The single file carries no config; the tiny CLIP has 4 heads of 16 (SD's rule hidden/64 would say 1). */
export const TINY_OVERRIDES = { textEncoder: { numAttentionHeads: 4 } };

const cache = new Map<string, Promise<unknown>>();

/**
 * One component of the tiny model from either layout, built by `build` from its weight scope and strictly accounted
 * (every weight of the file used). Loaded once per component, layout and dtype per test file.
 */
export function loadTiny<M>(
  dev: Device, component: Component, source: TinySource, dtype: WeightDType,
  build: (scope: WeightScope, configs: ModelConfigs) => M,
): Promise<M> {
  const key = `${component}/${source}/${dtype}`;
  let m = cache.get(key) as Promise<M> | undefined;
  if (!m) {
    m = (async () => {
      const ckpt = await openCheckpoint(TINY_PATHS[source], { configs: TINY_OVERRIDES });
      try {
        const store = await ckpt.loadComponent(component, dev, dtype);
        const model = build(rootScope(store), ckpt.configs());
        store.finish();
        return model;
      } finally {
        await ckpt.close();
      }
    })();
    cache.set(key, m);
  }
  return m;
}
