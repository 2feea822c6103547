/**
 * topK indices and stable argsort along the last axis, by `emitRowSort`
 * (merge_sort.ts: ranking within runs of 64, then merge passes; rows of up to
 * 64 elements, e.g. top-k over experts, are one kernel). The order: larger
 * first for descending, equal values by lower index, NaN as the largest value
 * (first descending, last ascending, like `argmax`). top-k keeps the
 * first k places of the last kernel.
 */
import type { Eqn } from "../../../dsl/program";
import type { Dim } from "../../../dsl/shape";
import { c, select, type Expr } from "../../kernel_ir";
import { dimExpr, iadd, imul } from "../index_math";
import { and, eq, gt, isNan, lt, notNan, or } from "../ir_ops";
import type { OpContext } from "../op_context";
import { emitRowSort } from "./merge_sort";
import { countingSort, usesCountingSort } from "./counting_sort";

/**
 * Whether element j (value xj) comes before element i (value xi) in the stable
 * order, NaN ranking as the largest value (the interpreter's `sortedOrder`):
 * NaNs come first descending, last ascending, among themselves by index. The
 * NaN tests are explicit so no comparison with a NaN operand is relied on.
 */
export function before(xj: Expr, xi: Expr, j: Expr, i: Expr, descending: boolean): Expr {
  const first = lt(j, i);
  const better = descending ? gt(xj, xi) : lt(xj, xi);
  const numbers = or(better, and(eq(xj, xi), first));
  // The element that leads when exactly one side is NaN: j when descending and xj is NaN.
  const [leadNan, otherNan] = descending ? [xj, xi] : [xi, xj];
  return select(isNan(leadNan), or(notNan(otherNan), first), and(notNan(otherNan), numbers), "bool");
}

function lowerSorted(ctx: OpContext, e: Eqn, descending: boolean, keep: number | undefined): void {
  const x = e.inputs[0]!;
  const n = x.shape[x.shape.length - 1]!;
  const rowShape: Dim[] = x.shape.slice(0, -1);
  const width = keep ?? n;
  emitRowSort(ctx, {
    rowShape,
    rowDims: [n],
    keyAt: (k, rowIdx, i) => k.values.at(x, [...rowIdx, i]),
    before: (kj, ki, j, i) => before(kj, ki, j, i, descending),
    hint: e.prim,
    comment: ctx.describe(e),
    finish: (k, rowFlat, _rowIdx, dest, me) => {
      const out = ctx.output(k, e.out);
      const store = () => k.kb.store(out, iadd(imul(rowFlat, dimExpr(width)), dest), me);
      if (keep === undefined) store();
      else k.kb.if(lt(dest, c(keep)), store);
    },
  });
}

export function lowerTopKIndices(ctx: OpContext, e: Eqn<"topKIndices">): void {
  lowerSorted(ctx, e, true, e.params.k);
}

export function lowerArgsort(ctx: OpContext, e: Eqn<"argsort">): void {
  // Keys in a small known range (expert ids): the one-kernel dispatch sort.
  const plan = ctx.facts.countingSortOfPerm(e.out);
  if (plan && usesCountingSort(ctx, plan)) {
    countingSort(ctx, plan);
    ctx.writtenEarlier(e.out);
    return;
  }
  lowerSorted(ctx, e, e.params.descending, undefined);
}
