/** Normalisation layers used by the Transformer MoE block. */
import { add, mean, mul, ones, rsqrt, square, sub, zeros, type FloatDType, type Tensor } from "../core";
import { checkShape } from "./check";

/** Norm parameters: a gain, and a bias for LayerNorm. */
export interface NormParams {
  readonly gain: Tensor;
  readonly bias?: Tensor;
}

/**
 * RMSNorm (Zhang & Sennrich 2019): `x / sqrt(mean(x²) + ε) · g` over the last axis.
 * @example rmsNorm(x, { gain: ones([D]) })
 */
export function rmsNorm(x: Tensor, params: NormParams, eps = 1e-6): Tensor {
  checkShape(params.gain, [x.shape[x.shape.length - 1] as number], "rmsNorm", "gain");
  return mul(mul(x, rsqrt(add(mean(square(x), -1, true), eps))), params.gain);
}

/**
 * LayerNorm (Ba et al. 2016): `(x - mean) / sqrt(var + ε) · g + b` over the last axis.
 * @example layerNorm(x, { gain: ones([D]), bias: zeros([D]) })
 */
export function layerNorm(x: Tensor, params: NormParams, eps = 1e-5): Tensor {
  const D = x.shape[x.shape.length - 1] as number;
  checkShape(params.gain, [D], "layerNorm", "gain");
  const centred = sub(x, mean(x, -1, true));
  const y = mul(mul(centred, rsqrt(add(mean(square(centred), -1, true), eps))), params.gain);
  if (params.bias === undefined) return y;
  checkShape(params.bias, [D], "layerNorm", "bias");
  return add(y, params.bias);
}

/** Identity-initialised norm parameters (gain 1, and bias 0 for LayerNorm). */
export function initNorm(kind: "rms" | "layer", dModel: number, dtype: FloatDType = "f32"): NormParams {
  return kind === "rms"
    ? { gain: ones([dModel], dtype) }
    : { gain: ones([dModel], dtype), bias: zeros([dModel], dtype) };
}
