/**
 * The gate interface: everything the MoE layer needs from a gate, so the layer,
 * its configuration check and its report hold no per-gate code. Each gate file
 * defines its `Gate` next to its routing function; `gates/registry.ts` lists them
 * by config `type`, and `GateConfig` is derived from that list.
 */
import type { FloatDType, Tensor } from "../../core";
import { gateMatrix, importanceLoss, routerZLoss, switchLoss } from "../losses";
import type { AuxLossWeights } from "../layer_config";
import type { ExpertChoice, Routing, TokenChoice } from "./types";

/** Per-call inputs besides the tokens. */
export interface MoeContext {
  /** Random key for noisy gates (noisyTopK, gshardTop2); omit at evaluation. */
  readonly key?: Tensor;
  /** i32 token ids (the tokens' leading shape), for hash routing. */
  readonly tokenIds?: Tensor;
  /** [E] auxiliary-loss-free selection bias (topK gate), see `lossFreeBiasUpdate`. */
  readonly selectionBias?: Tensor;
}

/**
 * Soft MoE's decision (no token is dropped): slot s of expert s / p mixes all tokens
 * with `dispatch[:, s]`, token t mixes all slot outputs with `combine[t, :]`.
 */
export interface SoftRouting {
  readonly kind: "soft";
  readonly numExperts: number;
  readonly slotsPerExpert: number;
  /** [T, E·p]: softmax over tokens. */
  readonly dispatch: Tensor;
  /** [T, E·p]: softmax over slots. */
  readonly combine: Tensor;
}

/** A routing decision the layer can dispatch: token choice, expert choice or soft slots. */
export type GateRouting = Routing | SoftRouting;

/** The auxiliary losses, by the names of `AuxLossWeights`. */
export type AuxLossName = keyof AuxLossWeights;

/**
 * A gate, configured by `C` (`{ type, ...its fields }`), with router parameters `R`
 * (`undefined` for a gate without any) and decisions of kind `D`.
 * Implementations are plain objects of pure functions, like `Experts`.
 */
export interface Gate<C extends { readonly type: string }, R, D extends GateRouting> {
  /** Checks the config's own fields when the layer is created; throws MoeConfigError naming the field. */
  validate(config: C, numExperts: number, where: string): void;
  /** Experts per token of a token-choice gate (it sizes the expert capacity); undefined when tokens are not dropped. */
  k(config: C, numExperts: number): number | undefined;
  /** How the router parameters look, for error messages (e.g. "{ w }"); null for a gate without parameters. */
  readonly routerShape: string | null;
  /** Fresh router parameters for `dModel` features. */
  initRouter(config: C, key: Tensor, dModel: number, numExperts: number, dtype: FloatDType): R;
  /** The routing decision for `tokens` [T, dModel]. */
  route(config: C, router: R, tokens: Tensor, ctx: MoeContext, numExperts: number): D;
  /** The auxiliary losses the gate supports, each computed from its decision (a missing one cannot be weighted). */
  readonly losses: { readonly [L in AuxLossName]?: (routing: D) => Tensor };
}

/** Any gate (the layer only passes a gate's own config and router back to it). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a gate's config, router and decision types vary
export type AnyGate = Gate<any, any, any>;

function required(t: Tensor | undefined, gate: string, what: string): Tensor {
  if (t === undefined) throw new Error(`the ${gate} routing has no ${what}; the gate that made it must set it`);
  return t;
}

/** The losses of a token-choice gate with a linear router (router probabilities and logits). */
export const routerLosses = {
  switch: (r: TokenChoice) => switchLoss(required(r.probs, "token-choice", "probs"), r.experts, r.mask),
  importance: (r: TokenChoice) => importanceLoss(gateMatrix(r)),
  zLoss: (r: TokenChoice | ExpertChoice) => routerZLoss(required(r.logits, r.kind, "logits")),
} as const;
