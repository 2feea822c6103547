/**
 * A Transformer block with an MoE feed-forward layer, and sparse upcycling of
 * a dense FFN into experts.
 */
import { add, broadcastTo, expandDims, random, reshape, type FloatDType, type Tensor } from "../core";
import { MoeConfigError, checkInt, checkShape } from "./check";
import { initAttention, selfAttention, type AttentionParams } from "./attention";
import type { DenseFfnParams, FfnExpertParams } from "./experts/dense";
import { initRouter, type RouterParams } from "./gates/types";
import { moeLayer, type MoeContext, type MoeParams } from "./layer";
import type { MoeLayerConfig } from "./layer_config";
import { initNorm, layerNorm, rmsNorm, type NormParams } from "./norm";
import type { MoeReport } from "./report";

/** Configuration of a Transformer MoE block. */
export interface TransformerMoeBlockConfig<P = unknown, Q = unknown> {
  readonly dModel: number;
  readonly numHeads: number;
  /** "rms" (default; RMSNorm as in Mixtral) or "layer" (LayerNorm). */
  readonly norm?: "rms" | "layer";
  /** Causal self-attention (decoder). Default true. */
  readonly causal?: boolean;
  /** The MoE FFN (its `residual` must be unset: the block adds the residual). */
  readonly moe: MoeLayerConfig<P, Q>;
}

/** Parameters of a Transformer MoE block. */
export interface TransformerMoeBlockParams<P = unknown, Q = unknown> {
  readonly norm1: NormParams;
  readonly attention: AttentionParams;
  readonly norm2: NormParams;
  readonly moe: MoeParams<P, Q>;
}

/** A configured block: `init` and `apply`. */
export interface TransformerMoeBlock<P = unknown, Q = unknown> {
  readonly config: TransformerMoeBlockConfig<P, Q>;
  init(key: Tensor, dims: { readonly hidden?: number }, dtype?: FloatDType): TransformerMoeBlockParams<P, Q>;
  /** `x` [B, T, D] or [T, D] -> same shape, plus the MoE routing report. */
  apply(params: TransformerMoeBlockParams<P, Q>, x: Tensor, ctx?: MoeContext): { y: Tensor; report: MoeReport };
}

/**
 * A pre-norm Transformer block whose FFN is an MoE layer (Lepikhin et al.
 * 2020; Fedus et al. 2021; Jiang et al. 2024):
 * `h = x + Attention(Norm1(x))`, `y = h + MoE(Norm2(h))`. A token the MoE
 * drops for capacity gets `y = h`: it passes through on the residual path.
 * @example
 * const block = transformerMoeBlock({ dModel: 16, numHeads: 2, moe: { numExperts: 4, gate: { type: "topK", k: 2 }, experts: swigluExperts } });
 * const params = block.init(random.key(0), { hidden: 32 });
 * const { y, report } = block.apply(params, x); // x [B, T, 16]
 */
export function transformerMoeBlock<P, Q = unknown>(
  config: TransformerMoeBlockConfig<P, Q>,
): TransformerMoeBlock<P, Q> {
  const D = checkInt(config.dModel, "transformerMoeBlock", "dModel");
  const H = checkInt(config.numHeads, "transformerMoeBlock", "numHeads");
  if (D % H !== 0) throw new MoeConfigError(`transformerMoeBlock: dModel = ${D} is not divisible by numHeads = ${H}`);
  const normKind = config.norm ?? "rms";
  if (normKind !== "rms" && normKind !== "layer")
    throw new MoeConfigError(`transformerMoeBlock: norm = ${JSON.stringify(normKind)}; expected "rms" or "layer"`);
  if (config.moe?.residual)
    throw new MoeConfigError("transformerMoeBlock: leave moe.residual unset; the block adds the residual itself");
  const moe = moeLayer(config.moe);
  const norm = (x: Tensor, p: NormParams) => (normKind === "rms" ? rmsNorm(x, p) : layerNorm(x, p));
  return {
    config,
    init(key, dims, dtype = "f32") {
      const [ka, km] = random.split(key, 2);
      return {
        norm1: initNorm(normKind, D, dtype),
        attention: initAttention(ka!, D, dtype),
        norm2: initNorm(normKind, D, dtype),
        moe: moe.init(km!, { dModel: D, ...(dims.hidden !== undefined ? { hidden: dims.hidden } : {}) }, dtype),
      };
    },
    apply(params, x, ctx = {}) {
      const batched = x.shape.length === 3;
      const x3 = batched ? x : expandDims(x, 0);
      checkShape(x3, [null, null, D], "transformerMoeBlock", "x [B, T, dModel]");
      const h = add(
        x3,
        selfAttention(params.attention, norm(x3, params.norm1), { numHeads: H, causal: config.causal ?? true }),
      );
      const { y: f, report } = moe.apply(params.moe, norm(h, params.norm2), ctx);
      const y = add(h, f);
      return { y: batched ? y : reshape(y, x.shape as number[]), report };
    },
  };
}

/** What sparse upcycling produces: a fresh router and E copies of the dense FFN. */
export interface UpcycledFfn {
  readonly router: RouterParams;
  readonly experts: FfnExpertParams;
}

/**
 * Sparse upcycling (Komatsuzaki et al. 2022, "Sparse Upcycling: Training
 * Mixture-of-Experts from Dense Checkpoints"): every expert starts as a copy
 * of the dense FFN `ReLU(x W1 + b1) W2 + b2`, and the router is freshly
 * initialised. With a renormalised top-k gate the upcycled layer initially
 * computes exactly the dense FFN.
 * @example const { router, experts } = upcycleFfn(dense, 8, random.key(0));
 */
export function upcycleFfn(dense: DenseFfnParams, numExperts: number, key: Tensor): UpcycledFfn {
  const E = checkInt(numExperts, "upcycleFfn", "numExperts");
  const n = new Map<string, number>();
  const [dIn] = checkShape(dense.w1, ["dIn", "H"], "upcycleFfn", "w1", n);
  checkShape(dense.b1, ["H"], "upcycleFfn", "b1", n);
  checkShape(dense.w2, ["H", "dOut"], "upcycleFfn", "w2", n);
  checkShape(dense.b2, ["dOut"], "upcycleFfn", "b2", n);
  const copies = (t: Tensor) => broadcastTo(expandDims(t, 0), [E, ...(t.shape as number[])]);
  return {
    router: initRouter(key, dIn!, E, dense.w1.dtype as FloatDType),
    experts: { w1: copies(dense.w1), b1: copies(dense.b1), w2: copies(dense.w2), b2: copies(dense.b2) },
  };
}
