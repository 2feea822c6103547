/**
 * Probabilistic experts, each with a likelihood p(y | x, expert):
 * fixed-mean Gaussians, linear-Gaussian experts with a learned diagonal
 * covariance, logistic (binary) and multinomial logistic experts. `apply`
 * returns the expert's prediction (mean or class probabilities), so these
 * experts also work inside an ordinary MoE layer.
 */
import {
  exp,
  logSoftmax,
  mul,
  neg,
  random,
  sigmoid,
  softmax,
  softplus,
  square,
  sub,
  sum,
  take,
  zeros,
  add,
  type Tensor,
} from "../../core";
import { checkInt, checkShape } from "../check";
import { affineDims, initAffine, type AffineExpertParams } from "./affine";
import { groupedLinear, type ExpertDims, type ProbabilisticExperts } from "./types";

const LOG_2PI = Math.log(2 * Math.PI);

/** Parameters of E fixed-mean Gaussian experts: `mu` [E, dOut]. */
export interface GaussianExpertParams {
  readonly mu: Tensor;
}

/**
 * Gaussian experts with fixed means and unit covariance (Jacobs et al. 1991,
 * "Adaptive mixtures of local experts"): expert e predicts `mu_e` whatever the
 * input, with likelihood `y ~ N(mu_e, I)`:
 * `log p(y | e) = -1/2 |y - mu_e|^2 - dOut/2 log 2π`.
 * @example
 * const p = gaussianExperts.init(random.key(0), { numExperts: 4, dIn: 2, dOut: 2 });
 */
export const gaussianExperts: ProbabilisticExperts<GaussianExpertParams> = {
  name: "gaussianExperts",
  init(key, dims, dtype = "f32") {
    checkInt(dims.numExperts, "gaussianExperts.init", "dims.numExperts");
    checkInt(dims.dOut, "gaussianExperts.init", "dims.dOut");
    return { mu: random.normal(key, [dims.numExperts, dims.dOut], dtype) };
  },
  dims(p, where = "gaussianExperts"): ExpertDims {
    const [E, dOut] = checkShape(p.mu, [null, null], where, "mu");
    return { numExperts: E!, dIn: undefined, dOut: dOut! };
  },
  apply: (p, _x, g) => take(p.mu, g.ids),
  logLikelihood(p, _x, y, g) {
    const d = y.shape[1] as number;
    return sub(mul(sum(square(sub(y, take(p.mu, g.ids))), 1), -0.5), (d / 2) * LOG_2PI);
  },
};

/** Parameters of E linear-Gaussian experts: `a` [E, dIn, dOut], `b` [E, dOut], `logVar` [E, dOut] (diagonal Σ_e). */
export interface LinearGaussianExpertParams {
  readonly a: Tensor;
  readonly b: Tensor;
  readonly logVar: Tensor;
}

/**
 * Linear-Gaussian experts (Jordan & Jacobs 1994, "Hierarchical mixtures of
 * experts and the EM algorithm"): `y ~ N(A_e x + b_e, Σ_e)` with a learned
 * diagonal covariance `Σ_e = diag(exp(logVar_e))`, so each expert reports its
 * own uncertainty:
 * `log p(y | x, e) = -1/2 Σ_j [(y_j - m_j)^2 / σ_j^2 + log σ_j^2 + log 2π]`.
 * @example
 * const p = linearGaussianExperts.init(random.key(0), { numExperts: 3, dIn: 2, dOut: 1 });
 */
export const linearGaussianExperts: ProbabilisticExperts<LinearGaussianExpertParams> = {
  name: "linearGaussianExperts",
  init(key, dims, dtype = "f32") {
    const { w, b } = initAffine(key, dims, dtype, "linearGaussianExperts");
    return { a: w, b, logVar: zeros([dims.numExperts, dims.dOut], dtype) };
  },
  dims(p, where = "linearGaussianExperts"): ExpertDims {
    const bound = new Map<string, number>();
    const dims = affineDims(p.a, p.b, where, { names: ["a", "b"], bound });
    checkShape(p.logVar, ["E", "dOut"], where, "logVar", bound);
    return dims;
  },
  apply: (p, x, g) => groupedLinear(x, p.a, p.b, g),
  logLikelihood(p, x, y, g) {
    const logVar = take(p.logVar, g.ids);
    const r2 = square(sub(y, groupedLinear(x, p.a, p.b, g)));
    return mul(sum(add(add(mul(r2, exp(neg(logVar))), logVar), LOG_2PI), 1), -0.5);
  },
};

/** Parameters of E logistic experts: `w` [E, dIn, 1], `b` [E, 1]. */
export type LogisticExpertParams = AffineExpertParams;

/**
 * Logistic (binary) experts: expert e predicts `P(y = 1 | x) = σ(z)`,
 * `z = x w_e + b_e`; `log p(y | x, e) = y z - softplus(z)` for y in [0, 1].
 * `apply` returns the probability [M, 1].
 * @example
 * const p = logisticExperts.init(random.key(0), { numExperts: 4, dIn: 3, dOut: 1 });
 */
export const logisticExperts: ProbabilisticExperts<LogisticExpertParams> = {
  name: "logisticExperts",
  init: (key, dims, dtype = "f32") => initAffine(key, dims, dtype, "logisticExperts", 1),
  dims: (p, where = "logisticExperts") => affineDims(p.w, p.b, where, { fixedDOut: 1 }),
  apply: (p, x, g) => sigmoid(groupedLinear(x, p.w, p.b, g)),
  logLikelihood(p, x, y, g) {
    const z = groupedLinear(x, p.w, p.b, g);
    return sum(sub(mul(y, z), softplus(z)), 1);
  },
};

/** Parameters of E multinomial logistic experts: `w` [E, dIn, C], `b` [E, C]. */
export type MultinomialExpertParams = AffineExpertParams;

/**
 * Multinomial logistic (softmax) experts over C classes: expert e predicts
 * `softmax(x W_e + b_e)`; `log p(y | x, e) = Σ_c y_c log softmax(z)_c` for
 * one-hot (or soft) targets y [M, C]. `apply` returns the class probabilities.
 * @example
 * const p = multinomialLogisticExperts.init(random.key(0), { numExperts: 4, dIn: 3, dOut: 5 });
 */
export const multinomialLogisticExperts: ProbabilisticExperts<MultinomialExpertParams> = {
  name: "multinomialLogisticExperts",
  init: (key, dims, dtype = "f32") => initAffine(key, dims, dtype, "multinomialLogisticExperts"),
  dims: (p, where = "multinomialLogisticExperts") => affineDims(p.w, p.b, where),
  apply: (p, x, g) => softmax(groupedLinear(x, p.w, p.b, g)),
  logLikelihood: (p, x, y, g) => sum(mul(y, logSoftmax(groupedLinear(x, p.w, p.b, g))), 1),
};
