/**
 * The shape of a lowering rule: how one primitive becomes kernel IR. Rules come
 * in a few kinds, and the kind is also what the fusion pass reads:
 * - `expr`: an elementwise / indexing expression, evaluated per output element
 *   at an index (fusable into any consumer's kernel; `movement` ones only remap
 *   indices and are cheap enough to recompute in every consumer);
 * - `reduce`: a reduction over axes (its own row kernel, with prologue and epilogue fused);
 * - `matmul`: a contraction (a tiled kernel, epilogue fused);
 * - `op`: a primitive with its own kernel(s) (scans, sorts, scatters, grouped GEMMs);
 * - `inline`: calls that a graph pass inlines before lowering (customVjpCall);
 * - `unsupported`: no lowering; `compile` fails naming the op and the reason.
 */
import type { Eqn } from "../../dsl/program";
import type { Primitive } from "../../dsl/primitives/params";
import type { Expr } from "../kernel_ir";
import type { OpLowering } from "./op_context";
import type { ValueLowerer } from "./values";

/** Computes the value of `eqn.out` at a multi-index, reading operands through `values`. */
export type ExprLowering<P extends Primitive> = (values: ValueLowerer, eqn: Eqn<P>, idx: readonly Expr[]) => Expr;

export type LoweringRule<P extends Primitive> =
  | { readonly kind: "expr"; readonly movement: boolean; readonly expr: ExprLowering<P> }
  | { readonly kind: "reduce" }
  | { readonly kind: "matmul" }
  | {
      readonly kind: "op";
      readonly lower: OpLowering<P>;
      /**
       * Input positions the op's kernels read O(1) times per element (through
       * `values.at`), so elementwise producers there may be computed inline
       * instead of written to a buffer first (a scatter's updates, a scan's input).
       */
      readonly inlineOperands?: readonly number[];
    }
  | { readonly kind: "inline" }
  | { readonly kind: "unsupported"; readonly reason: string };

/** One rule per primitive: a primitive missing here is a compile error. */
export type LoweringTable = { readonly [P in Primitive]: LoweringRule<P> };
