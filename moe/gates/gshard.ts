/** GShard top-2 gating with a randomly kept second expert (Lepikhin et al. 2020). */
import { concat, div, less, mul, ones, random, slice, softmax, sum, topK, type Tensor } from "../../core";
import { MoeConfigError } from "../check";
import { routerLosses, type Gate } from "./gate";
import { checkK, initRouter, routerLogits, type RouterParams, type TokenChoice } from "./types";

/** Options of the GShard top-2 gate. */
export interface GshardTop2Options {
  /** Random key deciding whether each token's second expert is used; omit to always use it (evaluation). */
  readonly key?: Tensor;
}

/**
 * GShard top-2 gating (Lepikhin et al. 2020, Algorithm 1): with `g = softmax(x W)`,
 * the best expert e1 is always used and the second-best e2 is used with
 * probability `min(1, 2 g2')`, proportional to its weight, where
 * `g1' = g1 / (g1 + g2)` and `g2' = g2 / (g1 + g2)` are the combine weights
 * (not renormalised after the draw). An unused second expert has `mask` false
 * and takes no expert capacity.
 * @example const r = gshardTop2Gate({ w }, x, { key: random.key(3) }); // r.mask bool [T, 2]
 */
export function gshardTop2Gate(router: RouterParams, x: Tensor, options: GshardTop2Options = {}): TokenChoice {
  const logits = routerLogits(router, x, "gshardTop2Gate");
  const [T, E] = logits.shape as [number, number];
  checkK(2, E, "gshardTop2Gate");
  const probs = softmax(logits);
  const [top, experts] = topK(probs, 2);
  const weights = div(top, sum(top, 1, true));
  const routing: TokenChoice = { kind: "tokenChoice", numExperts: E, experts, weights, logits, probs };
  if (options.key === undefined) return routing;
  // g2' <= 1/2, so 2 g2' is a probability.
  const keepSecond = less(
    random.uniform(options.key, [T, 1], { dtype: x.dtype }),
    mul(slice(weights, [0, 1], [T, 2]), 2),
  );
  return { ...routing, mask: concat([ones([T, 1], "bool"), keepSecond], 1) };
}

/** The layer's `gate` config of GShard top-2 with a sampled second expert; pass `ctx.key` when training. */
export interface GshardTop2GateConfig {
  readonly type: "gshardTop2";
}

/** The GShard top-2 gate in an MoE layer. */
export const gshardTop2GateDef: Gate<GshardTop2GateConfig, RouterParams, TokenChoice> = {
  validate: (_config, E, where) => {
    if (E < 2) throw new MoeConfigError(`${where}: gshardTop2 needs at least 2 experts, got E = ${E}`);
  },
  k: () => 2,
  routerShape: "{ w }",
  initRouter: (_config, key, D, E, dtype) => initRouter(key, D, E, dtype),
  route: (_config, router, x, ctx) => gshardTop2Gate(router, x, ctx.key ? { key: ctx.key } : {}),
  losses: routerLosses,
};
