/** Experts: the interface, deterministic and probabilistic families, and dense (every-expert / shared) use. */
export {
  uniformGroups,
  groupedLinear,
  type Experts,
  type ProbabilisticExperts,
  type ExpertGroups,
  type ExpertDims,
  type ExpertInitDims,
} from "./types";
export {
  linearExperts,
  ffnExperts,
  swigluExperts,
  denseFfn,
  ffnApply,
  type LinearExpertParams,
  type FfnExpertParams,
  type SwigluExpertParams,
  type DenseFfnParams,
} from "./dense";
export {
  gaussianExperts,
  linearGaussianExperts,
  logisticExperts,
  multinomialLogisticExperts,
  type GaussianExpertParams,
  type LinearGaussianExpertParams,
  type LogisticExpertParams,
  type MultinomialExpertParams,
} from "./probabilistic";
export { scaledNormal, initAffine, affineDims, type AffineExpertParams } from "./affine";
export { applyEveryExpert, everyExpertLogLikelihood, sharedExpertsOutput } from "./every";
