/** Multi-head self-attention (Vaswani et al. 2017), the first half of a Transformer MoE block. */
import {
  arange,
  expandDims,
  greaterEqual,
  matmul,
  mul,
  random,
  reshape,
  softmax,
  transpose,
  where,
  type FloatDType,
  type Tensor,
} from "../core";
import { MoeConfigError, checkInt, checkShape } from "./check";
import { scaledNormal } from "./experts/affine";

/** Projection weights, each [D, D]. */
export interface AttentionParams {
  readonly wq: Tensor;
  readonly wk: Tensor;
  readonly wv: Tensor;
  readonly wo: Tensor;
}

/** Fresh attention weights ~ N(0, 1/D). */
export function initAttention(key: Tensor, dModel: number, dtype: FloatDType = "f32"): AttentionParams {
  const [a, b, c, d] = random.split(key, 4);
  const w = (k: Tensor) => scaledNormal(k, [dModel, dModel], dModel, dtype);
  return { wq: w(a!), wk: w(b!), wv: w(c!), wo: w(d!) };
}

/**
 * Multi-head scaled dot-product self-attention over `x` [B, T, D]:
 * per head h, `softmax(Q_h K_hᵀ / sqrt(d_h) (+ causal mask)) V_h`, heads
 * concatenated and projected by `W_o`. `numHeads = 1` is single-head attention.
 * @example selfAttention(params, x, { numHeads: 2, causal: true })
 */
export function selfAttention(
  params: AttentionParams,
  x: Tensor,
  options: { readonly numHeads: number; readonly causal?: boolean },
): Tensor {
  const H = checkInt(options.numHeads, "selfAttention", "numHeads");
  const n = new Map<string, number>();
  const [B, T, D] = checkShape(x, [null, null, "D"], "selfAttention", "x [B, T, D]", n);
  for (const name of ["wq", "wk", "wv", "wo"] as const) checkShape(params[name], ["D", "D"], "selfAttention", name, n);
  if (D! % H !== 0) throw new MoeConfigError(`selfAttention: dModel = ${D} is not divisible by numHeads = ${H}`);
  const dh = D! / H;
  const heads = (w: Tensor) => transpose(reshape(matmul(x, w), [B!, T!, H, dh]), [0, 2, 1, 3]); // [B, H, T, dh]
  const q = heads(params.wq);
  const k = heads(params.wk);
  const v = heads(params.wv);
  let scores = mul(matmul(q, transpose(k, [0, 1, 3, 2])), 1 / Math.sqrt(dh)); // [B, H, T, T]
  if (options.causal) {
    const allowed = greaterEqual(expandDims(arange(T!), 1), expandDims(arange(T!), 0)); // query >= key
    scores = where(allowed, scores, -1e9);
  }
  const attended = matmul(softmax(scores), v); // [B, H, T, dh]
  return matmul(reshape(transpose(attended, [0, 2, 1, 3]), [B!, T!, D!]), params.wo);
}
