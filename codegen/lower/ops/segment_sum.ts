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
import { delinearizeBound, iadd, imin, numelExpr, numelSize } from "../index_math";
import { add } from "../ir_ops";
import { gridFor, perItem } from "../kernels/common";
import type { OpContext } from "../op_context";
import { countingSort } from "./counting_sort";

export function lowerSegmentSum(ctx: OpContext, e: Eqn<"scatterAdd">, plan: CountingSortPlan): void {
  const [x, , upd] = e.inputs as [Var, Var, Var];
  const { bounds } = countingSort(ctx, plan);
  if (!bounds) throw new Error(`internal: the dispatch sort of ${plan.keys} wrote no bin bounds for ${e.out}`);
  const t = scalarType(e.out.dtype);
  const wg = ctx.schedule.knobs.elementwiseWorkgroup;
  const k = ctx.kernel("segment_sum", wg);
  const { kb, values } = k;
  const out = ctx.output(k, e.out);
  const starts = ctx.bindTemp(k, bounds, "read");
  const flat = perItem(kb, numelExpr(x.shape));
  const idx = delinearizeBound(flat, x.shape, (q) => kb.let(q, "i"));
  // Targets past the last bin (x longer than the key range) get no rows: both bounds are n.
  const start = (b: Expr): Expr => ({ kind: "load", buffer: starts, index: imin(b, c(plan.bins)), type: "i32" });
  const acc = kb.mutable(values.at(x, idx), "acc", t);
  kb.for(
    start(idx[0]!),
    start(iadd(idx[0]!, c(1))),
    (r) => kb.assign(acc, add(acc, values.at(upd, [r, ...idx.slice(1)]), t)),
    "r",
  );
  kb.store(out, flat, acc);
  ctx.launch(
    k,
    gridFor(numelSize(x.shape), wg),
    `${ctx.describe(e)}\n(segment sum: the index is the keys ${plan.keys} in sorted order, so each output sums ` +
      `its key's contiguous run of rows, bounds from the dispatch sort, in row order)`,
  );
}
