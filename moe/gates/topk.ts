/** The dense softmax gate and the top-k gate (with optional selection bias for auxiliary-loss-free balancing). */
import { add, arange, broadcastTo, gather, reshape, softmax, stopGradient, topK, type Tensor } from "../../core";
import { checkShape } from "../check";
import { checkK, routerLogits, type RouterParams, type TokenChoice } from "./types";

/**
 * The softmax gate of a dense mixture (Jacobs et al. 1991): every token uses
 * every expert with weight `g = softmax(x W)`. Returned as a token choice
 * with k = E (experts in index order), so it runs through the same dispatch.
 * `probs` holds the [T, E] gate matrix.
 * @example const { probs } = softmaxGate({ w }, x); // rows sum to 1
 */
export function softmaxGate(router: RouterParams, x: Tensor): TokenChoice {
  const logits = routerLogits(router, x, "softmaxGate");
  const [T, E] = logits.shape as [number, number];
  const probs = softmax(logits);
  const experts = broadcastTo(reshape(arange(E), [1, E]), [T, E]);
  return { kind: "tokenChoice", numExperts: E, experts, weights: probs, logits, probs };
}

/** Options of the top-k gate. */
export interface TopKGateOptions {
  /** Experts per token, 1 <= k <= E. */
  readonly k: number;
  /**
   * true (default): weights are a softmax over the k kept logits (Shazeer et al. 2017, Mixtral);
   * false: weights are the full softmax probabilities of the kept experts (Switch, GShard), summing to <= 1.
   */
  readonly renormalize?: boolean;
  /**
   * [E]: a per-expert bias added to the routing scores for *selection only*
   * (auxiliary-loss-free balancing, Wang et al. 2024); the weights ignore it and no gradient reaches it.
   */
  readonly selectionBias?: Tensor;
}

/**
 * Top-k gate: token t goes to the k experts with the largest router logits,
 * ties to the lower index. With `renormalize`:
 * `w_t = softmax(topk(x_t W))`; otherwise `w_t = softmax(x_t W)[topk]`.
 * Gradients reach the router through the kept weights only.
 * @example const r = topKGate({ w }, x, { k: 2 }); // r.experts i32 [T, 2], r.weights [T, 2]
 */
export function topKGate(router: RouterParams, x: Tensor, options: TopKGateOptions): TokenChoice {
  const logits = routerLogits(router, x, "topKGate");
  const E = logits.shape[1] as number;
  const k = checkK(options.k, E, "topKGate");
  const probs = softmax(logits);
  let scores = logits;
  if (options.selectionBias !== undefined) {
    checkShape(options.selectionBias, [E], "topKGate", "selectionBias");
    // DeepSeek-V3 adds the bias to the affinity scores (here the probabilities) to pick experts.
    scores = add(stopGradient(probs), stopGradient(options.selectionBias));
  }
  const [, experts] = topK(scores, k);
  const weights = options.renormalize === false ? gather(probs, experts, 1) : softmax(gather(logits, experts, 1));
  return { kind: "tokenChoice", numExperts: E, experts, weights, logits, probs };
}
