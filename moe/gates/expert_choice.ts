/** Expert-choice routing (Zhou et al. 2022). */
import { softmax, topK, transpose, type Tensor } from "../../core";
import { MoeConfigError, checkPositive } from "../check";
import { routerLogits, type ExpertChoice, type RouterParams } from "./types";

/**
 * Tokens per expert under expert choice: `c = ceil(T · capacityFactor / E)`
 * (Zhou et al. 2022: k = n·c/e), so on average each token is processed by
 * `capacityFactor` experts.
 * @example expertChoiceCapacity(16, 4, 2) // 8
 */
export function expertChoiceCapacity(numTokens: number, numExperts: number, capacityFactor: number): number {
  checkPositive(capacityFactor, "expertChoiceCapacity", "capacityFactor");
  const c = Math.ceil((numTokens * capacityFactor) / numExperts - 1e-9);
  if (c > numTokens) {
    throw new MoeConfigError(
      `expert choice: capacityFactor = ${capacityFactor} gives ${c} tokens per expert but there are only T = ${numTokens} tokens; expected capacityFactor <= E = ${numExperts}`,
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
  const [T, E] = logits.shape as [number, number];
  const c = expertChoiceCapacity(T, E, options.capacityFactor);
  const probs = softmax(logits);
  const [weights, tokens] = topK(transpose(probs), c);
  return { kind: "expertChoice", numExperts: E, tokens, weights, logits, probs };
}
