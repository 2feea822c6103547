import type { DType } from "../dtype";
import type { Dim } from "../shape";
import type { Program } from "../program";
import type { Tensor } from "../tensor";

type None = Record<string, never>;

/** Elementwise primitives of one operand (same shape and dtype out, unless noted). */
export const UNARY_PRIMS = [
  "neg",
  "exp",
  "log",
  "log1p",
  "sqrt",
  "rsqrt",
  "tanh",
  "sigmoid",
  "abs",
  "sign",
  "sin",
  "cos",
  "erf",
  "logicalNot",
] as const;
export type UnaryPrim = (typeof UNARY_PRIMS)[number];

/** Elementwise arithmetic of two same-shape, same-dtype operands. */
export const BINARY_PRIMS = ["add", "sub", "mul", "div", "maximum", "minimum", "pow", "rem"] as const;
export type BinaryPrim = (typeof BINARY_PRIMS)[number];

/** Elementwise comparisons: two same-shape operands, bool out. */
export const COMPARE_PRIMS = [
  "equal",
  "notEqual",
  "less",
  "lessEqual",
  "greater",
  "greaterEqual",
  "logicalAnd",
  "logicalOr",
] as const;
export type ComparePrim = (typeof COMPARE_PRIMS)[number];

/** Params of the custom-VJP call primitive: the primal program plus the user's rules. */
export interface CustomVjpParams {
  /** The primal computation, traced; inputs are the primals then the captured closure values. */
  readonly program: Program;
  readonly nPrimals: number;
  /** The outer tensors `fn` closes over, as the user's closures hold them (the call's inputs after the primals). */
  readonly captures: readonly Tensor[];
  /** User forward rule: (...primals) => [out, residuals]. */
  readonly fwd: (...primals: Tensor[]) => [Tensor, unknown];
  /** User backward rule: (residuals, cotangent) => cotangents, one per primal. */
  readonly bwd: (residuals: unknown, ct: Tensor) => readonly (Tensor | null | undefined)[];
  readonly name: string;
}

/** The table-driven elementwise primitives (the tuples above) have no params. */
type ElementwiseParams = { readonly [P in UnaryPrim | BinaryPrim | ComparePrim]: None };

/**
 * The parameters of every primitive. This map *is* the list of primitives:
 * tables typed `{ [P in Primitive]: ... }` fail to compile when a rule is missing.
 * The elementwise ones come from the name tuples above, so a new unary primitive
 * is one name in `UNARY_PRIMS`; tsc then points at its missing table rows.
 */
export interface PrimParams extends ElementwiseParams {
  select: None; // select(cond, onTrue, onFalse)
  cast: { dtype: DType };
  /** Threefry-2x32 counter bits -> uniform floats in [0, 1), 24 (f32) or 32 (f64) bits of mantissa. */
  bitsToUniform: { dtype: DType };
  // shape
  broadcastTo: { shape: readonly Dim[] };
  reshape: { shape: readonly Dim[] };
  transpose: { perm: readonly number[] };
  slice: { starts: readonly Dim[]; limits: readonly Dim[] };
  pad: { lo: readonly Dim[]; hi: readonly Dim[] };
  concat: { axis: number };
  iota: { shape: readonly Dim[]; axis: number; dtype: DType };
  // reductions and scans
  reduceSum: { axes: readonly number[] };
  reduceMax: { axis: number };
  reduceMin: { axis: number };
  argmax: { axis: number };
  argmin: { axis: number };
  cumsum: { axis: number; reverse: boolean };
  // linear algebra
  matmul: None;
  raggedMatmul: None; // (x[M,K], w[G,K,N], groupSizes[G]) -> [M,N]
  raggedMatmulWeightGrad: None; // (x[M,K], dy[M,N], groupSizes[G]) -> [G,K,N]: per group x_g^T dy_g
  // indexing
  take: { axis: number };
  gather: { axis: number };
  scatterAdd: { axis: number };
  scatterAddAlong: { axis: number };
  topKIndices: { k: number };
  argsort: { descending: boolean };
  bincount: { length: Dim };
  // random
  randomBits: { shape: readonly Dim[] };
  // autodiff control
  stopGradient: None;
  customVjpCall: CustomVjpParams;
}

export type Primitive = keyof PrimParams;
