import { type Tensor, ParameterError } from '@sd-webgpu/tensor';
import { groupNorm } from '@sd-webgpu/kernels';
import type { WeightScope } from '../weights/scope.js';

/** torch.nn.GroupNorm over NCHW (or `[N, C, ...]`) with affine `weight [C]`, `bias [C]`. */
export class GroupNorm {
  readonly weight: Tensor;
  readonly bias: Tensor;

  constructor(scope: WeightScope, readonly numGroups: number, readonly numChannels: number, readonly eps: number) {
    if (!Number.isInteger(numGroups) || numGroups <= 0 || numChannels % numGroups !== 0) {
      throw new ParameterError(`GroupNorm '${scope.prefix}'`, 'numGroups', `${numGroups} does not divide ${numChannels} channels`);
    }
    this.weight = scope.get('weight', [numChannels]);
    this.bias = scope.get('bias', [numChannels]);
  }

  /** `silu: true` fuses the SiLU that follows every norm of a resnet block. */
  forward(x: Tensor, opts: { silu?: boolean } = {}): Tensor {
    return groupNorm(x, this.weight, this.bias, { groups: this.numGroups, eps: this.eps, silu: opts.silu });
  }
}
