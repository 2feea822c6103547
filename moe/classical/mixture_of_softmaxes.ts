/**
 * Mixture of softmaxes (Yang, Dai, Salakhutdinov & Cohen, "Breaking the
 * softmax bottleneck: a high-rank RNN language model", ICLR 2018).
 * A single softmax over logits h W has a log-probability matrix of rank at
 * most d + 1 (d = the context vector's size); mixing K softmaxes,
 *   p(y | h) = Σ_k π_k(h) softmax(tanh(h P_k + c_k) W + b)_y,  π = softmax(h U + u),
 * is not limited that way. With K = 1 it is the usual softmax output layer.
 */
import {
  gather,
  logSoftmax,
  logsumexp,
  mean,
  random,
  reshape,
  sum,
  zeros,
  type Dim,
  type DType,
  type Tensor,
} from "../../core";
import { affine, checkAffine, checkExpertBank, expertBank, type AffineParams, type ExpertBankParams } from "./params";
import { expectShape } from "./validate";

export interface MixtureOfSoftmaxesParams {
  /** Mixture weights π = softmax(h U + u): `w` [H, K], `b` [K]. */
  prior: AffineParams;
  /** Per-component context projections tanh(h P_k + c_k): `w` [K, H, d], `b` [K, d]. */
  latent: ExpertBankParams;
  /** The shared output layer (logits = h_k W + b): `w` [d, V], `b` [V]. */
  output: AffineParams;
}

function check(params: MixtureOfSoftmaxesParams, h: Tensor, fn: string): { k: Dim; v: Dim } {
  if (params === null || typeof params !== "object")
    throw new TypeError(
      `${fn}: params must be {prior, latent, output}, got ${params === null ? "null" : typeof params}`,
    );
  const [hp, k] = checkAffine("params.prior", params.prior, fn);
  const [kl, hl, d] = checkExpertBank("params.latent", params.latent, fn);
  const [dOut, v] = checkAffine("params.output", params.output, fn);
  if (kl !== k)
    throw new Error(`${fn}: params.prior has ${k} components but params.latent has ${kl}; expected the same K`);
  if (hl !== hp)
    throw new Error(
      `${fn}: params.prior reads ${hp} features but params.latent reads ${hl}; expected the same context size`,
    );
  if (dOut !== d)
    throw new Error(
      `${fn}: params.latent produces ${d} features but params.output.w reads ${dOut}; expected params.output.w of shape [${d}, V]`,
    );
  expectShape(fn, "h", h, [null, hp]);
  return { k: k!, v: v! };
}

/**
 * Log-probabilities of the mixture of softmaxes,
 * log p(y | h) = logsumexp_k (log π_k + log softmax(tanh(h P_k + c_k) W + b)_y).
 * @param h contexts [N, H]  @returns [N, V] (each row's exp sums to 1)
 * @example const logp = mixtureOfSoftmaxes(initMixtureOfSoftmaxes(random.key(0), { contextDim: 16, latentDim: 8, vocab: 100, components: 4 }), h);
 */
export function mixtureOfSoftmaxes(params: MixtureOfSoftmaxesParams, h: Tensor): Tensor {
  check(params, h, "mixtureOfSoftmaxes");
  const logPrior = logSoftmax(affine(params.prior, h), -1); // [N, K]
  const latent = expertBank(params.latent, h).tanh(); // [N, K, d]
  const logComponents = logSoftmax(affine(params.output, latent), -1); // [N, K, V]
  return logsumexp(logComponents.add(logPrior.expandDims(-1)), 1);
}

/**
 * Mean negative log-likelihood of the targets under the mixture of softmaxes.
 * `targets` is either class indices (i32 [N]): mean_n -log p(y_n | h_n), or a
 * distribution per row (float [N, V]): the cross-entropy mean_n -Σ_v t_nv log p(v | h_n).
 * @example const loss = mixtureOfSoftmaxesLoss(params, h, tensor([3, 1, 4], undefined, "i32"));
 */
export function mixtureOfSoftmaxesLoss(params: MixtureOfSoftmaxesParams, h: Tensor, targets: Tensor): Tensor {
  const fn = "mixtureOfSoftmaxesLoss";
  const { v } = check(params, h, fn);
  const n = h.shape[0]!;
  const logp = mixtureOfSoftmaxes(params, h);
  if (targets?.dtype === "i32") {
    expectShape(fn, "targets (class indices)", targets, [n]);
    return mean(gather(logp, reshape(targets, [n, 1]), 1)).neg();
  }
  expectShape(fn, "targets (distributions)", targets, [n, v]);
  return mean(sum(logp.mul(targets), -1)).neg();
}

/**
 * Random parameters: weights ~ N(0, 1/fan_in), biases 0.
 * @example initMixtureOfSoftmaxes(random.key(0), { contextDim: 16, latentDim: 8, vocab: 100, components: 4 })
 */
export function initMixtureOfSoftmaxes(
  key: Tensor,
  sizes: { contextDim: number; latentDim: number; vocab: number; components: number },
  dtype: DType = "f32",
): MixtureOfSoftmaxesParams {
  for (const [name, val] of Object.entries(sizes)) {
    if (!Number.isInteger(val) || val < 1)
      throw new RangeError(`initMixtureOfSoftmaxes: ${name} = ${val}; expected a positive integer`);
  }
  const { contextDim: hd, latentDim: d, vocab: v, components: k } = sizes;
  const [kp, kl, ko] = random.split(key, 3);
  return {
    prior: { w: random.normal(kp!, [hd, k], dtype).mul(1 / Math.sqrt(hd)), b: zeros([k], dtype) },
    latent: { w: random.normal(kl!, [k, hd, d], dtype).mul(1 / Math.sqrt(hd)), b: zeros([k, d], dtype) },
    output: { w: random.normal(ko!, [d, v], dtype).mul(1 / Math.sqrt(d)), b: zeros([v], dtype) },
  };
}
