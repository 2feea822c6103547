/**
 * EM for a mixture of linear-Gaussian experts (Jordan & Jacobs, "Hierarchical
 * mixtures of experts and the EM algorithm", Neural Computation 6(2), 1994).
 *
 * E-step: posteriors h_i(n) ∝ g_i(x_n) N(y_n; x_n W_i + b_i, σ_i² I).
 * M-step, experts: weighted least squares per expert,
 *   [W_i; b_i] = (X̃ᵀ H_i X̃ + λI)⁻¹ X̃ᵀ H_i Y   with X̃ = [X, 1], H_i = diag(h_i),
 *   σ_i² = Σ_n h_i(n) ||y_n - μ_i(n)||² / (O Σ_n h_i(n)).
 * M-step, gate: maximise Σ_n Σ_i h_i(n) log g_i(x_n) (a softmax regression on
 * soft targets) by damped Newton steps (IRLS), each accepted only if it raises
 * that objective; so every iteration raises the likelihood (a generalised EM).
 * The E-step runs as moeforge ops; the small solves run on host arrays.
 */
import { tensor, type Tensor } from "../../core";
import { solveSpd, withRidge } from "./host_linalg";
import { fitSoftmaxRegression } from "./softmax_regression";
import {
  checkLinearGaussianMixture,
  linearGaussianMixtureLogLikelihood,
  linearGaussianMixturePosteriors,
  type LinearGaussianMixtureParams,
} from "./linear_gaussian_mixture";

export interface EmOptions {
  /** Newton (IRLS) steps for the gate per M-step. Default 3. */
  gateNewtonSteps?: number;
  /** Ridge added to each normal-equation matrix, relative to its mean diagonal. Default 1e-9. */
  ridge?: number;
  /** Lower bound on each expert's variance, so a collapsing expert stays finite. Default 1e-6. */
  minVariance?: number;
}

export interface EmFitOptions extends EmOptions {
  /** Number of EM iterations (>= 0). */
  iterations: number;
}

export interface EmResult {
  params: LinearGaussianMixtureParams;
  /** Mean log-likelihood per case before the first iteration and after each one (length iterations + 1). */
  logLikelihoods: number[];
}

/** Row-major host copies of the data, with a constant 1 appended to each input row. */
interface HostData {
  n: number;
  p: number; // D + 1
  o: number;
  xt: Float64Array; // [N, P]
  y: Float64Array; // [N, O]
}

function hostData(x: Tensor, y: Tensor): HostData {
  const [n, d] = x.shape as [number, number];
  const o = y.shape[1] as number;
  const xs = x.dataSync();
  const xt = new Float64Array(n * (d + 1));
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < d; c++) xt[r * (d + 1) + c] = xs[r * d + c]!;
    xt[r * (d + 1) + d] = 1;
  }
  return { n, p: d + 1, o, xt, y: Float64Array.from(y.dataSync()) };
}

/** Weighted least squares for one expert; returns [P, O] (weights then bias row) or undefined if it has no weight. */
function fitExpert(data: HostData, h: Float64Array, e: number, i: number, ridge: number): Float64Array | undefined {
  const { n, p, o, xt, y } = data;
  const a = new Float64Array(p * p);
  const b = new Float64Array(p * o);
  let mass = 0;
  for (let r = 0; r < n; r++) {
    const w = h[r * e + i]!;
    mass += w;
    for (let j = 0; j < p; j++) {
      const wx = w * xt[r * p + j]!;
      for (let k = 0; k <= j; k++) a[j * p + k] += wx * xt[r * p + k]!;
      for (let c = 0; c < o; c++) b[j * o + c] += wx * y[r * o + c]!;
    }
  }
  if (mass < 1e-10) return undefined;
  for (let j = 0; j < p; j++) for (let k = 0; k < j; k++) a[k * p + j] = a[j * p + k]!;
  return solveSpd(withRidge(a, p, ridge), b, p, o);
}

/**
 * One EM iteration (E-step, then the closed-form expert M-step and Newton
 * steps for the gate). Returns new parameters; the input is not modified.
 * @example const next = emStep(params, x, y);
 */
export function emStep(
  params: LinearGaussianMixtureParams,
  x: Tensor,
  y: Tensor,
  options: EmOptions = {},
): LinearGaussianMixtureParams {
  const [eDim] = checkLinearGaussianMixture(params, x, y, "emStep");
  if (typeof eDim !== "number" || typeof x.shape[0] !== "number")
    throw new Error("emStep: EM needs concrete sizes; it cannot run inside a trace");
  const { gateNewtonSteps = 3, ridge = 1e-9, minVariance = 1e-6 } = options;
  if (!Number.isInteger(gateNewtonSteps) || gateNewtonSteps < 0)
    throw new RangeError(`emStep: gateNewtonSteps = ${gateNewtonSteps}; expected an integer >= 0`);
  if (!(ridge >= 0)) throw new RangeError(`emStep: ridge = ${ridge}; expected >= 0`);
  if (!(minVariance > 0)) throw new RangeError(`emStep: minVariance = ${minVariance}; expected > 0`);
  const e = eDim;
  const data = hostData(x, y);
  const { n, p, o, xt } = data;
  const dtype = params.experts.w.dtype;
  const h = Float64Array.from(linearGaussianMixturePosteriors(params, x, y).dataSync());

  const w = Float64Array.from(params.experts.w.dataSync()); // [E, D, O]
  const b = Float64Array.from(params.experts.b.dataSync()); // [E, O]
  const logVar = Float64Array.from(params.logVariance.dataSync());
  const d = p - 1;
  for (let i = 0; i < e; i++) {
    const sol = fitExpert(data, h, e, i, ridge);
    if (!sol) continue; // an expert no case belongs to keeps its parameters
    for (let j = 0; j < d; j++) for (let c = 0; c < o; c++) w[(i * d + j) * o + c] = sol[j * o + c]!;
    for (let c = 0; c < o; c++) b[i * o + c] = sol[d * o + c]!;
    let sq = 0;
    let mass = 0;
    for (let r = 0; r < n; r++) {
      const hr = h[r * e + i]!;
      mass += hr;
      for (let c = 0; c < o; c++) {
        let mu = 0;
        for (let j = 0; j < p; j++) mu += xt[r * p + j]! * sol[j * o + c]!;
        sq += hr * (data.y[r * o + c]! - mu) ** 2;
      }
    }
    logVar[i] = Math.log(Math.max(sq / (o * mass), minVariance));
  }

  const v = new Float64Array(p * e); // gate [W; b] as [P, E]
  v.set(params.gate.w.dataSync());
  v.set(params.gate.b.dataSync(), d * e);
  fitSoftmaxRegression(xt, h, v, { n, p, e }, { steps: gateNewtonSteps, ridge });

  return {
    gate: { w: tensor(v.slice(0, d * e), [d, e], dtype), b: tensor(v.slice(d * e), [e], dtype) },
    experts: { w: tensor(w, [e, d, o], dtype), b: tensor(b, [e, o], dtype) },
    logVariance: tensor(logVar, [e], dtype),
  };
}

/**
 * Runs `iterations` EM iterations from `params`, recording the mean
 * log-likelihood per case before and after each (it never decreases, up to
 * round-off and the tiny ridge).
 * @example
 * const init = initLinearGaussianMixture(random.key(0), { inputDim: 1, outputDim: 1, experts: 3 }, "f64");
 * const { params, logLikelihoods } = fitEm(init, x, y, { iterations: 20 });
 */
export function fitEm(params: LinearGaussianMixtureParams, x: Tensor, y: Tensor, options: EmFitOptions): EmResult {
  const { iterations } = options;
  if (!Number.isInteger(iterations) || iterations < 0)
    throw new RangeError(`fitEm: iterations = ${iterations}; expected an integer >= 0`);
  const logLikelihoods = [linearGaussianMixtureLogLikelihood(params, x, y).item()];
  let current = params;
  for (let t = 0; t < iterations; t++) {
    current = emStep(current, x, y, options);
    logLikelihoods.push(linearGaussianMixtureLogLikelihood(current, x, y).item());
  }
  return { params: current, logLikelihoods };
}
