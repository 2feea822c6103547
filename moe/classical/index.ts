/**
 * Classical mixtures of experts as pure, differentiable functions over
 * parameter pytrees: meta-pi (Hampshire & Waibel 1992), the adaptive mixture
 * of local experts (Jacobs et al. 1991), hierarchical mixtures and EM
 * (Jordan & Jacobs 1994), and the mixture of softmaxes (Yang et al. 2018).
 */
export {
  affine,
  expertBank,
  initGatedExperts,
  checkAffine,
  checkExpertBank,
  checkGatedExperts,
  type AffineParams,
  type ExpertBankParams,
  type GatedExpertsParams,
} from "./params";
export { metaPi, metaPiLoss, type ExpertActivation, type MetaPiOptions, type MetaPiOutput } from "./meta_pi";
export { localExperts, localExpertsLoss, localExpertsPosteriors, type LocalExpertsOutput } from "./local_experts";
export {
  hierarchicalMoe,
  hierarchicalMoeLoss,
  validateHierarchy,
  initHierarchicalMoe,
  type HmeNode,
  type HmeGateNode,
  type HmeStructure,
} from "./hierarchical";
export {
  linearGaussianMixtureLogLikelihood,
  linearGaussianMixturePosteriors,
  initLinearGaussianMixture,
  checkLinearGaussianMixture,
  type LinearGaussianMixtureParams,
} from "./linear_gaussian_mixture";
export { emStep, fitEm, type EmOptions, type EmFitOptions, type EmResult } from "./em";
export { cholesky, solveSpd, withRidge } from "./host_linalg";
export { fitSoftmaxRegression, type SoftmaxRegressionSizes } from "./softmax_regression";
export {
  mixtureOfSoftmaxes,
  mixtureOfSoftmaxesLoss,
  initMixtureOfSoftmaxes,
  type MixtureOfSoftmaxesParams,
} from "./mixture_of_softmaxes";
