import { type Tensor } from '@sd-webgpu/tensor';
import { layerNorm, linear } from '@sd-webgpu/kernels';
import type { WeightScope } from '../weights/scope.js';

/** torch.nn.Linear: `weight [out, in]`, optional `bias [out]`. */
export class Linear {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(scope: WeightScope, inFeatures: number, outFeatures: number, opts: { bias?: boolean } = {}) {
    this.weight = scope.get('weight', [outFeatures, inFeatures]);
    this.bias = opts.bias === false ? null : scope.get('bias', [outFeatures]);
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias ?? undefined);
  }
}

/** torch.nn.LayerNorm over the last dim. */
export class LayerNorm {
  readonly weight: Tensor;
  readonly bias: Tensor;

  constructor(scope: WeightScope, dim: number, readonly eps: number) {
    this.weight = scope.get('weight', [dim]);
    this.bias = scope.get('bias', [dim]);
  }

  forward(x: Tensor): Tensor {
    return layerNorm(x, this.weight, this.bias, { eps: this.eps });
  }
}
