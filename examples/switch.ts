/**
 * A Switch Transformer MoE FFN (Fedus et al. 2021): top-1 routing with a
 * capacity factor. Each token goes to its most probable expert, scaled by that
 * probability; an expert keeps its first ceil(capacityFactor * T / E) tokens
 * (in token order) and the rest are dropped: they pass through unchanged on
 * the residual path. One trace serves every T ("T" stays symbolic).
 *
 *   moeforge compile examples/switch.ts --export switchLayer --dims T=dynamic,D=16,H=32,E=4 --target wgsl,cuda --grad --out out/switch
 */
import {
  argsort,
  bincount,
  cumsum,
  less,
  matmul,
  max,
  oneHot,
  raggedMatmul,
  scatterAdd,
  softmax,
  sum,
  take,
  where,
  zerosLike,
  argmax,
  type Tensor,
} from "moeforge";

export interface SwitchParams {
  router: Tensor; // [D, E]
  w1: Tensor; // [E, D, H]
  w2: Tensor; // [E, H, D]
}

/** Tokens an expert may take, as a multiple of an even share (T / E). */
export const CAPACITY_FACTOR = 1.25;

/** The shapes `moeforge compile` traces `switchLayer` with; names are bound by --dims. */
export const switchLayerInputs = {
  params: { router: ["D", "E"], w1: ["E", "D", "H"], w2: ["E", "H", "D"] },
  x: ["T", "D"],
};

/** x [T, D] -> x + the routed expert's output [T, D] (dropped tokens: x). */
export function switchLayer(params: SwitchParams, x: Tensor): Tensor {
  const experts = params.router.shape[1] as number;
  const probs = softmax(matmul(x, params.router)); // [T, E]
  const expert = argmax(probs, -1); // [T] i32
  const gate = max(probs, -1); // [T]
  // Position of each token in its expert's queue (0-based, token order) and the capacity test.
  const routed = oneHot(expert, experts); // [T, E]
  const position = sum(cumsum(routed, 0).mul(routed), -1).sub(1); // [T]
  const tokens = sum(routed); // T, as a number the kernels compute
  const kept = less(position, tokens.mul(CAPACITY_FACTOR / experts));
  const weight = where(kept, gate, 0).expandDims(-1);
  // Dispatch: tokens in expert order, one contiguous group per expert.
  const order = argsort(expert);
  const groupSizes = bincount(expert, experts);
  const hidden = raggedMatmul(take(x, order), params.w1, groupSizes).relu();
  const out = raggedMatmul(hidden, params.w2, groupSizes);
  // Combine: each token's expert output, weighted, scattered back to its row (deterministic).
  return x.add(scatterAdd(zerosLike(x), order, out.mul(take(weight, order))));
}
