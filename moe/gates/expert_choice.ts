/** Expert-choice routing (Zhou et al. 2022). */
import { argsort, dims, gather, slice, softmax, topK, transpose, type Dim, type Tensor } from "../../core";
import { MoeConfigError, checkPositive } from "../check";
import { rational } from "../util";
import { routerLosses, type Gate } from "./gate";
import { initRouter, routerLogits, type ExpertChoice, type RouterParams } from "./types";

/**
 * Tokens per expert under expert choice: `c = ceil(T · capacityFactor / E)`
 * (Zhou et al. 2022: k = n·c/e), so on average each token is processed by
 * `capacityFactor` experts.
 * With a symbolic T, c is the expression `min(T, ceilDiv(p·T, q·E))` for
 * the factor p/q (capacityFactor <= E, so it never exceeds T).
 * @example expertChoiceCapacity(16, 4, 2) // 8
 * @example expertChoiceCapacity("T", 4, 2) // ceilDiv(T,2)
 */
export function expertChoiceCapacity(numTokens: number, numExperts: number, capacityFactor: number): number;
export function expertChoiceCapacity(numTokens: Dim, numExperts: number, capacityFactor: number): Dim;
export function expertChoiceCapacity(numTokens: Dim, numExperts: number, capacityFactor: number): Dim {
  checkPositive(capacityFactor, "expertChoiceCapacity", "capacityFactor");
  if (typeof numTokens !== "number") {
    if (capacityFactor > numExperts)
      throw new MoeConfigError(
        `expert choice: capacityFactor = ${capacityFactor} exceeds E = ${numExperts}, so c would exceed T tokens; expected capacityFactor <= E`,
      );
    const [p, q] = rational(capacityFactor, "expertChoiceCapacity");
    return dims.min(numTokens, dims.ceilDiv(dims.mul(p, numTokens), q * numExperts));
  }
  const c = Math.ceil((numTokens * capacityFactor) / numExperts - 1e-9);
  if (c > numTokens) {
    throw new MoeConfigError(
      `expert choice: capacityFactor = ${capacityFactor} gives ${c} tokens per expert but there are only T = ` +
        `${numTokens} tokens; expected capacityFactor <= E = ${numExperts}`,
    );
  }
  return Math.max(c, 1);
}

/**
 * Expert-choice routing (Zhou et al. 2022, "Mixture-of-Experts with Expert
 * Choice Routing"): with token-to-expert scores `S = softmax(x W)` [T, E]
 * (softmax over experts), each expert e takes the c tokens with the largest
 * `S[:, e]` and weights them by those scores. Every expert is exactly full;
 * a token may get several experts or none.
 * @example const r = expertChoiceGate({ w }, x, { capacityFactor: 2 }); // r.tokens i32 [E, c]
 */
export function expertChoiceGate(
  router: RouterParams,
  x: Tensor,
  options: { readonly capacityFactor: number },
): ExpertChoice {
  const logits = routerLogits(router, x, "expertChoiceGate");
  const [T, E] = logits.shape as [Dim, number];
  const c = expertChoiceCapacity(T, E, options.capacityFactor);
  const probs = softmax(logits);
  const scores = transpose(probs); // [E, T]
  if (typeof c === "number") {
    const [weights, tokens] = topK(scores, c);
    return { kind: "expertChoice", numExperts: E, tokens, weights, logits, probs };
  }
  // topK's k sizes its output, so it must be concrete; with a symbolic T each expert's c best
  // tokens are the first c of a stable descending argsort (the same ties: lower index first).
  const tokens = slice(argsort(scores, 1, true), [0, 0], [E, c]);
  return { kind: "expertChoice", numExperts: E, tokens, weights: gather(scores, tokens, 1), logits, probs };
}

/** The layer's `gate` config of expert choice: each expert takes ceil(T · capacityFactor / E) tokens. */
export interface ExpertChoiceGateConfig {
  readonly type: "expertChoice";
  readonly capacityFactor: number;
}

/** The expert-choice gate in an MoE layer (no token-choice capacity: it sets its own). */
export const expertChoiceGateDef: Gate<ExpertChoiceGateConfig, RouterParams, ExpertChoice> = {
  validate: (config, E, where) => {
    checkPositive(config.capacityFactor, `${where} (expertChoice gate)`, "capacityFactor");
    if (config.capacityFactor > E)
      throw new MoeConfigError(
        `${where}: expert-choice capacityFactor = ${config.capacityFactor} exceeds E = ${E}; an expert cannot take more than all tokens`,
      );
  },
  k: () => undefined,
  routerShape: "{ w }",
  initRouter: (_config, key, D, E, dtype) => initRouter(key, D, E, dtype),
  route: (config, router, x) => expertChoiceGate(router, x, { capacityFactor: config.capacityFactor }),
  losses: { zLoss: routerLosses.zLoss },
};
