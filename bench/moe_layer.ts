/**
 * The benchmark MoE layer, written with the public ops only: a top-2 router
 * (softmax + topK), dropless dispatch (stable argsort of the token slots by
 * expert, per-expert counts by bincount, rows gathered by take), SwiGLU experts
 * as grouped GEMMs (raggedMatmul), and a deterministic weighted combine
 * (scatterAdd back to tokens).
 */
import {
  dims,
  arange,
  argsort,
  bincount,
  broadcastTo,
  matmul,
  mul,
  raggedMatmul,
  reshape,
  scatterAdd,
  silu,
  softmax,
  spec,
  sum,
  square,
  take,
  topK,
  trace,
  vjpProgram,
  zeros,
  type Dim,
  type Program,
  type Tensor,
} from "../index";
import { mulberry32, randomFloats } from "../testing/random_programs";

export interface MoeConfig {
  readonly T: number;
  readonly D: number;
  readonly H: number;
  readonly E: number;
  readonly K: number;
}

/** The benchmark size: T=1024 tokens, D=256, H=512, E=8 experts, top-2. */
export const BENCH_MOE: MoeConfig = { T: 1024, D: 256, H: 512, E: 8, K: 2 };

/**
 * Dropless sparse dispatch of x [T, D] by top-K routing (`weights`, `experts`: [T, K]):
 * the T*K token slots in expert order (a stable argsort), per-expert row counts
 * (bincount), the rows gathered by expert; `combine` scatters the experts'
 * outputs [T*K, D'] back to tokens, each weighted by its gate.
 */
export function sparseDispatch(
  x: Tensor,
  weights: Tensor,
  experts: Tensor,
  E: number,
): { rows: Tensor; groupSizes: Tensor; combine(y: Tensor): Tensor } {
  const [T, K] = experts.shape as [Dim, number];
  const TK = dims.mul(T, K);
  const slotExpert = reshape(experts, [TK]);
  const order = argsort(slotExpert); // token slots in expert order (stable)
  const slotToken = reshape(broadcastTo(reshape(arange(T), [T, 1]), [T, K]), [TK]);
  const tokenOf = take(slotToken, order);
  const groupSizes = bincount(slotExpert, E);
  const rows = take(x, tokenOf); // [T*K, D], grouped by expert
  const combine = (y: Tensor) => {
    const gate = reshape(take(reshape(weights, [TK]), order), [TK, 1]);
    return scatterAdd(zeros([T, y.shape[1]!]), tokenOf, mul(y, gate));
  };
  return { rows, groupSizes, combine };
}

/** One MoE FFN layer: x [T, D] -> [T, D]; T is x's leading dim (a size, or a named dim traced once for every T). */
export function moeLayer(cfg: MoeConfig, x: Tensor, router: Tensor, wGate: Tensor, wUp: Tensor, wDown: Tensor): Tensor {
  const [weights, experts] = topK(softmax(matmul(x, router)), cfg.K); // [T, K]
  const { rows, groupSizes, combine } = sparseDispatch(x, weights, experts, cfg.E);
  const hidden = mul(silu(raggedMatmul(rows, wGate, groupSizes)), raggedMatmul(rows, wUp, groupSizes));
  return combine(raggedMatmul(hidden, wDown, groupSizes)); // [T*K, D] back to [T, D]
}

/**
 * Forward program (the layer) and its loss: sum(y^2) / 2 for the backward pass.
 * `T` defaults to the config's size; pass a name ("T") to trace once for every token count.
 */
export function moePrograms(cfg: MoeConfig, T: Dim = cfg.T): { forward: Program; loss: Program; gradient: Program } {
  const { D, H, E } = cfg;
  const specs = [spec([T, D]), spec([D, E]), spec([E, D, H]), spec([E, D, H]), spec([E, H, D])];
  const f = (...a: Tensor[]) => moeLayer(cfg, a[0]!, a[1]!, a[2]!, a[3]!, a[4]!);
  const forward = trace(f, ...specs);
  const loss = trace((...a: Tensor[]) => mul(sum(square(f(...a))), 0.5), ...specs);
  const gradient = vjpProgram(loss);
  return { forward, loss, gradient };
}

/** Random inputs for the layer (weights scaled by 1/sqrt(fan-in)). */
export function moeInputs(cfg: MoeConfig, seed = 1): Tensor[] {
  const { T, D, H, E } = cfg;
  const rng = mulberry32(seed);
  return [
    randomFloats(rng, "f32", [T, D]),
    randomFloats(rng, "f32", [D, E], 1 / Math.sqrt(D)),
    randomFloats(rng, "f32", [E, D, H], 1 / Math.sqrt(D)),
    randomFloats(rng, "f32", [E, D, H], 1 / Math.sqrt(D)),
    randomFloats(rng, "f32", [E, H, D], 1 / Math.sqrt(H)),
  ];
}
