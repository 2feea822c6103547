/**
 * A Mixtral-style MoE FFN (Jiang et al. 2024) with a shared expert
 * (DeepSeekMoE style): top-2 routing, softmax over the two chosen logits,
 * SwiGLU experts (w2 (silu(x w1) * (x w3))), plus one dense SwiGLU expert
 * every token uses. Dropless. Each of the k routing slots is dispatched as its
 * own expert-sorted batch of T rows, so every buffer is sized by T alone.
 *
 *   moeforge compile examples/mixtral.ts --export mixtralLayer --dims T=dynamic,D=16,H=32,E=4 --target wgsl,cuda --grad --out out/mixtral
 */
import {
  argsort,
  bincount,
  matmul,
  raggedMatmul,
  scatterAdd,
  silu,
  softmax,
  squeeze,
  take,
  tensor,
  topK,
  zerosLike,
  type Tensor,
} from "moeforge";

export interface SwiGluBank {
  w1: Tensor; // [E, D, H] gate projection
  w3: Tensor; // [E, D, H] up projection
  w2: Tensor; // [E, H, D] down projection
}

export interface MixtralParams {
  router: Tensor; // [D, E]
  experts: SwiGluBank;
  shared: { w1: Tensor; w3: Tensor; w2: Tensor }; // [D, H], [D, H], [H, D]
}

/** Experts per token. */
export const TOP_K = 2;

export const mixtralLayerInputs = {
  params: {
    router: ["D", "E"],
    experts: { w1: ["E", "D", "H"], w3: ["E", "D", "H"], w2: ["E", "H", "D"] },
    shared: { w1: ["D", "H"], w3: ["D", "H"], w2: ["H", "D"] },
  },
  x: ["T", "D"],
};

function swiGlu(x: Tensor, w1: Tensor, w3: Tensor, w2: Tensor): Tensor {
  return matmul(silu(matmul(x, w1)).mul(matmul(x, w3)), w2);
}

/** x [T, D] -> shared expert + Σ over the top-2 experts of weight * SwiGLU expert [T, D]. */
export function mixtralLayer(params: MixtralParams, x: Tensor): Tensor {
  const experts = params.router.shape[1] as number;
  const [logits, chosen] = topK(matmul(x, params.router), TOP_K); // [T, 2]
  const weights = softmax(logits, -1); // renormalised over the chosen experts
  let y = swiGlu(x, params.shared.w1, params.shared.w3, params.shared.w2);
  for (let slot = 0; slot < TOP_K; slot++) {
    const pick = tensor([slot], [1], "i32");
    const expert = squeeze(take(chosen, pick, 1), 1);
    const weight = take(weights, pick, 1); // [T, 1]
    const order = argsort(expert);
    const groupSizes = bincount(expert, experts);
    const xs = take(x, order);
    const { w1, w3, w2 } = params.experts;
    const hidden = silu(raggedMatmul(xs, w1, groupSizes)).mul(raggedMatmul(xs, w3, groupSizes));
    const out = raggedMatmul(hidden, w2, groupSizes).mul(take(weight, order));
    y = y.add(scatterAdd(zerosLike(x), order, out));
  }
  return y;
}
