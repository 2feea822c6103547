/**
 * The MoE layer: gate -> dispatch -> experts -> combine, as one pure function
 * of a parameter pytree, returning the output and a routing report.
 */
import { add, dims as dimOps, full, matmul, random, reshape, transpose, zeros } from "../core";
import type { FloatDType, Tensor } from "../core";
import { MoeConfigError, checkFloat, checkInt, checkTokenShape } from "./check";
import {
  combineRows,
  dispatchRows,
  expertCapacity,
  planExpertChoice,
  planTokenChoice,
  type DispatchPlan,
} from "./dispatch";
import { sharedExpertsOutput } from "./experts/every";
import { uniformGroups } from "./experts/types";
import type { AnyGate, GateRouting, MoeContext } from "./gates/gate";
import { gateFor, type AnyRouterParams } from "./gates/registry";
import { validateMoeConfig, type MoeLayerConfig } from "./layer_config";
import { buildReport, gateLosses, type MoeReport } from "./report";

export type { AnyRouterParams, MoeContext };

/** Parameters of an MoE layer. */
export interface MoeParams<P = unknown, Q = unknown> {
  readonly router?: AnyRouterParams;
  readonly experts: P;
  readonly shared?: Q;
}

/** Sizes for `init`. */
export interface MoeInitDims {
  readonly dModel: number;
  /** Hidden width of FFN / SwiGLU experts. */
  readonly hidden?: number;
  /** Output width (default dModel). */
  readonly dOut?: number;
}

/** A configured MoE layer: `init` makes parameters, `apply` runs the layer. */
export interface MoeLayer<P = unknown, Q = unknown> {
  readonly config: MoeLayerConfig<P, Q>;
  init(key: Tensor, dims: MoeInitDims, dtype?: FloatDType): MoeParams<P, Q>;
  /** `x` [..., dModel] -> `y` [..., dOut] and the routing report. */
  apply(params: MoeParams<P, Q>, x: Tensor, ctx?: MoeContext): { y: Tensor; report: MoeReport };
}

type Plan = Pick<DispatchPlan, "expertCounts" | "dropFraction">;

/**
 * Runs the experts on a routing decision and combines their outputs: token and expert
 * choice through the expert-sorted dispatch plan, soft MoE through its slot mixtures.
 */
function runExperts<P>(
  config: MoeLayerConfig<P>,
  gate: AnyGate,
  routing: GateRouting,
  experts: P,
  tokens: Tensor,
): { y: Tensor; plan: Plan } {
  const E = config.numExperts;
  if (routing.kind === "soft") {
    const p = routing.slotsPerExpert;
    const slots = matmul(transpose(routing.dispatch), tokens); // [S, D]
    const out = config.experts.apply(experts, slots, uniformGroups(E, p));
    const plan = { expertCounts: full([E], p, "i32"), dropFraction: zeros([], tokens.dtype) };
    return { y: matmul(routing.combine, out), plan };
  }
  const T = tokens.shape[0]!;
  const k = gate.k(config.gate, E);
  const plan =
    routing.kind === "expertChoice"
      ? planExpertChoice(routing, T)
      : planTokenChoice(
          routing,
          config.capacityFactor === undefined ? {} : { capacity: expertCapacity(config.capacityFactor, k!, T, E) },
        );
  return { y: combineRows(config.experts.apply(experts, dispatchRows(tokens, plan), plan.groups), plan), plan };
}

/**
 * Creates an MoE layer (Shazeer et al. 2017; Lepikhin et al. 2020; Fedus et al.
 * 2021): `y = Σ_{e ∈ route(x)} w_e(x) · expert_e(x)` (+ shared experts, + x
 * with `residual`). The configuration is validated here (k > E, capacity
 * factor <= 0, unknown gate, losses the gate cannot provide, ...); parameter
 * shapes are validated on every `apply`.
 * @example
 * const layer = moeLayer({ numExperts: 8, gate: { type: "topK", k: 2 }, experts: ffnExperts, capacityFactor: 1.25 });
 * const params = layer.init(random.key(0), { dModel: 16, hidden: 32 });
 * const { y, report } = layer.apply(params, x); // report.dropFraction, report.auxLoss, ...
 */
export function moeLayer<P, Q = unknown>(config: MoeLayerConfig<P, Q>): MoeLayer<P, Q> {
  validateMoeConfig(config as MoeLayerConfig);
  const E = config.numExperts;
  const gate = gateFor(config.gate)!; // validateMoeConfig rejects unknown gate types
  const init = (key: Tensor, dims: MoeInitDims, dtype: FloatDType = "f32"): MoeParams<P, Q> => {
    const D = checkInt(dims.dModel, "moeLayer.init", "dims.dModel");
    const dOut = dims.dOut ?? D;
    const [kr, ke, ks] = random.split(key, 3);
    const expertDims = { numExperts: E, dIn: D, dOut, ...(dims.hidden !== undefined ? { hidden: dims.hidden } : {}) };
    const router: AnyRouterParams | undefined = gate.initRouter(config.gate, kr!, D, E, dtype);
    const experts = config.experts.init(ke!, expertDims, dtype);
    const shared = config.shared
      ? config.shared.experts.init(ks!, { ...expertDims, numExperts: config.shared.count }, dtype)
      : undefined;
    return { ...(router ? { router } : {}), experts, ...(shared !== undefined ? { shared } : {}) };
  };

  const apply = (params: MoeParams<P, Q>, x: Tensor, ctx: MoeContext = {}): { y: Tensor; report: MoeReport } => {
    const dtype = checkFloat(x, "moeLayer", "x");
    if (x.shape.length < 1) throw new MoeConfigError("moeLayer: x must have a feature axis [..., dModel]");
    // The leading (token) dims may be symbolic: one trace serves every batch size.
    const lead = x.shape.slice(0, -1);
    const pattern = [...lead.map(() => null), null];
    const D = checkTokenShape(
      x,
      pattern,
      "moeLayer",
      "x",
      new Map(),
      lead.map((_, i) => i),
    )[lead.length] as number;
    const T = dimOps.mul(...lead);
    const tokens = reshape(x, [T, D]);
    const dims = config.experts.dims(params.experts, `moeLayer (${config.experts.name})`);
    if (dims.numExperts !== E)
      throw new MoeConfigError(
        `moeLayer: the expert parameters hold ${dims.numExperts} experts, the config says numExperts = ${E}`,
      );
    if (dims.dIn !== undefined && dims.dIn !== D)
      throw new MoeConfigError(`moeLayer: the experts take dIn = ${dims.dIn} features, x has ${D}`);

    if (gate.routerShape !== null && params.router === undefined)
      throw new MoeConfigError(
        `moeLayer: params.router is missing; the ${config.gate.type} gate needs router parameters ${gate.routerShape}`,
      );
    const routing = gate.route(config.gate, params.router, tokens, ctx, E);
    const ran = runExperts(config, gate, routing, params.experts, tokens);
    const plan = ran.plan;
    let y = ran.y;
    const losses = gateLosses(gate, routing);
    if (config.shared) {
      if (params.shared === undefined)
        throw new MoeConfigError("moeLayer: params.shared is missing; the config has shared experts");
      const s = config.shared.experts.dims(params.shared, `moeLayer shared (${config.shared.experts.name})`);
      if (s.numExperts !== config.shared.count)
        throw new MoeConfigError(
          `moeLayer: params.shared holds ${s.numExperts} experts, the config says shared.count = ${config.shared.count}`,
        );
      y = add(y, sharedExpertsOutput(config.shared.experts, params.shared, tokens));
    }
    if (config.residual) {
      if (dims.dOut !== D)
        throw new MoeConfigError(`moeLayer: residual needs dOut = dModel, got dOut = ${dims.dOut}, dModel = ${D}`);
      y = add(y, tokens);
    }
    const report = buildReport(plan, losses, config.auxLossWeights ?? {}, dtype);
    return { y: reshape(y, [...lead, dims.dOut]), report };
  };

  return { config, init, apply };
}
