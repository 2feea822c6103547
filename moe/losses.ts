/**
 * Load-balancing and stability losses for routers, and the auxiliary-loss-free
 * bias update. Each takes the tensors a gate produces (probabilities, logits,
 * chosen experts), so they work with any gate that provides them.
 */
import {
  add,
  cast,
  div,
  expandDims,
  logsumexp,
  mean,
  mul,
  oneHot,
  sign,
  slice,
  square,
  stopGradient,
  sub,
  sum,
  topK,
  where,
  greater,
  type Dim,
  type Tensor,
} from "../core";
import { MoeConfigError, checkFloat, checkPositive, checkShape, checkTokenShape } from "./check";
import type { TokenChoice } from "./gates/types";
import { normalCdf } from "./special";

/**
 * The squared coefficient of variation `Var(v) / (Mean(v)² + ε)` of a vector
 * (population variance), the balance measure of Shazeer et al. 2017: 0 when
 * all entries are equal.
 * @example cvSquared(tensor([1, 1, 1])) // 0
 */
export function cvSquared(v: Tensor, eps = 1e-10): Tensor {
  const m = mean(v);
  return div(mean(square(sub(v, m))), add(square(m), eps));
}

/**
 * The dense [T, E] gate matrix of a token choice: `G[t, e]` = the weight of
 * expert e for token t (0 where not chosen or masked out).
 * @example const G = gateMatrix(topKGate({ w }, x, { k: 2 })); // rows have 2 nonzeros
 */
export function gateMatrix(routing: TokenChoice): Tensor {
  const hot = oneHot(routing.experts, routing.numExperts, routing.weights.dtype); // [T, k, E]
  const w = routing.mask ? where(routing.mask, routing.weights, 0) : routing.weights;
  return sum(mul(hot, expandDims(w, 2)), 1);
}

/**
 * Shazeer et al. 2017's importance loss: `CV(Importance)²` with
 * `Importance_e = Σ_t G[t, e]`, the batch sum of each expert's gate values.
 * Pushes every expert to receive the same total gate weight.
 * @example const L = importanceLoss(gateMatrix(routing));
 */
export function importanceLoss(gates: Tensor): Tensor {
  checkTokenShape(gates, [null, null], "importanceLoss", "gates [T, E]");
  return cvSquared(sum(gates, 0));
}

/**
 * Shazeer et al. 2017's load loss: `CV(Load)²` with the smooth load estimator
 * `Load_e = Σ_t P(t, e)`, where `P(t, e) = Φ((clean[t,e] - θ[t,e]) / std[t,e])`
 * is the probability that expert e stays in the top k when only its own
 * noise is redrawn, and θ is the k-th largest noisy logit among the *other*
 * experts (the (k+1)-th overall when e is in the top k, else the k-th).
 * Φ is the normal CDF (see `normalCdf`). With k = E every expert is always
 * chosen and the loss is 0.
 * @example const L = loadLoss(noisyTopKGate(router, x, { k: 2, key }).noise!, 2);
 */
export function loadLoss(
  noise: { readonly clean: Tensor; readonly noisy: Tensor; readonly std: Tensor },
  k: number,
): Tensor {
  if (!noise || typeof noise !== "object")
    throw new MoeConfigError("loadLoss: expected the `noise` terms of a noisy top-k gate { clean, noisy, std }");
  const n = new Map<string, Dim>();
  const [T, E] = checkTokenShape(noise.clean, ["T", "E"], "loadLoss", "clean", n) as [Dim, number];
  checkTokenShape(noise.noisy, ["T", "E"], "loadLoss", "noisy", n);
  checkTokenShape(noise.std, ["T", "E"], "loadLoss", "std", n);
  if (!Number.isInteger(k) || k < 1 || k > E)
    throw new MoeConfigError(`loadLoss: k = ${k} is out of range; expected 1 <= k <= E = ${E}`);
  if (k === E) return mul(sum(noise.clean), 0);
  const [top] = topK(noise.noisy, k + 1);
  const thresholdIfIn = slice(top, [0, k], [T, k + 1]);
  const thresholdIfOut = slice(top, [0, k - 1], [T, k]);
  const isIn = greater(noise.noisy, thresholdIfIn);
  const probIfIn = normalCdf(div(sub(noise.clean, thresholdIfIn), noise.std));
  const probIfOut = normalCdf(div(sub(noise.clean, thresholdIfOut), noise.std));
  return cvSquared(sum(where(isIn, probIfIn, probIfOut), 0));
}

/**
 * The Switch Transformer auxiliary loss (Fedus et al. 2021):
 * `E · Σ_e f_e P_e`, where `f_e` is the fraction of (unmasked) assignments
 * routed to expert e and `P_e = mean_t probs[t, e]` the mean router
 * probability. Equals 1 when routing is uniform; only `P` carries gradient.
 * @example const L = switchLoss(routing.probs!, routing.experts);
 */
export function switchLoss(probs: Tensor, experts: Tensor, mask?: Tensor): Tensor {
  const n = new Map<string, Dim>();
  const E = checkTokenShape(probs, ["T", null], "switchLoss", "probs [T, E]", n)[1] as number;
  checkTokenShape(experts, ["T", null], "switchLoss", "experts [T, k]", n);
  if (experts.dtype !== "i32")
    throw new MoeConfigError(`switchLoss: experts must be i32 expert indices, got ${experts.dtype}`);
  let hot = oneHot(experts, E, probs.dtype); // [T, k, E]
  if (mask) hot = mul(hot, expandDims(cast(mask, probs.dtype), 2));
  const counts = sum(hot, [0, 1]);
  const f = stopGradient(div(counts, sum(counts)));
  return mul(sum(mul(f, mean(probs, 0))), E);
}

/**
 * The ST-MoE router z-loss (Zoph et al. 2022): `mean_t (logsumexp_e logits[t, e])²`,
 * which keeps router logits small for numerical stability.
 * @example const L = routerZLoss(routing.logits!);
 */
export function routerZLoss(logits: Tensor): Tensor {
  checkTokenShape(logits, [null, null], "routerZLoss", "logits [T, E]");
  return mean(square(logsumexp(logits, 1)));
}

/**
 * One step of auxiliary-loss-free load balancing (Wang et al. 2024,
 * "Auxiliary-Loss-Free Load Balancing Strategy for Mixture-of-Experts";
 * DeepSeek-V3): `b_e ← b_e + u · sign(mean(load) - load_e)`. The bias is
 * added to the routing scores for expert *selection only* (pass it as
 * `selectionBias` to `topKGate`); it is state updated between steps, not a
 * parameter trained by gradient.
 * @example bias = lossFreeBiasUpdate(bias, report.expertCounts, 1e-3);
 */
export function lossFreeBiasUpdate(bias: Tensor, expertCounts: Tensor, rate: number): Tensor {
  checkFloat(bias, "lossFreeBiasUpdate", "bias");
  const [E] = checkShape(bias, [null], "lossFreeBiasUpdate", "bias [E]");
  checkShape(expertCounts, [E!], "lossFreeBiasUpdate", "expertCounts [E]");
  checkPositive(rate, "lossFreeBiasUpdate", "rate");
  const load = cast(stopGradient(expertCounts), bias.dtype);
  return add(bias, mul(sign(sub(mean(load), load)), rate));
}
