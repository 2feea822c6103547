/**
 * Dense use of a set of experts: every expert on every token. Classical
 * mixtures (meta-pi, local experts, EM) need all E outputs or likelihoods;
 * shared experts (DeepSeekMoE) are experts that every token always uses.
 */
import { reshape, sum, type Dim, type Tensor } from "../../core";
import { MoeConfigError } from "../check";
import { tile } from "../util";
import { uniformGroups, type Experts, type ProbabilisticExperts } from "./types";

function checkRows(x: Tensor, dIn: number | undefined, where: string): Dim {
  if (x.shape.length !== 2) throw new MoeConfigError(`${where}: x must be [T, dIn], got rank ${x.shape.length}`);
  if (dIn !== undefined && x.shape[1] !== dIn)
    throw new MoeConfigError(`${where}: x has ${String(x.shape[1])} features, the experts expect dIn = ${dIn}`);
  return x.shape[0]!; // the token count: concrete or symbolic
}

/**
 * Every expert applied to every token: `x` [T, dIn] -> [E, T, dOut]
 * (one grouped GEMM over E copies of x).
 * @example const all = applyEveryExpert(linearExperts, params, x); // [E, T, dOut]
 */
export function applyEveryExpert<P>(experts: Experts<P>, params: P, x: Tensor): Tensor {
  const where = `applyEveryExpert(${experts.name})`;
  const { numExperts, dIn, dOut } = experts.dims(params, where);
  const T = checkRows(x, dIn, where);
  return reshape(experts.apply(params, tile(x, numExperts), uniformGroups(numExperts, T)), [numExperts, T, dOut]);
}

/**
 * Every expert's log-likelihood of every example: `log p(y_t | x_t, e)` as [E, T].
 * @example const ll = everyExpertLogLikelihood(linearGaussianExperts, params, x, y);
 */
export function everyExpertLogLikelihood<P>(experts: ProbabilisticExperts<P>, params: P, x: Tensor, y: Tensor): Tensor {
  const where = `everyExpertLogLikelihood(${experts.name})`;
  const { numExperts, dIn } = experts.dims(params, where);
  const T = checkRows(x, dIn, where);
  if (y.shape[0] !== T) throw new MoeConfigError(`${where}: y has ${String(y.shape[0])} rows, x has ${String(T)}`);
  const ll = experts.logLikelihood(params, tile(x, numExperts), tile(y, numExperts), uniformGroups(numExperts, T));
  return reshape(ll, [numExperts, T]);
}

/**
 * Shared experts (DeepSeekMoE, Dai et al. 2024; NLLB-MoE): experts that every
 * token uses beside its routed ones; their outputs add up:
 * `y_shared(x) = Σ_s expert_s(x)`.
 * @example const y = add(routedOut, sharedExpertsOutput(ffnExperts, params.shared, x));
 */
export function sharedExpertsOutput<P>(experts: Experts<P>, params: P, x: Tensor): Tensor {
  return sum(applyEveryExpert(experts, params, x), 0);
}
