import { describe, expect, it } from 'vitest';
import { TorchGenerator } from '../../packages/pipeline/src/rng/torch_generator';
import { CpuLatentBackend } from '../../packages/pipeline/src/schedulers/cpu_backend';
import { createScheduler } from '../../packages/pipeline/src/schedulers/factory';
import { LmsScheduler } from '../../packages/pipeline/src/schedulers/lms';
import { integrate } from '../../packages/pipeline/src/schedulers/quadrature';
import { resolveSchedulerConfig, sd15SchedulerConfig } from '../../packages/pipeline/src/schedulers/config';
import { NoiseSchedule } from '../../packages/pipeline/src/schedulers/tables';
import { standin } from './common';

describe('adaptive Gauss-Kronrod quadrature', () => {
  it('reaches ~1e-10 on smooth, peaked and endpoint-singular integrands', () => {
    expect(Math.abs(integrate(Math.sin, 0, Math.PI) - 2)).toBeLessThan(1e-13);
    expect(Math.abs(integrate((x) => x ** 20, 0, 1) - 1 / 21)).toBeLessThan(1e-14);
    const peak = (2 / 0.01) * Math.atan(100); // ∫_{-1}^{1} dx / (1e-4 + x²)
    expect(Math.abs(integrate((x) => 1 / (1e-4 + x * x), -1, 1) / peak - 1)).toBeLessThan(1e-10);
    expect(Math.abs(integrate(Math.sqrt, 0, 1) - 2 / 3)).toBeLessThan(1e-10);
    expect(integrate(Math.exp, 1, 0)).toBeCloseTo(-(Math.E - 1), 13);
    expect(integrate(Math.exp, 2, 2)).toBe(0);
  });

  it('throws when the subinterval limit is hit', () => {
    // sin(1/x) oscillates without bound near 0: 8 subintervals cannot resolve it
    expect(() => integrate((x) => Math.sin(1 / x), 1e-6, 1, { limit: 8 })).toThrow(/subintervals/);
  });
});

describe('LMS coefficients', () => {
  const s = new LmsScheduler(resolveSchedulerConfig('lms', sd15SchedulerConfig), new CpuLatentBackend());
  s.setTimesteps(25);
  const sig = s.sigmas;

  it('order 1 is the plain Euler step σ_{i+1} - σ_i', () => {
    for (let i = 0; i < 25; i++) expect(s.lmsCoefficient(1, i, 0)).toBeCloseTo(sig[i + 1] - sig[i], 14);
  });

  it('integrate polynomials of degree < order exactly (Lagrange basis on the past sigmas)', () => {
    for (let order = 1; order <= 4; order++) {
      for (let i = order - 1; i < 25; i++) {
        // p(σ) = 1 + 2σ - σ² + 0.5σ³ truncated to degree order-1
        const coefs = [1, 2, -1, 0.5].slice(0, order);
        const p = (x: number) => coefs.reduce((acc, c, k) => acc + c * x ** k, 0);
        const P = (x: number) => coefs.reduce((acc, c, k) => acc + (c * x ** (k + 1)) / (k + 1), 0);
        let lms = 0;
        for (let k = 0; k < order; k++) lms += s.lmsCoefficient(order, i, k) * p(sig[i - k]);
        const exact = P(sig[i + 1]) - P(sig[i]);
        expect(Math.abs(lms - exact), `order ${order} step ${i}`).toBeLessThan(1e-10 * Math.max(1, Math.abs(exact)));
      }
    }
  });
});

describe('Karras sigmas (DPM++ 2M Karras, Euler with use_karras_sigmas)', () => {
  const table = new NoiseSchedule(resolveSchedulerConfig('dpmpp_2m', sd15SchedulerConfig));
  /** Independent inverse of the piecewise-linear log-sigma table by bisection. */
  const tOfSigma = (sigma: number) => {
    const target = Math.log(sigma);
    const at = (t: number) => {
      const j = Math.min(Math.floor(t), 998);
      return table.logSigmas[j] + (t - j) * (table.logSigmas[j + 1] - table.logSigmas[j]);
    };
    let lo = 0;
    let hi = 999;
    if (target <= at(0)) return 0;
    for (let k = 0; k < 100; k++) {
      const mid = (lo + hi) / 2;
      if (at(mid) < target) lo = mid;
      else hi = mid;
    }
    return (lo + hi) / 2;
  };

  for (const n of [10, 20, 30]) {
    it(`dpmpp_2m_karras, ${n} steps: ρ=7 spacing from σ_max to σ_min, integer timesteps at those sigmas`, () => {
      const s = createScheduler('dpmpp_2m_karras', new CpuLatentBackend());
      s.setTimesteps(n);
      const sig = s.sigmas!;
      expect(sig.length).toBe(n + 1);
      expect(sig[0]).toBe(table.sigmas[999]);
      expect(sig[n - 1]).toBe(table.sigmas[0]);
      expect(sig[n]).toBe(0);
      const a = table.sigmas[999] ** (1 / 7);
      const z = table.sigmas[0] ** (1 / 7);
      for (let i = 0; i < n; i++) {
        const want = (a + (i / (n - 1)) * (z - a)) ** 7;
        expect(Math.abs(sig[i] - want) / want).toBeLessThan(1.2e-7); // f32 storage of the f64 value
      }
      expect(s.timesteps[0]).toBe(999);
      expect(s.timesteps[n - 1]).toBe(0);
      s.timesteps.forEach((t, i) => {
        expect(Number.isInteger(t)).toBe(true);
        expect(Math.abs(t - tOfSigma(sig[i])), `t[${i}]`).toBeLessThanOrEqual(0.5 + 1e-6);
      });
    });
  }

  it('euler with use_karras_sigmas keeps fractional float32 timesteps', () => {
    const s = createScheduler('euler', new CpuLatentBackend(), { ...sd15SchedulerConfig, use_karras_sigmas: true });
    s.setTimesteps(15);
    expect(s.timesteps[0]).toBe(999);
    s.timesteps.forEach((t, i) => expect(Math.abs(t - tOfSigma(s.sigmas![i]))).toBeLessThan(1e-3));
    expect(s.timesteps.some((t) => !Number.isInteger(t))).toBe(true);
  });

  it('a DPM++ 2M Karras run ends on its x0 prediction (σ = 0 last step) and stays finite', () => {
    const b = new CpuLatentBackend();
    const s = createScheduler('dpmpp_2m_karras', b);
    s.setTimesteps(12);
    let x = b.adopt([1, 4, 8, 8], new TorchGenerator(3).randn([1, 4, 8, 8]));
    let last: Float32Array | null = null;
    s.timesteps.forEach((t, i) => {
      const eps = standin(x, t);
      if (i === s.timesteps.length - 1) {
        // x0 = (x - σ_t eps)/α_t with α = 1/sqrt(σ²+1), σ_t = σα  =>  x0 = sqrt(σ²+1)·x - σ·eps
        const sg = s.sigmas![i];
        last = x.data.map((v, k) => Math.sqrt(sg * sg + 1) * v - sg * eps.data[k]);
      }
      const { prevSample } = s.step(eps, t, x);
      b.dispose(x);
      x = prevSample;
      expect(x.data.every(Number.isFinite)).toBe(true);
    });
    const ref = last!;
    x.data.forEach((v, k) => expect(Math.abs(v - ref[k])).toBeLessThanOrEqual(2e-7 * Math.max(1, Math.abs(ref[k]))));
    b.dispose(x);
    s.reset();
    expect(b.liveCount).toBe(0);
  });
});
