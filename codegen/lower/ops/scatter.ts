/**
 * Scatter-adds and bincount, deterministic by default:
 * - `serial` (JS): one thread per line adds the updates in index order (the
 *   interpreter's order, so results match bit for bit);
 * - `segment` (GPU): updates are stably sorted by target index (merge passes), each
 *   target finds its segment by binary search, then each output element sums
 *   its own segment in index order (owner computes: no atomics, run-to-run
 *   identical);
 * - `atomic` (only when asked for, integer data only): integer atomics.
 * Out-of-range indices are skipped (the interpreter raises instead).
 */
import type { Eqn, Var } from "../../../dsl/program";
import type { Dim, Shape } from "../../../dsl/shape";
import { dimAdd } from "../../../dsl/dims";
import { c, select, type Expr } from "../../kernel_ir";
import { scalarType } from "../../types";
import { delinearize, delinearizeBound, dimExpr, iadd, idiv, linearize, numelExpr, numelSize } from "../index_math";
import { add, and, eq, ge, lt, or } from "../ir_ops";
import { gridFor, perItem } from "../kernels/common";
import type { KernelHandle, OpContext } from "../op_context";
import { emitRowSort } from "./merge_sort";
import { countingSort, usesCountingSort } from "./counting_sort";
import { gatherSumPlan, lowerGatherSum } from "./gather_sum";
import { ownerComputes } from "./owner_computes";
import { lowerSegmentSum } from "./segment_sum";
import { lowerSlotTableScatter, slotTablePicks } from "./slot_table";
import { indexInRange } from "../../analysis/value_facts";
import type { ExprLowering } from "../rule";

const inRange = (i: Expr, n: Expr): Expr => and(ge(i, c(0)), lt(i, n));

/** Shapes around `axis`: outer dims, the axis length, inner dims. */
function around(shape: Shape, axis: number): { outer: Dim[]; len: Dim; inner: Dim[] } {
  return { outer: shape.slice(0, axis), len: shape[axis]!, inner: shape.slice(axis + 1) };
}

/** Kernel writing out = x, one thread per element (the first step of the atomic path). */
function copyKernel(ctx: OpContext, e: Eqn, x: Var): void {
  const wg = ctx.schedule.knobs.elementwiseWorkgroup;
  const k = ctx.kernel("copy", wg);
  const flat = perItem(k.kb, numelExpr(x.shape));
  const idx = delinearizeBound(flat, x.shape, (i) => k.kb.let(i, "i"));
  k.kb.store(ctx.output(k, e.out), flat, k.values.at(x, idx));
  ctx.launch(k, gridFor(numelSize(x.shape), wg), `${ctx.describe(e)} (copy of the operand)`);
}

/**
 * Serial (JS): one thread per line (o, i) copies x's line, then adds update j
 * (`update` gives its target index and value) for j = 0 .. count-1, in order.
 */
function serialLines(
  ctx: OpContext,
  e: Eqn,
  x: Var,
  axis: number,
  hint: string,
  count: Expr,
  update: (k: KernelHandle, o: Expr[], j: Expr, i: Expr[]) => { target: Expr; value: () => Expr },
): void {
  const { outer, len, inner } = around(x.shape, axis);
  const t = scalarType(e.out.dtype);
  const lineShape: Dim[] = [...outer, ...inner];
  const k = ctx.kernel(hint, 1);
  const { kb, values } = k;
  const out = ctx.output(k, e.out);
  const li = delinearize(perItem(kb, numelExpr(lineShape)), lineShape).map((q) => kb.let(q, "l"));
  const o = li.slice(0, outer.length);
  const i = li.slice(outer.length);
  kb.for(
    c(0),
    dimExpr(len),
    (p) => {
      const idx = [...o, p, ...i];
      kb.store(out, linearize(idx, x.shape), values.at(x, idx));
    },
    "p",
  );
  kb.for(
    c(0),
    count,
    (j) => {
      const u = update(k, o, j, i);
      const p = kb.let(u.target, "p");
      if (!indexInRange(ctx.facts, e.inputs[1]!, len)) ctx.checkIndex(kb, e.prim, axis, p, dimExpr(len));
      kb.if(inRange(p, dimExpr(len)), () => {
        const at = kb.let(linearize([...o, p, ...i], x.shape), "at");
        kb.store(out, at, add({ kind: "load", buffer: out, index: at, type: t }, u.value(), t));
      });
    },
    "j",
  );
  ctx.launch(k, numelSize(lineShape), ctx.describe(e));
}

/**
 * The GPU scatter's segments: `perm` lists the updates stably sorted by target
 * index (out-of-range targets last), `starts[p]` is where target p's run
 * begins in that order (starts[len] = end of the valid ones).
 */
function scatterSegments(
  ctx: OpContext,
  e: Eqn<"scatterAdd">,
  indexAt: (k: KernelHandle, j: Expr) => Expr,
  n: Expr,
  axis: number,
): { perm: string; starts: string } {
  const [x, ind] = e.inputs as [Var, Var, Var];
  const len = x.shape[axis]!;
  const wg = ctx.schedule.knobs.elementwiseWorkgroup;
  const nSize = numelSize(ind.shape);
  const perm = ctx.temp("i32", nSize, "perm");
  const keys = ctx.temp("i32", nSize, "keys");
  const starts = ctx.temp("i32", dimAdd(len, 1), "starts");
  const keyOf = (k: KernelHandle, j: Expr) => {
    const p = k.kb.let(indexAt(k, j), "p");
    return k.kb.let(select(inRange(p, dimExpr(len)), p, dimExpr(len), "i32"), "key"); // invalid -> sorts last, never summed
  };
  emitRowSort(ctx, {
    rowShape: [],
    rowDims: ind.shape,
    keyAt: (k, _row, j) => keyOf(k, j),
    before: (kj, ki, j, i) => or(lt(kj, ki), and(eq(kj, ki), lt(j, i))),
    hint: "scatter_order",
    comment: `${ctx.describe(e)}: stable order of the updates by target index`,
    finish: (k, _row, _rowIdx, dest, j, key) => {
      ctx.checkIndex(k.kb, "scatterAdd", axis, indexAt(k, j), dimExpr(len));
      k.kb.store(ctx.bindTemp(k, perm, "readWrite"), dest, j);
      k.kb.store(ctx.bindTemp(k, keys, "readWrite"), dest, key);
    },
  });
  {
    const k = ctx.kernel("scatter_starts", wg);
    const { kb } = k;
    const target = perItem(kb, iadd(dimExpr(len), c(1)));
    const sorted = ctx.bindTemp(k, keys, "read");
    // lower_bound(keys, target): first position whose key is >= target.
    const lo = kb.mutable(c(0), "lo", "i32");
    const hi = kb.mutable(n, "hi", "i32");
    kb.for(
      c(0),
      c(32),
      () => {
        kb.if(lt(lo, hi), () => {
          const mid = kb.let(idiv(iadd(lo, hi), c(2)), "mid");
          kb.if(
            lt({ kind: "load", buffer: sorted, index: mid, type: "i32" }, target),
            () => kb.assign(lo, iadd(mid, c(1))),
            () => kb.assign(hi, mid),
          );
        });
      },
      "it",
    );
    kb.store(ctx.bindTemp(k, starts, "readWrite"), target, lo);
    ctx.launch(k, gridFor(dimAdd(len, 1), wg), `${ctx.describe(e)}: segment starts`);
  }
  return { perm, starts };
}

export function lowerScatterAdd(ctx: OpContext, e: Eqn<"scatterAdd">): void {
  // The inverse of the dispatch sort's permutation (the capacity dispatch's ranks) comes out of its kernel.
  const inverseOf = ctx.facts.countingSortOfInverse(e.out);
  if (inverseOf && usesCountingSort(ctx, inverseOf)) {
    countingSort(ctx, inverseOf);
    ctx.writtenEarlier(e.out);
    return;
  }
  // An index with a known structure (the MoE combine and its transposes): a gather-sum, one kernel.
  const gathered = gatherSumPlan(ctx, e);
  if (gathered) {
    lowerGatherSum(ctx, e, gathered);
    return;
  }
  // An index that is the dispatch sort's keys in sorted order (the FFN experts' bias gradient): a segment sum.
  const sorted = ctx.facts.countingSortOfSegmentSum(e.out);
  if (sorted && usesCountingSort(ctx, sorted)) {
    lowerSegmentSum(ctx, e, sorted);
    return;
  }
  // An index of topK picks flattened (the expert-choice combine): a gather through their slot table.
  const picks = slotTablePicks(ctx, e);
  if (picks) {
    lowerSlotTableScatter(ctx, e, picks);
    return;
  }
  const [x, ind, upd] = e.inputs as [Var, Var, Var];
  const { axis } = e.params;
  const { outer, len, inner } = around(x.shape, axis);
  const t = scalarType(e.out.dtype);
  const updAt = (k: KernelHandle, o: Expr[], j: Expr, i: Expr[]) =>
    k.values.at(upd, [...o, ...delinearize(j, ind.shape).map((q) => k.kb.let(q, "j")), ...i]);
  const indexAt = (k: KernelHandle, j: Expr) =>
    k.values.at(
      ind,
      delinearize(j, ind.shape).map((q) => k.kb.let(q, "j")),
    );
  const n = numelExpr(ind.shape);
  const mode =
    ctx.schedule.scatter === "atomic" && (t === "i32" || t === "u32")
      ? "atomic"
      : ctx.schedule.scatter === "serial"
        ? "serial"
        : "segment";

  if (mode === "serial") {
    serialLines(ctx, e, x, axis, "scatter_add", n, (k, o, j, i) => ({
      target: indexAt(k, j),
      value: () => updAt(k, o, j, i),
    }));
    return;
  }
  if (mode === "atomic") {
    copyKernel(ctx, e, x);
    const lineShape: Dim[] = [...outer, ...ind.shape, ...inner];
    const wg = ctx.schedule.knobs.elementwiseWorkgroup;
    const k = ctx.kernel("scatter_add_atomic", wg);
    const { kb } = k;
    const out = ctx.output(k, e.out, true);
    const li = delinearize(perItem(kb, numelExpr(lineShape)), lineShape).map((q) => kb.let(q, "l"));
    const o = li.slice(0, outer.length);
    const i = li.slice(outer.length + ind.shape.length);
    const j = kb.let(linearize(li.slice(outer.length, outer.length + ind.shape.length), ind.shape), "j");
    const p = kb.let(indexAt(k, j), "p");
    ctx.checkIndex(kb, "scatterAdd", axis, p, dimExpr(len));
    kb.if(inRange(p, dimExpr(len)), () => kb.atomicAdd(out, linearize([...o, p, ...i], x.shape), updAt(k, o, j, i)));
    ctx.launch(k, gridFor(numelSize(lineShape), wg), ctx.describe(e));
    return;
  }

  // segment: 1) stable order of the updates by target index (merge passes) -> perm, sorted keys;
  // 2) segment starts (both shared by every scatter with the same indices); 3) owner computes.
  const { perm, starts } = ctx.once(`scatter-segments:${ind.id}:${String(len)}`, () =>
    scatterSegments(ctx, e, indexAt, n, axis),
  );
  ownerComputes(
    ctx,
    e,
    x,
    axis,
    "scatter_sum",
    `${ctx.describe(e)}: each output sums its segment in index order`,
    (k, acc, o, p, i) => {
      const st = ctx.bindTemp(k, starts, "read");
      const pm = ctx.bindTemp(k, perm, "read");
      k.kb.for(
        { kind: "load", buffer: st, index: p, type: "i32" },
        { kind: "load", buffer: st, index: iadd(p, c(1)), type: "i32" },
        (s) => {
          const j = k.kb.let({ kind: "load", buffer: pm, index: s, type: "i32" }, "j");
          k.kb.assign(acc, add(acc, updAt(k, o, j, i), t));
        },
        "s",
      );
    },
  );
}

export function lowerScatterAddAlong(ctx: OpContext, e: Eqn<"scatterAddAlong">): void {
  const [x, ind, upd] = e.inputs as [Var, Var, Var];
  const { axis } = e.params;
  const t = scalarType(e.out.dtype);
  const len = x.shape[axis]!;
  const kk = ind.shape[axis]!;
  // topK's backward along a long axis: a gather through the picks' slot table.
  const picks = slotTablePicks(ctx, e);
  if (picks) {
    lowerSlotTableScatter(ctx, e, picks);
    return;
  }
  const proven = indexInRange(ctx.facts, ind, len); // e.g. topK's backward: its indices are in range
  if (ctx.schedule.scatter === "serial") {
    serialLines(ctx, e, x, axis, "scatter_add_along", dimExpr(kk), (k, o, j, i) => ({
      target: k.values.at(ind, [...o, j, ...i]),
      value: () => k.values.at(upd, [...o, j, ...i]),
    }));
    return;
  }
  ownerComputes(ctx, e, x, axis, "scatter_add_along", ctx.describe(e), (k, acc, o, p, i) => {
    k.kb.for(
      c(0),
      dimExpr(kk),
      (j) => {
        const target = k.values.at(ind, [...o, j, ...i]);
        if (!proven) ctx.checkIndex(k.kb, "scatterAddAlong", axis, target, dimExpr(len));
        k.kb.if(eq(target, p), () => k.kb.assign(acc, add(acc, k.values.at(upd, [...o, j, ...i]), t)));
      },
      "j",
    );
  });
}

/** Index axes this short make a scatterAddAlong an expression (`scatterAlongShortAxis`). */
export const SHORT_SCATTER_AXIS = 8;

/** Whether scatterAddAlong `e` scatters along an axis of at most SHORT_SCATTER_AXIS updates (topK's backward). */
export function isShortScatterAlong(e: Eqn<"scatterAddAlong">): boolean {
  const kk = e.inputs[1]!.shape[e.params.axis]!;
  return typeof kk === "number" && kk <= SHORT_SCATTER_AXIS;
}

/**
 * scatterAddAlong along a short axis as an expression: element (o, p, i) is
 * x[o, p, i] plus the updates j whose index is p, added in j order (the
 * interpreter's order; the owner-computes kernel's sum, computed in place by the
 * consumer, e.g. the softmax backward's row kernel reading topK's gradient).
 */
export const scatterAlongShortAxis: ExprLowering<"scatterAddAlong"> = (vals, e, idx) => {
  const [x, ind, upd] = e.inputs as [Var, Var, Var];
  const { axis } = e.params;
  const len = x.shape[axis]!;
  const proven = indexInRange(vals.source.facts, ind, len);
  const acc = vals.kb.mutable(vals.at(x, idx), "acc", scalarType(e.out.dtype));
  const kk = ind.shape[axis] as number;
  for (let j = 0; j < kk; j++) {
    const at = idx.map((q, a) => (a === axis ? c(j) : q));
    const target = vals.kb.let(vals.at(ind, at), "hit");
    if (!proven) vals.source.checkIndex(vals.kb, "scatterAddAlong", axis, target, dimExpr(len));
    vals.kb.if(eq(target, idx[axis]!), () => vals.kb.assign(acc, add(acc, vals.at(upd, at), acc.type)));
  }
  return acc;
};

export function lowerBincount(ctx: OpContext, e: Eqn<"bincount">): void {
  const x = e.inputs[0]!;
  const { length } = e.params;
  const n = x.shape[0]!;
  // The counts of keys that are also counting-sorted come out of the dispatch sort's kernel.
  const plan = ctx.facts.countingSortOfKeys(x);
  if (plan && plan.counts.includes(e) && usesCountingSort(ctx, plan)) {
    countingSort(ctx, plan);
    ctx.writtenEarlier(e.out);
    return;
  }
  if (ctx.schedule.scatter === "serial") {
    const k = ctx.kernel("bincount", 1);
    const { kb, values } = k;
    const out = ctx.output(k, e.out);
    perItem(kb, c(1));
    kb.for(c(0), dimExpr(length), (b) => kb.store(out, b, c(0)), "b");
    kb.for(
      c(0),
      dimExpr(n),
      (i) => {
        const v = kb.let(values.at(x, [i]), "v");
        ctx.checkIndex(kb, "bincount", 0, v, dimExpr(length));
        kb.if(inRange(v, dimExpr(length)), () =>
          kb.store(out, v, iadd({ kind: "load", buffer: out, index: v, type: "i32" }, c(1))),
        );
      },
      "i",
    );
    ctx.launch(k, 1, ctx.describe(e));
    return;
  }
  // One thread per bin counts its value (integer counts: deterministic).
  const wg = ctx.schedule.knobs.elementwiseWorkgroup;
  const k = ctx.kernel("bincount", wg);
  const { kb, values } = k;
  const out = ctx.output(k, e.out);
  const b = perItem(kb, dimExpr(length));
  const count = kb.mutable(c(0), "count", "i32");
  kb.for(
    c(0),
    dimExpr(n),
    (i) => {
      ctx.checkIndex(kb, "bincount", 0, values.at(x, [i]), dimExpr(length));
      kb.if(eq(values.at(x, [i]), b), () => kb.assign(count, iadd(count, c(1))));
    },
    "i",
  );
  kb.store(out, b, count);
  ctx.launch(k, gridFor(length, wg), ctx.describe(e));
}
