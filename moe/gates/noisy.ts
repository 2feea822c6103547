/** Noisy top-k gating (Shazeer et al. 2017). */
import { add, matmul, mul, random, softmax, softplus, topK, zeros, type Tensor } from "../../core";
import { MoeConfigError } from "../check";
import { loadLoss } from "../losses";
import { routerLosses, type Gate } from "./gate";
import { checkConfigK } from "./topk";
import { checkK, initRouter, routerDims, type TokenChoice } from "./types";

/** A noisy router: `w` [D, E] for the clean logits, `wNoise` [D, E] for the learned noise scale. */
export interface NoisyRouterParams {
  readonly w: Tensor;
  readonly wNoise: Tensor;
}

/** Options of the noisy top-k gate. */
export interface NoisyTopKOptions {
  readonly k: number;
  /** Random key for the noise; omit at evaluation time to gate on the clean logits. */
  readonly key?: Tensor;
}

/**
 * Noisy top-k gating (Shazeer et al. 2017, "Outrageously Large Neural
 * Networks"): `H(x) = x W_g + ε ⊙ softplus(x W_noise)`, ε ~ N(0, 1);
 * `G(x) = softmax(KeepTopK(H(x), k))`, i.e. a softmax over the k kept noisy
 * logits. The noise scale is learned through `W_noise`; the clean logits,
 * noisy logits and noise scale are returned in `noise` for the load loss.
 * @example const r = noisyTopKGate({ w, wNoise }, x, { k: 2, key: random.key(1) });
 */
export function noisyTopKGate(router: NoisyRouterParams, x: Tensor, options: NoisyTopKOptions): TokenChoice {
  if (router === null || typeof router !== "object")
    throw new MoeConfigError(`noisyTopKGate: router params must be { w, wNoise }, got ${String(router)}`);
  const [T, , E] = routerDims(router.w, x, "noisyTopKGate", "w");
  const [, , En] = routerDims(router.wNoise, x, "noisyTopKGate", "wNoise");
  if (En !== E)
    throw new MoeConfigError(`noisyTopKGate: wNoise has ${En} experts, w has ${E}; expected equal shapes [D, E]`);
  const k = checkK(options.k, E, "noisyTopKGate");
  const clean = matmul(x, router.w);
  const std = softplus(matmul(x, router.wNoise));
  const noisy = options.key === undefined ? clean : add(clean, mul(random.normal(options.key, [T, E], x.dtype), std));
  const [kept, experts] = topK(noisy, k);
  return {
    kind: "tokenChoice",
    numExperts: E,
    experts,
    weights: softmax(kept),
    logits: noisy,
    probs: softmax(noisy),
    noise: { clean, noisy, std },
  };
}

/** The layer's `gate` config of noisy top-k (Shazeer et al. 2017); pass `ctx.key` when training. */
export interface NoisyTopKGateConfig {
  readonly type: "noisyTopK";
  readonly k: number;
}

/** The noisy top-k gate in an MoE layer: the noise weights start at zero; it alone supports the load loss. */
export const noisyTopKGateDef: Gate<NoisyTopKGateConfig, NoisyRouterParams, TokenChoice> = {
  validate: checkConfigK,
  k: (config) => config.k,
  routerShape: "{ w, wNoise }",
  initRouter: (_config, key, D, E, dtype) => ({ w: initRouter(key, D, E, dtype).w, wNoise: zeros([D, E], dtype) }),
  route: (config, router, x, ctx) => noisyTopKGate(router, x, { k: config.k, ...(ctx.key ? { key: ctx.key } : {}) }),
  losses: {
    ...routerLosses,
    // loadLoss names what is missing if a routing carries no noise terms.
    load: (r) => loadLoss(r.noise!, r.experts.shape[1] as number),
  },
};
