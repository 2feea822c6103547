/**
 * A scatterAdd through sorted keys as a segment sum: scatterAdd(x, take(keys,
 * perm), u) along axis 0 with perm the dispatch sort's permutation of `keys`
 * (`CountingSortPlan.segmentSums` in analysis/value_facts.ts; in MoE, the
 * bias gradient of FFN experts: each sorted row's gradient added to its
 * expert's bias). The index is the keys in sorted order, so target b's updates
 * are exactly rows [start(b), start(b + 1)), the bin bounds the dispatch sort
 * writes: one thread per output element sums its run, in row order (the
 * interpreter's order), no sort of the indices, no atomics, no index check
 * (sorted keys are in range by construction), the elementwise producer of `u`
 * computed in place.
 */
import type { Eqn, Var } from "../../../dsl/program";
import type { CountingSortPlan } from "../../analysis/value_facts";
import { c, type Expr } from "../../kernel_ir";
import { scalarType } from "../../types";
import { iadd, imin } from "../index_math";
import { add } from "../ir_ops";
import type { OpContext } from "../op_context";
import { countingSort } from "./counting_sort";
import { ownerComputes } from "./owner_computes";

export function lowerSegmentSum(ctx: OpContext, e: Eqn<"scatterAdd">, plan: CountingSortPlan): void {
  const [x, , upd] = e.inputs as [Var, Var, Var];
  const { bounds } = countingSort(ctx, plan);
  if (!bounds) throw new Error(`internal: the dispatch sort of ${plan.keys} wrote no bin bounds for ${e.out}`);
  const t = scalarType(e.out.dtype);
  const comment =
    `${ctx.describe(e)}\n(segment sum: the index is the keys ${plan.keys} in sorted order, so each output sums ` +
    `its key's contiguous run of rows, bounds from the dispatch sort, in row order)`;
  ownerComputes(ctx, e, x, 0, "segment_sum", comment, (k, acc, _o, p, i) => {
    const starts = ctx.bindTemp(k, bounds, "read");
    // Targets past the last bin (x longer than the key range) get no rows: both bounds are n.
    const start = (b: Expr): Expr => ({ kind: "load", buffer: starts, index: imin(b, c(plan.bins)), type: "i32" });
    k.kb.for(start(p), start(iadd(p, c(1))), (r) => k.kb.assign(acc, add(acc, k.values.at(upd, [r, ...i]), t)), "r");
  });
}
