/**
 * The gates an MoE layer's `gate` config can name, by `type`. A new gate is its
 * file (routing function, config type and `Gate`) plus one row here; `GateConfig`,
 * the layer's validation, its routing and its losses all follow from this table.
 */
import { expertChoiceGateDef } from "./expert_choice";
import type { AnyGate, Gate } from "./gate";
import { gshardTop2GateDef } from "./gshard";
import { hashGateDef } from "./hash";
import { noisyTopKGateDef } from "./noisy";
import { softGateDef } from "./soft";
import { softmaxGateDef, topKGateDef } from "./topk";

/** The gates by config type, in the order error messages list them. */
export const GATES = {
  softmax: softmaxGateDef,
  topK: topKGateDef,
  noisyTopK: noisyTopKGateDef,
  gshardTop2: gshardTop2GateDef,
  expertChoice: expertChoiceGateDef,
  hash: hashGateDef,
  soft: softGateDef,
} as const;

type Gates = typeof GATES;
type ConfigOf<G> = G extends Gate<infer C, infer _R, infer _D> ? C : never;
type RouterOf<G> = G extends Gate<infer _C, infer R, infer _D> ? R : never;

/** Which gate routes the tokens: `{ type, ...that gate's fields }` (see each gate's config type). */
export type GateConfig = { [K in keyof Gates]: ConfigOf<Gates[K]> & { readonly type: K } }[keyof Gates];

/** Router parameters of any gate (hash routing has none). */
export type AnyRouterParams = Exclude<{ [K in keyof Gates]: RouterOf<Gates[K]> }[keyof Gates], undefined>;

/** The gate a config names, or undefined for an unknown type. */
export function gateFor(config: { readonly type: unknown }): AnyGate | undefined {
  const type = config.type;
  return typeof type === "string" && Object.hasOwn(GATES, type) ? GATES[type as keyof Gates] : undefined;
}

/** The gate types, for error messages: "softmax, topK, ... or soft". */
export function gateTypesText(): string {
  const names = Object.keys(GATES);
  return `${names.slice(0, -1).join(", ")} or ${names[names.length - 1]}`;
}
