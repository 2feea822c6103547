/**
 * A mixture of linear-Gaussian experts (Jacobs et al. 1991; Jordan & Jacobs
 * 1994): a softmax gate g(x) over E experts, expert i predicting
 * y ~ N(x W_i + b_i, σ_i² I). Its exact log-likelihood is what both EM
 * (`fitEm`) and gradient ascent maximise.
 */
import { logSoftmax, logsumexp, mean, softmax, sum, zeros, type Dim, type DType, type Tensor } from "../../core";
import { affine, checkGatedExperts, expertBank, initGatedExperts, type GatedExpertsParams } from "./params";
import { expectShape } from "./validate";

/** Gate, linear experts, and each expert's log output variance log σ_i² ([E]). */
export interface LinearGaussianMixtureParams extends GatedExpertsParams {
  logVariance: Tensor;
}

/**
 * Checks the parameters against x [N, D] and y [N, O]; returns [E, O].
 * @example const [e, o] = checkLinearGaussianMixture(params, x, y, "myFit");
 */
export function checkLinearGaussianMixture(
  params: LinearGaussianMixtureParams,
  x: Tensor,
  y: Tensor,
  fn: string,
): [Dim, Dim] {
  const [e, o] = checkGatedExperts(params, x, fn);
  expectShape(fn, "params.logVariance", params.logVariance, [e]);
  expectShape(fn, "y", y, [x.shape[0]!, o]);
  return [e, o];
}

/** log g_i(x) + log N(y; x W_i + b_i, σ_i² I) per case and expert, [N, E]. */
function logJoint(params: LinearGaussianMixtureParams, x: Tensor, y: Tensor, fn: string): Tensor {
  const [, o] = checkLinearGaussianMixture(params, x, y, fn);
  const sqErr = sum(expertBank(params.experts, x).sub(y.expandDims(1)).square(), -1); // [N, E]
  const logVar = params.logVariance;
  const logDensity = sqErr
    .mul(logVar.neg().exp())
    .add(logVar.mul(o as number))
    .add((o as number) * Math.log(2 * Math.PI))
    .mul(-0.5);
  return logSoftmax(affine(params.gate, x), -1).add(logDensity);
}

/**
 * Mean log-likelihood per case, (1/N) Σ_n log Σ_i g_i(x_n) N(y_n; x_n W_i + b_i, σ_i² I),
 * with the Gaussian normalisers included (so it is a true log density).
 * @example const ll = linearGaussianMixtureLogLikelihood(params, x, y).item();
 */
export function linearGaussianMixtureLogLikelihood(params: LinearGaussianMixtureParams, x: Tensor, y: Tensor): Tensor {
  return mean(logsumexp(logJoint(params, x, y, "linearGaussianMixtureLogLikelihood"), -1));
}

/**
 * The E-step: posterior probability h_i(n) that expert i generated case n,
 * h_i ∝ g_i(x_n) N(y_n; x_n W_i + b_i, σ_i² I), [N, E] (rows sum to 1).
 * @example const h = linearGaussianMixturePosteriors(params, x, y);
 */
export function linearGaussianMixturePosteriors(params: LinearGaussianMixtureParams, x: Tensor, y: Tensor): Tensor {
  return softmax(logJoint(params, x, y, "linearGaussianMixturePosteriors"), -1);
}

/**
 * Random parameters (see `initGatedExperts`) with unit variances.
 * @example const p = initLinearGaussianMixture(random.key(0), { inputDim: 1, outputDim: 1, experts: 3 }, "f64");
 */
export function initLinearGaussianMixture(
  key: Tensor,
  sizes: { inputDim: number; outputDim: number; experts: number },
  dtype: DType = "f32",
): LinearGaussianMixtureParams {
  return { ...initGatedExperts(key, sizes, dtype), logVariance: zeros([sizes.experts], dtype) };
}
