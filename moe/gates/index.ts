/** Gates: routing decisions from router parameters (or a hash table) and tokens. */
export {
  initRouter,
  routerLogits,
  type RouterParams,
  type TokenChoice,
  type ExpertChoice,
  type Routing,
} from "./types";
export { softmaxGate, topKGate, type TopKGateOptions } from "./topk";
export { noisyTopKGate, type NoisyRouterParams, type NoisyTopKOptions } from "./noisy";
export { gshardTop2Gate, type GshardTop2Options } from "./gshard";
export { expertChoiceGate, expertChoiceCapacity } from "./expert_choice";
export { hashGate, hashTable, tokenHash, type HashGateOptions, type HashTableOptions } from "./hash";
export { softMoeWeights, type SoftRouterParams, type SoftMoeWeights } from "./soft";
