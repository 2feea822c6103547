/**
 * Scatters through topK indices as gathers (expert choice: each expert's row
 * of picked tokens). A topK's picks are distinct within each row, so the
 * **slot table** table[r, p] = the pick j of row r with index p, or -1, is
 * written without conflicts: one workgroup per row clears its row, then
 * writes one entry per pick (no atomics, no sort). With it:
 * - scatterAdd(x, flatten(picks), u) along axis 0 onto the row length (the
 *   expert-choice combine and its dX transpose): out[p, i] = x[p, i] + the sum
 *   over rows r of u[r·k + table[r, p], i] where the entry is not -1, rows in
 *   order (the interpreter's update order);
 * - scatterAddAlong(x, picks, u) along the last axis (topK's backward):
 *   out[r, p] = x[r, p] + u[r, table[r, p]] where the entry is not -1.
 * One thread per output element reads rows-many (or one) table entries
 * instead of scanning every pick, the table is shared by every scatter
 * through the same picks, and no index check is needed (picks are in range).
 */
import type { Dim } from "../../../dsl/shape";
import { dimEq } from "../../../dsl/dims";
import type { Eqn, Var } from "../../../dsl/program";
import type { TopKRows } from "../../analysis/value_facts";
import { c, type Expr } from "../../kernel_ir";
import { scalarType } from "../../types";
import { delinearizeBound, dimExpr, iadd, imax, imin, imul, isub, linearize, numelSize } from "../index_math";
import { add, ge } from "../ir_ops";
import { gridFor, groupId, localId, perItem } from "../kernels/common";
import type { OpContext } from "../op_context";
import { ownerComputes } from "./owner_computes";

/** The topK picks a scatterAdd along axis 0 or a scatterAddAlong along the last axis goes through, onto their row length. */
export function slotTablePicks(ctx: OpContext, e: Eqn<"scatterAdd"> | Eqn<"scatterAddAlong">): TopKRows | undefined {
  const [x, ind] = e.inputs as [Var, Var, Var];
  const picks = ctx.facts.topKRows(ind);
  if (!picks) return undefined;
  if (e.prim === "scatterAdd")
    return e.params.axis === 0 && ind.shape.length === 1 && dimEq(x.shape[0]!, picks.n) ? picks : undefined;
  const last = x.shape.length - 1;
  return ind === picks.indices && e.params.axis === last && dimEq(x.shape[last]!, picks.n) ? picks : undefined;
}

/** The slot table of `picks` (i32 [rows, n]), written once per bundle. */
function slotTable(ctx: OpContext, picks: TopKRows): string {
  return ctx.once(`slot-table:${picks.indices.id}`, () => {
    const { rows, k, n } = picks;
    const table = ctx.temp("i32", numelSize([rows, n]), "slot_table");
    const parallel = ctx.schedule.sharedMemory;
    const W = parallel ? ctx.schedule.knobs.elementwiseWorkgroup : 1;
    const h = ctx.kernel("slot_table", W);
    const { kb, values } = h;
    const out = ctx.bindTemp(h, table, "readWrite");
    // One workgroup per row on GPU schedules (its threads stride over the row), one thread per row else.
    const r = parallel ? groupId(kb) : perItem(kb, dimExpr(rows));
    const t = parallel ? localId(kb) : c(0);
    const base = kb.let(imul(r, dimExpr(n)), "base");
    kb.for(t, dimExpr(n), (p) => kb.store(out, iadd(base, p), c(-1)), "p", c(W));
    if (parallel) kb.barrier();
    kb.for(
      t,
      dimExpr(k),
      (j) => {
        // Picks are in [0, n); clamped all the same, so no write can leave the row.
        const p = imin(imax(values.at(picks.indices, [...rowIndex(picks, r), j]), c(0)), isub(dimExpr(n), c(1)));
        kb.store(out, iadd(base, p), j);
      },
      "j",
      c(W),
    );
    ctx.launch(
      h,
      parallel ? numelSize([rows]) : gridFor(rows, 1),
      `slot table of ${picks.indices}: each row's pick j of each position, or -1 (for the scatters through it)`,
    );
    return table;
  });
}

/** The outer index of flat row `r` of the picks. */
function rowIndex(picks: TopKRows, r: Expr): Expr[] {
  const outer: Dim[] = picks.indices.shape.slice(0, -1);
  return delinearizeBound(r, outer, (q) => q);
}

export function lowerSlotTableScatter(
  ctx: OpContext,
  e: Eqn<"scatterAdd"> | Eqn<"scatterAddAlong">,
  picks: TopKRows,
): void {
  const [x, , upd] = e.inputs as [Var, Var, Var];
  const t = scalarType(e.out.dtype);
  const table = slotTable(ctx, picks);
  const along = e.prim === "scatterAddAlong";
  const axis = along ? x.shape.length - 1 : 0;
  const comment =
    `${ctx.describe(e)}\n(through the slot table of the topK picks ${picks.indices}: each output adds the pick of ` +
    `${along ? "its row" : "each row, rows in order"}, if any)`;
  ownerComputes(ctx, e, x, axis, "combine", comment, (k, acc, o, p, i) => {
    const slots = ctx.bindTemp(k, table, "read");
    /** Adds update `at(j)` when row r's table entry at position p holds a pick j. */
    const addPick = (r: Expr, at: (j: Expr) => Expr[]) => {
      const entry = iadd(imul(r, dimExpr(picks.n)), p);
      const j = k.kb.let({ kind: "load", buffer: slots, index: entry, type: "i32" }, "j");
      k.kb.if(ge(j, c(0)), () => k.kb.assign(acc, add(acc, k.values.at(upd, at(j)), t)));
    };
    if (along) addPick(k.kb.let(linearize(o, x.shape.slice(0, -1)), "row"), (j) => [...o, j]);
    else k.kb.for(c(0), dimExpr(picks.rows), (r) => addPick(r, (j) => [iadd(imul(r, dimExpr(picks.k)), j), ...i]), "r");
  });
}
