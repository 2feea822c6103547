/** The dense softmax gate and the top-k gate (with optional selection bias for auxiliary-loss-free balancing). */
import { add, arange, broadcastTo, gather, reshape, softmax, stopGradient, topK, type Tensor } from "../../core";
import { MoeConfigError, checkInt, checkShape } from "../check";
import { routerLosses, type Gate } from "./gate";
import { checkK, initRouter, routerLogits, type RouterParams, type TokenChoice } from "./types";

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

/** The layer's `gate` config of the dense softmax gate: every expert, weights softmax(x W) (classical mixtures). */
export interface SoftmaxGateConfig {
  readonly type: "softmax";
}

/** The layer's `gate` config of the top-k gate (Switch: k = 1, renormalize false; Mixtral: k = 2, renormalize true). */
export interface TopKGateConfig {
  readonly type: "topK";
  readonly k: number;
  readonly renormalize?: boolean;
}

/** Checks a configured k against E (token-choice gates with a k field). */
export function checkConfigK(config: { readonly type: string; readonly k: number }, E: number, where: string): void {
  checkInt(config.k, `${where} (${config.type} gate)`, "k");
  if (config.k > E)
    throw new MoeConfigError(`${where}: k = ${config.k} exceeds the number of experts E = ${E}; expected 1 <= k <= E`);
}

/** The softmax gate in an MoE layer. */
export const softmaxGateDef: Gate<SoftmaxGateConfig, RouterParams, TokenChoice> = {
  validate: () => {},
  k: (_config, E) => E,
  routerShape: "{ w }",
  initRouter: (_config, key, D, E, dtype) => initRouter(key, D, E, dtype),
  route: (_config, router, x) => softmaxGate(router, x),
  losses: routerLosses,
};

/** The top-k gate in an MoE layer (`ctx.selectionBias` for auxiliary-loss-free balancing). */
export const topKGateDef: Gate<TopKGateConfig, RouterParams, TokenChoice> = {
  validate: checkConfigK,
  k: (config) => config.k,
  routerShape: "{ w }",
  initRouter: (_config, key, D, E, dtype) => initRouter(key, D, E, dtype),
  route: (config, router, x, ctx) =>
    topKGate(router, x, {
      k: config.k,
      ...(config.renormalize !== undefined ? { renormalize: config.renormalize } : {}),
      ...(ctx.selectionBias ? { selectionBias: ctx.selectionBias } : {}),
    }),
  losses: routerLosses,
};
