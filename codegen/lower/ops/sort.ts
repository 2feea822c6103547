/**
 * topK indices and stable argsort along the last axis. The order: larger first
 * for descending, equal values by lower index, NaN last. Two schedules, the
 * same kernels on every target, deterministic, no atomics:
 * - short rows (a static length up to RANK_MAX, e.g. top-k over experts): one
 *   kernel, one thread per element counts the elements of its row that sort
 *   before it, which is its position (O(n) per element, no scratch);
 * - longer rows and named lengths: bottom-up merge passes (merge_sort.ts),
 *   O(n log^2 n) work in all; top-k keeps the first k places of the last pass.
 */
import type { Eqn, Var } from "../../../dsl/program";
import type { Dim } from "../../../dsl/shape";
import { c, select, type Expr } from "../../kernel_ir";
import { delinearize, dimExpr, iadd, imul, linearize, numelExpr, numelSize } from "../index_math";
import { and, eq, gt, isNan, lt, notNan, or } from "../ir_ops";
import { gridFor, perItem } from "../kernels/common";
import type { KernelHandle, OpContext } from "../op_context";
import { emitRowSort } from "./merge_sort";

/** Whether element j (value xj) comes before element i (value xi) in the stable order. */
function before(xj: Expr, xi: Expr, j: Expr, i: Expr, descending: boolean): Expr {
  const first = lt(j, i);
  const better = descending ? gt(xj, xi) : lt(xj, xi);
  return select(isNan(xi), or(notNan(xj), first), or(better, and(eq(xj, xi), first)), "bool");
}

/** Emits `rank = #{j before i}` for element `i` of the row at `rowIdx`; returns the rank. */
function rankOf(k: KernelHandle, x: Var, rowIdx: readonly Expr[], i: Expr, descending: boolean): Expr {
  const { kb, values } = k;
  const n = x.shape[x.shape.length - 1]!;
  const xi = values.at(x, [...rowIdx, i]);
  const rank = kb.mutable(c(0), "rank", "i32");
  kb.for(c(0), dimExpr(n), (j) => {
    const xj = values.at(x, [...rowIdx, j]);
    kb.if(before(xj, xi, j, i, descending), () => kb.assign(rank, iadd(rank, c(1))));
  }, "j");
  return rank;
}

/** Longest static row sorted by ranking in one kernel; longer (or named) rows are merge-sorted. */
const RANK_MAX = 64;

function lowerSorted(ctx: OpContext, e: Eqn, descending: boolean, keep: number | undefined): void {
  const x = e.inputs[0]!;
  const n = x.shape[x.shape.length - 1]!;
  if (typeof n === "number" && n <= RANK_MAX) return lowerRanked(ctx, e, descending, keep);
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

function lowerRanked(ctx: OpContext, e: Eqn, descending: boolean, keep: number | undefined): void {
  const x = e.inputs[0]!;
  const rowShape: Dim[] = x.shape.slice(0, -1);
  const wg = ctx.schedule.knobs.elementwiseWorkgroup;
  const k = ctx.kernel(e.prim, wg);
  const { kb } = k;
  const out = ctx.output(k, e.out);
  const flat = perItem(kb, numelExpr(x.shape));
  const idx = delinearize(flat, x.shape).map((i) => kb.let(i, "i"));
  const rowIdx = idx.slice(0, -1);
  const i = idx[idx.length - 1]!;
  const rank = rankOf(k, x, rowIdx, i, descending);
  const width = keep === undefined ? x.shape[x.shape.length - 1]! : keep;
  const store = () => kb.store(out, iadd(imul(linearize(rowIdx, rowShape), dimExpr(width)), rank), i);
  if (keep === undefined) store();
  else kb.if(lt(rank, c(keep)), store);
  ctx.launch(k, gridFor(numelSize(x.shape), wg), ctx.describe(e));
}

export function lowerTopKIndices(ctx: OpContext, e: Eqn<"topKIndices">): void {
  lowerSorted(ctx, e, true, e.params.k);
}

export function lowerArgsort(ctx: OpContext, e: Eqn<"argsort">): void {
  lowerSorted(ctx, e, e.params.descending, undefined);
}
