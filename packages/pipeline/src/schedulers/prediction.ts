/**
 * What the model predicts (diffusers `prediction_type`) and the x0 estimate each scheduler family derives from it,
 * as coefficients `[cx, cm]` with `x0 = cx·x + cm·model_output`. Host float64; the latent backend applies them.
 */
export type PredictionType = 'epsilon' | 'v_prediction';

/** DDIM / LCM form (x = √ᾱ·x0 + √(1−ᾱ)·ε): ε → (x − √(1−ᾱ)·ε)/√ᾱ; v → √ᾱ·x − √(1−ᾱ)·v. */
export function x0FromAlphaBar(type: PredictionType, alphaBar: number): [number, number] {
  const a = Math.sqrt(alphaBar);
  const b = Math.sqrt(1 - alphaBar);
  return type === 'epsilon' ? [1 / a, -b / a] : [a, -b];
}

/** DDIM's ε from v (the direction pointing to x_t): √ᾱ·v + √(1−ᾱ)·x, as `[cx, cm]`. */
export function epsFromV(alphaBar: number): [number, number] {
  return [Math.sqrt(1 - alphaBar), Math.sqrt(alphaBar)];
}

/**
 * k-diffusion form (x = x0 + σ·ε, the UNet sees x/√(σ²+1)): ε → x − σ·ε; v → x/(σ²+1) − σ/√(σ²+1)·v.
 */
export function x0FromSigma(type: PredictionType, sigma: number): [number, number] {
  const s2 = sigma * sigma + 1;
  return type === 'epsilon' ? [1, -sigma] : [1 / s2, -sigma / Math.sqrt(s2)];
}

/** DPM-Solver VP form (x = α_t·x0 + σ_t·ε): ε → (x − σ_t·ε)/α_t; v → α_t·x − σ_t·v. */
export function x0FromVp(type: PredictionType, alpha: number, sigmaT: number): [number, number] {
  return type === 'epsilon' ? [1 / alpha, -sigmaT / alpha] : [alpha, -sigmaT];
}
