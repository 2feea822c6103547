/** Soft MoE dispatch and combine weights (Puigcerver et al. 2023). */
import { matmul, softmax, type Tensor } from "../../core";
import { MoeConfigError, checkInt } from "../check";
import type { Gate, SoftRouting } from "./gate";
import { initRouter, routerDims } from "./types";

/** Soft MoE router: `phi` [D, E·p], one column per slot (p slots per expert). */
export interface SoftRouterParams {
  readonly phi: Tensor;
}

/** Dispatch and combine weights of soft MoE, both [T, S] with S = E·p slots. */
export interface SoftMoeWeights {
  /** Softmax over tokens (axis 0): column s mixes the tokens into slot s. */
  readonly dispatch: Tensor;
  /** Softmax over slots (axis 1): row t mixes the slot outputs into token t. */
  readonly combine: Tensor;
  readonly logits: Tensor;
}

/**
 * Soft MoE weights (Puigcerver et al. 2023, "From Sparse to Soft Mixtures of
 * Experts"): with logits `L = x Φ` [T, S], the dispatch weights
 * `D = softmax(L, over tokens)` make each slot a convex combination of tokens,
 * `x̃ = Dᵀ x`, and the combine weights `C = softmax(L, over slots)` make each
 * output a convex combination of slot outputs, `y = C ỹ`. Fully
 * differentiable; no token is dropped.
 * @example const { dispatch, combine } = softMoeWeights({ phi }, x, { numExperts: 4, slotsPerExpert: 2 });
 */
export function softMoeWeights(
  router: SoftRouterParams,
  x: Tensor,
  options: { readonly numExperts: number; readonly slotsPerExpert: number },
): SoftMoeWeights {
  const E = checkInt(options.numExperts, "softMoeWeights", "numExperts");
  const p = checkInt(options.slotsPerExpert, "softMoeWeights", "slotsPerExpert");
  const S = routerDims(router?.phi, x, "softMoeWeights", "phi")[2];
  if (S !== E * p)
    throw new MoeConfigError(`softMoeWeights: phi has ${S} slot columns, expected E·p = ${E}·${p} = ${E * p}`);
  const logits = matmul(x, router.phi);
  return { dispatch: softmax(logits, 0), combine: softmax(logits, 1), logits };
}

/** The layer's `gate` config of soft MoE with `slotsPerExpert` slots per expert. */
export interface SoftGateConfig {
  readonly type: "soft";
  readonly slotsPerExpert: number;
}

/** Soft MoE in an MoE layer: every token reaches every slot, so nothing is dropped and there is no balancing loss. */
export const softGateDef: Gate<SoftGateConfig, SoftRouterParams, SoftRouting> = {
  validate: (config, _E, where) => void checkInt(config.slotsPerExpert, `${where} (soft gate)`, "slotsPerExpert"),
  k: () => undefined,
  routerShape: "{ phi }",
  initRouter: (config, key, D, E, dtype) => ({ phi: initRouter(key, D, E * config.slotsPerExpert, dtype).w }),
  route: (config, router, x, _ctx, E) => {
    const w = softMoeWeights(router, x, { numExperts: E, slotsPerExpert: config.slotsPerExpert });
    return {
      kind: "soft",
      numExperts: E,
      slotsPerExpert: config.slotsPerExpert,
      dispatch: w.dispatch,
      combine: w.combine,
    };
  },
  losses: {},
};
