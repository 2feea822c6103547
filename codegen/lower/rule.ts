/**
 * The shape of a lowering rule: how one primitive becomes kernel IR. Rules come
 * in a few kinds, and the kind is also what the fusion pass reads:
 * - `expr`: an elementwise / indexing expression, evaluated per output element
 *   at an index (fusable into any consumer's kernel; `movement` ones only remap
 *   indices and are cheap enough to recompute in every consumer). Its `indexMap`
 *   tells fusion where it reads each input, given where its output is read;
 * - `reduce`: a reduction over axes (its own row kernel, with prologue and epilogue fused);
 * - `matmul`: a contraction (a tiled kernel, epilogue fused; grouped GEMMs also with siblings);
 * - `op`: a primitive with its own kernel(s) (scans, sorts, scatters, grouped GEMMs);
 * - `inline`: calls that a graph pass inlines before lowering (customVjpCall);
 * - `unsupported`: no lowering; `compile` fails naming the op and the reason.
 */
import type { Eqn } from "../../dsl/program";
import type { Primitive } from "../../dsl/primitives/params";
import { sameShape } from "../../dsl/shape";
import type { Expr } from "../kernel_ir";
import type { OpLowering } from "./op_context";
import type { ValueLowerer } from "./values";

/** Computes the value of `eqn.out` at a multi-index, reading operands through `values`. */
export type ExprLowering<P extends Primitive> = (values: ValueLowerer, eqn: Eqn<P>, idx: readonly Expr[]) => Expr;

/**
 * Where each index of a value read by a kernel comes from: an axis of the
 * kernel's domain, the literal 0, or unknown (`null`: computed, e.g. a gather's
 * data-dependent index or a reshape's div/mod). Fusion compares these maps to
 * decide whether a producer can be computed where a consumer reads it.
 */
export type IndexComp = number | "zero" | null;
export type IndexMap = readonly IndexComp[];

/** The map of input `pos` of `eqn`, given the map its output is read with. */
export type IndexMapRule<P extends Primitive> = (eqn: Eqn<P>, pos: number, out: IndexMap) => IndexMap;

/** Nothing is known about the indices (every component unknown). */
export const opaqueMap = (rank: number): IndexMap => new Array<IndexComp>(rank).fill(null);

/** Elementwise: an input of the output's shape is read at the output's index. */
export const elementwiseMap: IndexMapRule<Primitive> = (eqn, pos, out) => {
  const x = eqn.inputs[pos]!;
  return sameShape(x.shape, eqn.out.shape) ? out : opaqueMap(x.shape.length);
};

/** Reads its inputs at unknown indices (pads, concats, gathers, hashes of the flat index). */
export const opaqueInputs: IndexMapRule<Primitive> = (eqn, pos) => opaqueMap(eqn.inputs[pos]!.shape.length);

export type LoweringRule<P extends Primitive> =
  | {
      readonly kind: "expr";
      readonly expr: ExprLowering<P>;
      /**
       * Only remaps indices (cheap: recomputed in every consuming kernel); `indexed`:
       * through data-dependent indices (take, gather), recomputed only where one kernel reads it.
       */
      readonly movement: false | "static" | "indexed";
      readonly indexMap: IndexMapRule<P>;
    }
  | { readonly kind: "reduce" }
  | {
      readonly kind: "matmul";
      /**
       * A grouped GEMM (inputs [a, b, groupSizes]: rows in contiguous groups, one
       * weight per group). Sibling grouped GEMMs over the same rows share a kernel.
       */
      readonly grouped?: true;
    }
  | {
      readonly kind: "op";
      readonly lower: OpLowering<P>;
      /**
       * Input positions the op's kernels read O(1) times per element (through
       * `values.at`), so elementwise producers there may be computed inline
       * instead of written to a buffer first (a scatter's updates, a scan's input).
       */
      readonly inlineOperands?: readonly number[];
      /**
       * Equations of the op that are cheap per-element expressions (a scatter along
       * a short axis: each element sums its few hits). Fusion and kernels treat those
       * as non-movement `expr` equations (`ruleOf`); the rest keep the op's kernels.
       */
      readonly asExpr?: {
        readonly when: (eqn: Eqn<P>) => boolean;
        readonly expr: ExprLowering<P>;
        readonly indexMap: IndexMapRule<P>;
      };
    }
  | { readonly kind: "inline" }
  | { readonly kind: "unsupported"; readonly reason: string };

/** One rule per primitive: a primitive missing here is a compile error. */
export type LoweringTable = { readonly [P in Primitive]: LoweringRule<P> };

/**
 * The rule for one equation: its primitive's rule, or, for an op equation its
 * rule's `asExpr` covers, that expression as a non-movement `expr` rule.
 */
export function ruleOf(table: LoweringTable, eqn: Eqn): LoweringRule<Primitive> {
  const rule = table[eqn.prim] as LoweringRule<Primitive>;
  if (rule.kind !== "op" || !rule.asExpr?.when(eqn)) return rule;
  return { kind: "expr", expr: rule.asExpr.expr, movement: false, indexMap: rule.asExpr.indexMap };
}
