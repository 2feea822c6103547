/** MoE layer configuration: the types and their validation (run once, when the layer is created). */
import type { Tensor } from "../core";
import { MoeConfigError, checkInt, checkPositive, checkTensor } from "./check";
import type { Experts } from "./experts/types";

/** Which gate routes the tokens. */
export type GateConfig =
  /** Dense softmax gate: every expert, weights softmax(x W) (classical mixtures). */
  | { readonly type: "softmax" }
  /** Top-k (Switch: k = 1, renormalize false; Mixtral: k = 2, renormalize true). */
  | { readonly type: "topK"; readonly k: number; readonly renormalize?: boolean }
  /** Noisy top-k (Shazeer et al. 2017); pass `ctx.key` when training. */
  | { readonly type: "noisyTopK"; readonly k: number }
  /** GShard top-2 with a sampled second expert; pass `ctx.key` when training. */
  | { readonly type: "gshardTop2" }
  /** Expert choice: each expert takes ceil(T · capacityFactor / E) tokens. */
  | { readonly type: "expertChoice"; readonly capacityFactor: number }
  /** Hash routing by token id; pass `ctx.tokenIds`. */
  | { readonly type: "hash"; readonly table: Tensor }
  /** Soft MoE with `slotsPerExpert` slots per expert. */
  | { readonly type: "soft"; readonly slotsPerExpert: number };

/** Coefficients of the auxiliary losses summed into `report.auxLoss` (omitted = 0). */
export interface AuxLossWeights {
  /** Switch loss E·Σ f_e P_e (token-choice gates with a router). */
  readonly switch?: number;
  /** Shazeer's importance loss (token-choice gates with a router). */
  readonly importance?: number;
  /** Shazeer's load loss (noisy top-k only). */
  readonly load?: number;
  /** ST-MoE router z-loss (any gate with router logits over experts: not hash, not soft). */
  readonly zLoss?: number;
}

/** Configuration of an MoE layer over expert family `P` (and shared experts `Q`). */
export interface MoeLayerConfig<P = unknown, Q = unknown> {
  readonly numExperts: number;
  readonly gate: GateConfig;
  readonly experts: Experts<P>;
  /**
   * Token-choice gates: capacity factor c > 0, giving each expert C = ceil(c·k·T/E)
   * rows; overflow assignments are dropped. Omit for dropless routing.
   */
  readonly capacityFactor?: number;
  /** Always-on shared experts beside the routed ones (DeepSeekMoE). */
  readonly shared?: { readonly experts: Experts<Q>; readonly count: number };
  readonly auxLossWeights?: AuxLossWeights;
  /** Add the input to the output (`y = x + MoE(x)`), so dropped tokens pass through unchanged. Default false. */
  readonly residual?: boolean;
}

/** Experts per token of a token-choice gate (undefined for expert choice and soft MoE). */
export function tokenChoiceK(gate: GateConfig, numExperts: number): number | undefined {
  switch (gate.type) {
    case "softmax":
      return numExperts;
    case "topK":
    case "noisyTopK":
      return gate.k;
    case "gshardTop2":
      return 2;
    case "hash":
      return 1;
    default:
      return undefined;
  }
}

function checkExperts(e: unknown, where: string): void {
  const ok =
    !!e &&
    typeof e === "object" &&
    ["init", "dims", "apply"].every((m) => typeof (e as Record<string, unknown>)[m] === "function");
  if (!ok) throw new MoeConfigError(`${where} must be an Experts object (e.g. ffnExperts) with init, dims and apply`);
}

/** Validates a layer configuration, throwing MoeConfigError with what was wrong and what was expected. */
export function validateMoeConfig(config: MoeLayerConfig): void {
  const where = "moeLayer";
  if (!config || typeof config !== "object") throw new MoeConfigError(`${where}: expected a configuration object`);
  const E = checkInt(config.numExperts, where, "numExperts");
  checkExperts(config.experts, `${where}: config.experts`);
  const gate = config.gate;
  if (!gate || typeof gate !== "object")
    throw new MoeConfigError(`${where}: config.gate is missing; expected e.g. { type: "topK", k: 2 }`);
  switch (gate.type) {
    case "softmax":
    case "gshardTop2":
      if (gate.type === "gshardTop2" && E < 2)
        throw new MoeConfigError(`${where}: gshardTop2 needs at least 2 experts, got E = ${E}`);
      break;
    case "topK":
    case "noisyTopK":
      checkInt(gate.k, `${where} (${gate.type} gate)`, "k");
      if (gate.k > E)
        throw new MoeConfigError(
          `${where}: k = ${gate.k} exceeds the number of experts E = ${E}; expected 1 <= k <= E`,
        );
      break;
    case "expertChoice":
      checkPositive(gate.capacityFactor, `${where} (expertChoice gate)`, "capacityFactor");
      if (gate.capacityFactor > E)
        throw new MoeConfigError(
          `${where}: expert-choice capacityFactor = ${gate.capacityFactor} exceeds E = ${E}; an expert cannot take more than all tokens`,
        );
      break;
    case "hash": {
      const t = checkTensor(gate.table, `${where} (hash gate)`, "table");
      if (t.dtype !== "i32" || t.shape.length !== 1)
        throw new MoeConfigError(
          `${where}: the hash table must be a 1-D i32 tensor, got ${t.dtype}[${t.shape.join(",")}]`,
        );
      break;
    }
    case "soft":
      checkInt(gate.slotsPerExpert, `${where} (soft gate)`, "slotsPerExpert");
      break;
    default:
      throw new MoeConfigError(
        `${where}: unknown gate type ${JSON.stringify((gate as { type: unknown }).type)}; expected softmax, topK, noisyTopK, gshardTop2, expertChoice, hash or soft`,
      );
  }
  const k = tokenChoiceK(gate, E);
  if (config.capacityFactor !== undefined) {
    checkPositive(config.capacityFactor, where, "capacityFactor");
    if (k === undefined)
      throw new MoeConfigError(
        `${where}: capacityFactor applies to token-choice gates; the ${gate.type} gate has no token dropping`,
      );
  }
  if (config.shared !== undefined) {
    checkExperts(config.shared.experts, `${where}: config.shared.experts`);
    checkInt(config.shared.count, where, "shared.count");
  }
  const w = config.auxLossWeights ?? {};
  for (const [name, value] of Object.entries(w)) {
    if (!["switch", "importance", "load", "zLoss"].includes(name))
      throw new MoeConfigError(`${where}: unknown aux loss "${name}"; expected switch, importance, load or zLoss`);
    if (typeof value !== "number" || !Number.isFinite(value) || value < 0)
      throw new MoeConfigError(`${where}: auxLossWeights.${name} = ${String(value)}; expected a finite number >= 0`);
  }
  const routed = gate.type !== "hash";
  const tokenChoiceRouter = k !== undefined && routed;
  if ((w.switch || w.importance) && !tokenChoiceRouter)
    throw new MoeConfigError(
      `${where}: the switch and importance losses need a token-choice gate with a router, not ${gate.type}`,
    );
  if (w.load && gate.type !== "noisyTopK")
    throw new MoeConfigError(`${where}: the load loss needs the noisyTopK gate, not ${gate.type}`);
  if (w.zLoss && (gate.type === "hash" || gate.type === "soft"))
    throw new MoeConfigError(`${where}: the z-loss needs router logits over experts; the ${gate.type} gate has none`);
}
