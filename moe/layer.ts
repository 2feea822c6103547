/**
 * The MoE layer: gate -> dispatch -> experts -> combine, as one pure function
 * of a parameter pytree, returning the output and a routing report.
 */
import { add, dims as dimOps, full, matmul, random, reshape, transpose, zeros } from "../core";
import type { Dim, FloatDType, Tensor } from "../core";
import { MoeConfigError, checkFloat, checkInt, checkTensor, checkTokenShape } from "./check";
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
import { expertChoiceGate } from "./gates/expert_choice";
import { gshardTop2Gate } from "./gates/gshard";
import { hashGate } from "./gates/hash";
import { noisyTopKGate, type NoisyRouterParams } from "./gates/noisy";
import { softMoeWeights, type SoftRouterParams } from "./gates/soft";
import { softmaxGate, topKGate } from "./gates/topk";
import { initRouter, type RouterParams, type Routing } from "./gates/types";
import { tokenChoiceK, validateMoeConfig, type MoeLayerConfig } from "./layer_config";
import { buildReport, routingLosses, type MoeReport } from "./report";

/** Router parameters of any gate: `{ w }`, `{ w, wNoise }` (noisy top-k) or `{ phi }` (soft MoE); none for hash routing. */
export type AnyRouterParams = RouterParams | NoisyRouterParams | SoftRouterParams;

/** Parameters of an MoE layer. */
export interface MoeParams<P = unknown, Q = unknown> {
  readonly router?: AnyRouterParams;
  readonly experts: P;
  readonly shared?: Q;
}

/** Per-call inputs besides the tokens. */
export interface MoeContext {
  /** Random key for noisy gates (noisyTopK, gshardTop2); omit at evaluation. */
  readonly key?: Tensor;
  /** i32 token ids (the tokens' leading shape), for hash routing. */
  readonly tokenIds?: Tensor;
  /** [E] auxiliary-loss-free selection bias (topK gate), see `lossFreeBiasUpdate`. */
  readonly selectionBias?: Tensor;
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

function route(
  config: MoeLayerConfig,
  router: AnyRouterParams | undefined,
  x: Tensor,
  ctx: MoeContext,
  T: Dim,
): Routing {
  const gate = config.gate;
  const needRouter = (): never => {
    throw new MoeConfigError(`moeLayer: params.router is missing; the ${gate.type} gate needs router parameters`);
  };
  if (gate.type !== "hash" && router === undefined) needRouter();
  switch (gate.type) {
    case "softmax":
      return softmaxGate(router as RouterParams, x);
    case "topK":
      return topKGate(router as RouterParams, x, {
        k: gate.k,
        ...(gate.renormalize !== undefined ? { renormalize: gate.renormalize } : {}),
        ...(ctx.selectionBias ? { selectionBias: ctx.selectionBias } : {}),
      });
    case "noisyTopK":
      return noisyTopKGate(router as NoisyRouterParams, x, { k: gate.k, ...(ctx.key ? { key: ctx.key } : {}) });
    case "gshardTop2":
      return gshardTop2Gate(router as RouterParams, x, ctx.key ? { key: ctx.key } : {});
    case "expertChoice":
      return expertChoiceGate(router as RouterParams, x, { capacityFactor: gate.capacityFactor });
    case "hash": {
      if (ctx.tokenIds === undefined)
        throw new MoeConfigError("moeLayer: the hash gate needs ctx.tokenIds (i32 token ids, one per token)");
      checkTensor(ctx.tokenIds, "moeLayer", "ctx.tokenIds");
      if (!dimOps.equal(dimOps.mul(...ctx.tokenIds.shape), T)) {
        throw new MoeConfigError(
          `moeLayer: ctx.tokenIds has shape [${ctx.tokenIds.shape.map(dimOps.format).join(",")}], expected one id per token (${dimOps.format(T)} tokens)`,
        );
      }
      return hashGate(gate.table, reshape(ctx.tokenIds, [T]), {
        numExperts: config.numExperts,
        dtype: x.dtype as FloatDType,
      });
    }
    case "soft":
      throw new Error("unreachable: soft MoE has its own path");
  }
}

/** Soft MoE: slots are softmax-over-tokens mixtures of the tokens; outputs are softmax-over-slots mixtures of slot outputs. */
function applySoft<P>(
  config: MoeLayerConfig<P>,
  params: MoeParams<P>,
  x: Tensor,
  slotsPerExpert: number,
): { y: Tensor; plan: Pick<DispatchPlan, "expertCounts" | "dropFraction"> } {
  const E = config.numExperts;
  if (params.router === undefined)
    throw new MoeConfigError("moeLayer: params.router { phi } is missing; the soft gate needs it");
  const w = softMoeWeights(params.router as SoftRouterParams, x, { numExperts: E, slotsPerExpert });
  const slots = matmul(transpose(w.dispatch), x); // [S, D]
  const out = config.experts.apply(params.experts, slots, uniformGroups(E, slotsPerExpert));
  return {
    y: matmul(w.combine, out),
    plan: { expertCounts: full([E], slotsPerExpert, "i32"), dropFraction: zeros([], x.dtype) },
  };
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
  const init = (key: Tensor, dims: MoeInitDims, dtype: FloatDType = "f32"): MoeParams<P, Q> => {
    const D = checkInt(dims.dModel, "moeLayer.init", "dims.dModel");
    const dOut = dims.dOut ?? D;
    const [kr, ke, ks] = random.split(key, 3);
    const expertDims = { numExperts: E, dIn: D, dOut, ...(dims.hidden !== undefined ? { hidden: dims.hidden } : {}) };
    const gate = config.gate;
    let router: AnyRouterParams | undefined;
    if (gate.type === "soft") router = { phi: initRouter(kr!, D, E * gate.slotsPerExpert, dtype).w };
    else if (gate.type === "noisyTopK") router = { w: initRouter(kr!, D, E, dtype).w, wNoise: zeros([D, E], dtype) };
    else if (gate.type !== "hash") router = initRouter(kr!, D, E, dtype);
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

    let y: Tensor;
    let plan: Pick<DispatchPlan, "expertCounts" | "dropFraction">;
    let losses = {};
    if (config.gate.type === "soft") {
      ({ y, plan } = applySoft(config, params, tokens, config.gate.slotsPerExpert));
    } else {
      const routing = route(config as MoeLayerConfig, params.router, tokens, ctx, T);
      const k = tokenChoiceK(config.gate, E);
      const full =
        routing.kind === "expertChoice"
          ? planExpertChoice(routing, T)
          : planTokenChoice(
              routing,
              config.capacityFactor === undefined ? {} : { capacity: expertCapacity(config.capacityFactor, k!, T, E) },
            );
      y = combineRows(config.experts.apply(params.experts, dispatchRows(tokens, full), full.groups), full);
      plan = full;
      losses = routingLosses(routing);
    }
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
