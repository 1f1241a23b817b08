import { arange, linspace, roundHalfEven } from './numpy_compat.js';
import { SchedulerBase } from './base.js';

/**
 * What DDIM, PNDM and LCM share: integer training timesteps with no noise-level (sigma) table, unit initial noise and an
 * unscaled model input, and diffusers' `timestep_spacing` rules.
 */
export abstract class DiscreteTimeScheduler<T> extends SchedulerBase<T> {
  get sigmas(): null {
    return null;
  }

  get initNoiseSigma(): number {
    return 1;
  }

  inputScale(): number {
    return 1;
  }

  /** The `n` inference timesteps in ascending order ('leading' adds `steps_offset`). */
  protected spacedTimesteps(n: number): number[] {
    const T = this.config.num_train_timesteps;
    switch (this.config.timestep_spacing) {
      case 'leading': {
        const ratio = Math.floor(T / n);
        return Array.from({ length: n }, (_, i) => i * ratio + this.config.steps_offset);
      }
      case 'linspace':
        return linspace(0, T - 1, n).map(roundHalfEven);
      case 'trailing':
        return arange(T, 0, -T / n)
          .map((v) => roundHalfEven(v) - 1)
          .reverse();
    }
  }
}
