/**
 * The MoE library: gates, dispatch/combine, experts, balancing losses, the MoE
 * layer and Transformer block, optimizers and a training loop, as pure
 * functions over parameter pytrees (all differentiable and traceable), plus
 * the classical mixtures in `./classical`.
 */
export { MoeConfigError } from "./check";
export * from "./gates/index";
export * from "./experts/index";
export {
  expertCapacity,
  planTokenChoice,
  planExpertChoice,
  dispatchRows,
  combineRows,
  type DispatchPlan,
} from "./dispatch";
export { cvSquared, gateMatrix, importanceLoss, loadLoss, switchLoss, routerZLoss, lossFreeBiasUpdate } from "./losses";
export { erf, normalCdf } from "./special";
export {
  moeLayer,
  type MoeLayer,
  type MoeParams,
  type MoeContext,
  type MoeInitDims,
  type AnyRouterParams,
} from "./layer";
export { validateMoeConfig, type MoeLayerConfig, type GateConfig, type AuxLossWeights } from "./layer_config";
export { type MoeReport, type MoeLosses } from "./report";
export { rmsNorm, layerNorm, initNorm, type NormParams } from "./norm";
export { selfAttention, initAttention, type AttentionParams } from "./attention";
export {
  transformerMoeBlock,
  upcycleFfn,
  type TransformerMoeBlock,
  type TransformerMoeBlockConfig,
  type TransformerMoeBlockParams,
  type UpcycledFfn,
} from "./transformer";
export {
  sgd,
  adamW,
  adam,
  type Optimizer,
  type SgdOptions,
  type SgdState,
  type AdamWOptions,
  type AdamState,
} from "./optim";
export { train, type TrainOptions, type TrainResult, type LossResult } from "./train";
export { createProgress, type Progress, type ProgressStream } from "./progress";
export * from "./classical/index";
