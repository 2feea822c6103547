/** MoE layer configuration: the types and their validation (run once, when the layer is created). */
import { MoeConfigError, checkInt, checkPositive } from "./check";
import type { Experts } from "./experts/types";
import { gateFor, gateTypesText, type GateConfig } from "./gates/registry";

export type { GateConfig };

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

/** The auxiliary losses, in the order the report sums them. */
export const AUX_LOSS_NAMES = [
  "switch",
  "importance",
  "load",
  "zLoss",
] as const satisfies readonly (keyof AuxLossWeights)[];

/** Why a gate without a loss cannot have it weighted. */
const UNSUPPORTED_LOSS: { readonly [L in keyof AuxLossWeights]-?: (gate: string) => string } = {
  switch: (g) => `the switch and importance losses need a token-choice gate with a router, not ${g}`,
  importance: (g) => `the switch and importance losses need a token-choice gate with a router, not ${g}`,
  load: (g) => `the load loss needs the noisyTopK gate, not ${g}`,
  zLoss: (g) => `the z-loss needs router logits over experts; the ${g} gate has none`,
};

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
  const def = gateFor(gate);
  if (def === undefined)
    throw new MoeConfigError(
      `${where}: unknown gate type ${JSON.stringify((gate as { type: unknown }).type)}; expected ${gateTypesText()}`,
    );
  def.validate(gate, E, where);
  const k = def.k(gate, E);
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
    if (!(AUX_LOSS_NAMES as readonly string[]).includes(name))
      throw new MoeConfigError(`${where}: unknown aux loss "${name}"; expected switch, importance, load or zLoss`);
    if (typeof value !== "number" || !Number.isFinite(value) || value < 0)
      throw new MoeConfigError(`${where}: auxLossWeights.${name} = ${String(value)}; expected a finite number >= 0`);
  }
  for (const name of AUX_LOSS_NAMES)
    if (w[name] && !def.losses[name]) throw new MoeConfigError(`${where}: ${UNSUPPORTED_LOSS[name](gate.type)}`);
}
