import { readdirSync } from 'node:fs';
import { describe, it } from 'vitest';
import { ClipEncoderLayer, rootScope, sd15 } from '@sd-webgpu/models';
import { testDevice } from '../../helpers/device';
import { expectClose, fixturePath, loadCase } from '../../helpers/fixtures';
import { errorScale, storeFromCase, upload } from '../unet/helpers';

const cases = readdirSync(fixturePath('blocks')).filter((f) => f.startsWith('clip_encoder_layer_')).map((f) => f.replace(/\.safetensors$/, ''));

describe('CLIP encoder layer (blocks/clip_encoder_layer_*)', () => {
  for (const name of cases) {
    it(name, async () => {
      const dev = await testDevice();
      const c = await loadCase(`blocks/${name}`);
      const a = c.attrs as { hidden: number; heads: number; intermediate: number; layer_norm_eps: number };
      const store = storeFromCase(dev, c, 'f32');
      const cfg = { ...sd15().textEncoder, hiddenSize: a.hidden, numAttentionHeads: a.heads, intermediateSize: a.intermediate, layerNormEps: a.layer_norm_eps };
      const layer = new ClipEncoderLayer(rootScope(store), cfg);
      store.finish(); // every weight of the case was used
      const x = upload(dev, c.inputs.x!, 'f32');
      const y = layer.forward(x);
      const ref = c.outputs.y!.data as Float32Array;
      // README 2: blocks within 5e-5 of max(1, max|ref|) (torch's f32 run lands ~1e-6 from the f64 reference)
      expectClose(await y.float32(), ref, { atol: 5e-5 * errorScale(ref), rtol: 0 }, name);
      x.dispose();
      y.dispose();
    });
  }
});
