/**
 * TAESD, diffusers' `AutoencoderTiny` (madebyollin/taesd): a tiny conv-only autoencoder whose latents are the SD
 * latents themselves (scaling_factor 1.0), used for cheap previews and optionally as the final decoder.
 *
 *   block(x)  = ReLU(conv.4(ReLU(conv.2(ReLU(conv.0(x))))) + x)            (AutoencoderTinyBlock, in = out)
 *   decode(z) = 2·layers(3·tanh(z/3)) − 1, layers = conv+bias, ReLU, then per block group [blocks, 2x nearest
 *               upsample, conv without bias], the last group [blocks, conv(C→3)+bias]
 *   encode(x) = layers((x+1)/2), layers = conv(3→C)+bias, blocks, then per group [conv stride 2 (pad 1, no bias), blocks],
 *               conv(C→4)+bias; deterministic (no posterior)
 *
 * Field names follow the checkpoint (`decoder.layers.N`, `conv.0/2/4`); ReLU and upsample layers hold no weights but
 * keep their index, so layer N here is `layers.N` in the file.
 */
import { type Tensor, ParameterError } from '@sd-webgpu/tensor';
import { add, relu, scale, tanh, upsampleNearest } from '@sd-webgpu/kernels';
import { Conv2d } from '../nn/conv.js';
import type { WeightScope } from '../weights/scope.js';

export interface TaesdConfig {
  inChannels: number;
  outChannels: number;
  latentChannels: number;
  encoderBlockOutChannels: number[];
  decoderBlockOutChannels: number[];
  numEncoderBlocks: number[];
  numDecoderBlocks: number[];
  /** latents = scalingFactor · encoder output (TAESD: 1.0, i.e. the SD latents directly). */
  scalingFactor: number;
}

/** madebyollin/taesd (diffusers `AutoencoderTiny` defaults). */
export const taesdDefaults = (): TaesdConfig => ({
  inChannels: 3, outChannels: 3, latentChannels: 4,
  encoderBlockOutChannels: [64, 64, 64, 64], decoderBlockOutChannels: [64, 64, 64, 64],
  numEncoderBlocks: [1, 3, 3, 3], numDecoderBlocks: [3, 3, 3, 1], scalingFactor: 1,
});

class TaesdBlock {
  readonly conv: { 0: Conv2d; 2: Conv2d; 4: Conv2d };

  constructor(scope: WeightScope, c: number) {
    const s = scope.pp('conv');
    this.conv = { 0: new Conv2d(s.pp(0), c, c, 3), 2: new Conv2d(s.pp(2), c, c, 3), 4: new Conv2d(s.pp(4), c, c, 3) };
  }

  forward(x: Tensor): Tensor {
    return x.device.scope(() => {
      const h = this.conv[4].forward(relu(this.conv[2].forward(relu(this.conv[0].forward(x)))));
      return relu(add(h, x));
    });
  }
}

type Layer = { kind: 'conv'; m: Conv2d } | { kind: 'block'; m: TaesdBlock } | { kind: 'relu' } | { kind: 'up' };

function run(layers: readonly Layer[], x: Tensor): Tensor {
  return x.device.scope(() => {
    let h = x;
    for (const l of layers) {
      if (l.kind === 'relu') h = relu(h);
      else if (l.kind === 'up') h = upsampleNearest(h, [2 * h.shape[2]!, 2 * h.shape[3]!]);
      else h = l.m.forward(h);
    }
    return h;
  });
}

/** Module fields for the weight walker (ReLU/upsample slots stay empty so indices match the file). */
const modules = (layers: readonly Layer[]) => layers.map((l) => (l.kind === 'conv' || l.kind === 'block' ? l.m : null));

export class TaesdDecoder {
  readonly layers: (Conv2d | TaesdBlock | null)[];
  readonly #layers: Layer[] = [];

  constructor(scope: WeightScope, cfg: TaesdConfig) {
    const s = scope.pp('layers');
    const ch = cfg.decoderBlockOutChannels;
    const push = (l: Layer) => this.#layers.push(l);
    push({ kind: 'conv', m: new Conv2d(s.pp(0), cfg.latentChannels, ch[0]!, 3) });
    push({ kind: 'relu' });
    cfg.numDecoderBlocks.forEach((n, i) => {
      const c = ch[i]!;
      const last = i === cfg.numDecoderBlocks.length - 1;
      for (let b = 0; b < n; b++) push({ kind: 'block', m: new TaesdBlock(s.pp(this.#layers.length), c) });
      if (!last) push({ kind: 'up' });
      const out = last ? cfg.outChannels : c;
      push({ kind: 'conv', m: new Conv2d(s.pp(this.#layers.length), c, out, 3, { bias: last }) });
    });
    this.layers = modules(this.#layers);
  }

  /** latents `[N, 4, h, w]` → image `[N, 3, 8h, 8w]` in about [−1, 1] (not clamped). */
  forward(z: Tensor): Tensor {
    return z.device.scope(() => scale(run(this.#layers, scale(tanh(scale(z, 1 / 3)), 3)), 2, -1));
  }
}

export class TaesdEncoder {
  readonly layers: (Conv2d | TaesdBlock | null)[];
  readonly #layers: Layer[] = [];

  constructor(scope: WeightScope, cfg: TaesdConfig) {
    const s = scope.pp('layers');
    const ch = cfg.encoderBlockOutChannels;
    const push = (l: Layer) => this.#layers.push(l);
    cfg.numEncoderBlocks.forEach((n, i) => {
      const c = ch[i]!;
      const conv = i === 0
        ? new Conv2d(s.pp(0), cfg.inChannels, c, 3)
        : new Conv2d(s.pp(this.#layers.length), ch[i - 1]!, c, 3, { stride: 2, padding: 1, bias: false });
      push({ kind: 'conv', m: conv });
      for (let b = 0; b < n; b++) push({ kind: 'block', m: new TaesdBlock(s.pp(this.#layers.length), c) });
    });
    push({ kind: 'conv', m: new Conv2d(s.pp(this.#layers.length), ch[ch.length - 1]!, cfg.latentChannels, 3) });
    this.layers = modules(this.#layers);
  }

  /** image `[N, 3, H, W]` in [−1, 1] → latents `[N, 4, H/8, W/8]`. */
  forward(x: Tensor): Tensor {
    return x.device.scope(() => run(this.#layers, scale(x, 0.5, 0.5)));
  }
}

/** diffusers AutoencoderTiny: `encoder.layers.*`, `decoder.layers.*`. */
export class AutoencoderTiny {
  readonly encoder: TaesdEncoder;
  readonly decoder: TaesdDecoder;

  constructor(scope: WeightScope, readonly cfg: TaesdConfig) {
    if (cfg.numDecoderBlocks.length !== cfg.decoderBlockOutChannels.length || cfg.numEncoderBlocks.length !== cfg.encoderBlockOutChannels.length) {
      throw new ParameterError('AutoencoderTiny', 'config', 'block counts and block channels differ in length');
    }
    this.encoder = new TaesdEncoder(scope.pp('encoder'), cfg);
    this.decoder = new TaesdDecoder(scope.pp('decoder'), cfg);
  }

  /** Scaled SD latents → image in about [−1, 1]. */
  decode(latents: Tensor): Tensor {
    return latents.device.scope(() => this.decoder.forward(this.cfg.scalingFactor === 1 ? latents : scale(latents, 1 / this.cfg.scalingFactor)));
  }

  /** Image in [−1, 1] → scaled SD latents. */
  encode(image: Tensor): Tensor {
    return image.device.scope(() => {
      const z = this.encoder.forward(image);
      return this.cfg.scalingFactor === 1 ? z : scale(z, this.cfg.scalingFactor);
    });
  }
}
