/**
 * Shared pieces of experts built on per-expert affine maps `x W_e + b_e`
 * (linear, logistic, multinomial, linear-Gaussian): initialisation and shape checks.
 */
import { mul, random, zeros, type FloatDType, type Tensor } from "../../core";
import { checkInt, checkShape } from "../check";
import type { ExpertDims, ExpertInitDims } from "./types";

/**
 * Weights ~ N(0, 1/fanIn), the usual variance-preserving initialisation.
 * @example scaledNormal(random.key(0), [4, 8, 16], 8, "f32")
 */
export function scaledNormal(key: Tensor, shape: readonly number[], fanIn: number, dtype: FloatDType): Tensor {
  return mul(random.normal(key, shape, dtype), 1 / Math.sqrt(fanIn));
}

/** Checks the sizes given to an expert family's `init`. */
export function checkInitDims(dims: ExpertInitDims, where: string): void {
  checkInt(dims.numExperts, `${where}.init`, "dims.numExperts");
  checkInt(dims.dIn, `${where}.init`, "dims.dIn");
  checkInt(dims.dOut, `${where}.init`, "dims.dOut");
}

/** A bank of E affine maps: `w` [E, dIn, dOut], `b` [E, dOut]. */
export interface AffineExpertParams {
  readonly w: Tensor;
  readonly b: Tensor;
}

/** Fresh affine maps: W ~ N(0, 1/dIn), b = 0; `dOut` overrides `dims.dOut` (e.g. 1 for logistic experts). */
export function initAffine(
  key: Tensor,
  dims: ExpertInitDims,
  dtype: FloatDType,
  where: string,
  dOut = dims.dOut,
): AffineExpertParams {
  checkInitDims({ ...dims, dOut }, where);
  return {
    w: scaledNormal(key, [dims.numExperts, dims.dIn, dOut], dims.dIn, dtype),
    b: zeros([dims.numExperts, dOut], dtype),
  };
}

/**
 * Checks a weight [E, dIn, dOut] and bias [E, dOut] pair (named `names`), with
 * dOut pinned to `fixedDOut` when given, and returns the sizes.
 */
export function affineDims(
  w: unknown,
  b: unknown,
  where: string,
  {
    names = ["w", "b"] as const,
    fixedDOut,
    bound = new Map<string, number>(),
  }: { names?: readonly [string, string]; fixedDOut?: number; bound?: Map<string, number> } = {},
): ExpertDims {
  const [E, dIn, dOut] = checkShape(w, ["E", "dIn", fixedDOut ?? "dOut"], where, names[0], bound);
  checkShape(b, ["E", fixedDOut ?? "dOut"], where, names[1], bound);
  return { numExperts: E!, dIn: dIn!, dOut: dOut! };
}
