import { it } from 'vitest';
import { sd15 } from '../../../../packages/models/src/configs';
import { UNet2DConditionModel } from '../../../../packages/models/src/unet/unet';
import { RandomStore } from '../../../../packages/models/src/weights/random';
import { rootScope } from '../../../../packages/models/src/weights/scope';
import { testDevice } from '../../../helpers/device';
it('prof', { timeout: 3600_000 }, async () => {
  const dev = await testDevice();
  const dtype = (process.env.DT ?? 'f16') as 'f16' | 'f32';
  const unet = new UNet2DConditionModel(rootScope(new RandomStore(dev, 1, dtype)), sd15().unet);
  const x = dev.tensor(new Float32Array(2 * 4 * 64).fill(0.1), [2, 4, 8, 8], dtype);
  const c = dev.tensor(new Float32Array(2 * 77 * 768).fill(0.1), [2, 77, 768], dtype);
  dev.scope(() => unet.forward(x, 1, c)); await dev.sync();
  const orig = dev.run.bind(dev);
  const timers: { name: string; t: any }[] = [];
  (dev as any).run = (k: any, a: any) => { const t = dev.timer()!; t.begin(); orig(k, a); t.end(); timers.push({ name: k.name, t }); };
  dev.scope(() => unet.forward(x, 1, c));
  (dev as any).run = orig;
  await dev.sync();
  const fam = new Map<string, [number, number]>();
  const byName = new Map<string, [number, number]>();
  let total = 0;
  for (const { name, t } of timers) {
    const ms = await t.ms(); t.destroy(); total += ms;
    const f = name.split('_').slice(0, 1).join('_');
    const e = fam.get(f) ?? [0, 0]; fam.set(f, [e[0] + ms, e[1] + 1]);
    const g = byName.get(name) ?? [0, 0]; byName.set(name, [g[0] + ms, g[1] + 1]);
  }
  console.log(`total ${total.toFixed(0)} ms`);
  console.log([...fam].sort((a, b) => b[1][0] - a[1][0]).map(([k, v]) => `${k}: ${v[0].toFixed(0)} ms / ${v[1]}`).join('\n'));
  console.log([...byName].sort((a, b) => b[1][0] - a[1][0]).slice(0, 25).map(([k, v]) => `${k}: ${v[0].toFixed(0)} ms / ${v[1]}`).join('\n'));
});
