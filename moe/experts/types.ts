/**
 * The expert interface. Experts are stored as one parameter pytree whose
 * leaves carry a leading expert axis E, and are applied to rows laid out in
 * contiguous expert groups (expert-sorted order), so a whole layer's experts
 * run as grouped GEMMs (`raggedMatmul`) whatever the routing was.
 */
import { add, broadcastTo, full, raggedMatmul, take, type Dim, type FloatDType, type Tensor } from "../../core";
import { dimScalar, iota, repeatEach } from "../util";

/** Rows of a batch laid out in contiguous expert groups. */
export interface ExpertGroups {
  /** i32 [E]: how many rows each expert gets; sums to the row count M. */
  readonly sizes: Tensor;
  /** i32 [M]: the expert of each row (non-decreasing, consistent with `sizes`). */
  readonly ids: Tensor;
}

/** The sizes of a set of experts. `dIn` is undefined for experts that ignore their input (fixed-mean Gaussians). */
export interface ExpertDims {
  readonly numExperts: number;
  readonly dIn: number | undefined;
  readonly dOut: number;
  /** Hidden width of FFN / SwiGLU experts. */
  readonly hidden?: number;
}

/** What `init` needs: the sizes, with `dIn` always given. */
export interface ExpertInitDims {
  readonly numExperts: number;
  readonly dIn: number;
  readonly dOut: number;
  readonly hidden?: number;
}

/**
 * A family of E experts sharing one parameter pytree `P` (leaves `[E, ...]`).
 * Implementations are plain objects of pure functions.
 */
export interface Experts<P = unknown> {
  /** The factory's name, used in error messages. */
  readonly name: string;
  /** Fresh parameters from a random key. */
  init(key: Tensor, dims: ExpertInitDims, dtype?: FloatDType): P;
  /** Validates a parameter pytree and returns its sizes (throws MoeConfigError on mismatched shapes). */
  dims(params: P, where?: string): ExpertDims;
  /** Applies each row's expert: `x` [M, dIn] in expert groups -> [M, dOut]. */
  apply(params: P, x: Tensor, groups: ExpertGroups): Tensor;
}

/** Experts that define a likelihood p(y | x, expert), for mixture NLLs and EM. */
export interface ProbabilisticExperts<P = unknown> extends Experts<P> {
  /** log p(y_r | x_r, expert of row r) for each row: [M]. */
  logLikelihood(params: P, x: Tensor, y: Tensor, groups: ExpertGroups): Tensor;
}

/**
 * Groups of equal size: `rowsPerExpert` rows for each of `numExperts` experts
 * (the layout of a capacity buffer, of expert-choice routing and of dense mixtures).
 * @example uniformGroups(3, 2) // sizes [2,2,2], ids [0,0,1,1,2,2]
 */
export function uniformGroups(numExperts: number, rowsPerExpert: Dim): ExpertGroups {
  const sizes =
    typeof rowsPerExpert === "number"
      ? full([numExperts], rowsPerExpert, "i32")
      : broadcastTo(dimScalar(rowsPerExpert), [numExperts]);
  return { sizes, ids: repeatEach(iota(numExperts), rowsPerExpert) };
}

/**
 * A grouped affine map: row r gets `x_r W[g] + b[g]` with g its expert
 * (one `raggedMatmul` plus a gathered bias).
 */
export function groupedLinear(x: Tensor, w: Tensor, b: Tensor | undefined, groups: ExpertGroups): Tensor {
  const y = raggedMatmul(x, w, groups.sizes);
  return b === undefined ? y : add(y, take(b, groups.ids));
}
