/**
 * Adaptive mixture of local experts (Jacobs, Jordan, Nowlan & Hinton,
 * "Adaptive mixtures of local experts", Neural Computation 3(1), 1991).
 * Each case is explained by one expert chosen stochastically by the gate, so
 * the loss is the negative log-likelihood of a Gaussian mixture:
 *   E = -log Σ_i g_i exp(-½ ||y - o_i||²).
 * The experts compete for cases (an expert's gradient is weighted by its
 * posterior responsibility), which makes them specialise on regions of input.
 */
import { logSoftmax, logsumexp, mean, softmax, sum, type Tensor } from "../../core";
import { affine, checkGatedExperts, expertBank, type GatedExpertsParams } from "./params";
import { expectShape } from "./validate";

export interface LocalExpertsOutput {
  /** The mixture's mean prediction Σ_i g_i o_i, [N, out]. */
  output: Tensor;
  /** Gate probabilities g = softmax(x W + b), [N, E]. */
  gates: Tensor;
  /** Expert outputs o_i = x W_i + b_i, [N, E, out]. */
  expertOutputs: Tensor;
}

/**
 * Mixture of local experts forward pass: gate probabilities, expert outputs
 * and the mixture mean Σ_i g_i o_i.
 * @param params `{ gate: {w [D, E], b [E]}, experts: {w [E, D, O], b [E, O]} }`
 * @example const { gates, output } = localExperts(initGatedExperts(random.key(0), { inputDim: 2, outputDim: 2, experts: 4 }), x);
 */
export function localExperts(params: GatedExpertsParams, x: Tensor): LocalExpertsOutput {
  checkGatedExperts(params, x, "localExperts");
  const gates = softmax(affine(params.gate, x), -1);
  const expertOutputs = expertBank(params.experts, x);
  return { output: sum(expertOutputs.mul(gates.expandDims(-1)), 1), gates, expertOutputs };
}

/** log g_i(x) - ½ ||y - o_i(x)||² per case and expert, [N, E]. */
function logJoint(params: GatedExpertsParams, x: Tensor, y: Tensor, fn: string): Tensor {
  const [, o] = checkGatedExperts(params, x, fn);
  expectShape(fn, "y", y, [x.shape[0]!, o]);
  const sqErr = sum(expertBank(params.experts, x).sub(y.expandDims(1)).square(), -1);
  return logSoftmax(affine(params.gate, x), -1).sub(sqErr.mul(0.5));
}

/**
 * The Jacobs et al. (1991) loss, averaged over cases:
 * mean_n -log Σ_i g_i exp(-½ ||y_n - o_i(x_n)||²), computed with logsumexp.
 * (The Gaussian normaliser (O/2) log 2π is a constant and is left out, as in the paper.)
 * @example const [loss, g] = valueAndGrad(localExpertsLoss)(params, x, y);
 */
export function localExpertsLoss(params: GatedExpertsParams, x: Tensor, y: Tensor): Tensor {
  return mean(logsumexp(logJoint(params, x, y, "localExpertsLoss"), -1)).neg();
}

/**
 * Posterior responsibility of each expert for each case,
 * h_i = g_i exp(-½||y - o_i||²) / Σ_j g_j exp(-½||y - o_j||²), [N, E].
 * It weights each expert's gradient in `localExpertsLoss`.
 * @example const h = localExpertsPosteriors(params, x, y); // rows sum to 1
 */
export function localExpertsPosteriors(params: GatedExpertsParams, x: Tensor, y: Tensor): Tensor {
  return softmax(logJoint(params, x, y, "localExpertsPosteriors"), -1);
}
