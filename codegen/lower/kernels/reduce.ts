/**
 * Row kernels: one or more reductions over the same rows, with their
 * elementwise prologue (the reduced values are computed in the loop that
 * reads them) and epilogue (per-element outputs of the row, e.g. softmax's
 * `exp(x - max) / sum`, and per-row outputs, e.g. logsumexp's `log(sum) + max`).
 *
 * Schedules: one thread per row looping over it (the JS target; short rows on
 * GPUs), or one workgroup per row: threads stride over the row, then a
 * shared-memory tree reduce (log2(workgroup) steps, each followed by a barrier).
 */
import type { Eqn, Var } from "../../../dsl/program";
import { sameShape, type Dim } from "../../../dsl/shape";
import { c, cast, select, type Expr, type ScalarType } from "../../kernel_ir";
import { keptAxes, outerShapeKind, type FusionGroup } from "../../passes/fusion";
import { scalarType } from "../../types";
import { delinearize, iadd, linearize, numelExpr, numelSize } from "../index_math";
import type { Lowering } from "../lower";
import type { KernelHandle } from "../op_context";
import { globalId, gridFor, groupId, localId } from "./common";
import { ge, isNan, notNan, sharedLoad } from "../ir_ops";
import type { KernelBuilder } from "../builder";
import { rowPrologueOp, rowOp } from "./router";

/** A reduction's running state: a value, and for argmax/argmin the index it came from. */
interface State {
  readonly value: Expr;
  readonly index?: Expr;
}

/** How one reduction primitive starts, combines and finishes. */
interface Reducer {
  readonly type: ScalarType;
  readonly withIndex: boolean;
  identity(): State;
  /** The state after folding `b` into `a` (pure expressions). */
  combine(a: State, b: State): State;
  result(s: State): Expr;
}

const bin = (op: "add" | "gt" | "lt" | "ne" | "eq" | "or" | "and", a: Expr, b: Expr, type: ScalarType): Expr => ({
  kind: "binary",
  op,
  lhs: a,
  rhs: b,
  type,
});

function extreme(type: ScalarType, largest: boolean): Expr {
  if (type === "i32") return c(largest ? 2147483647 : -2147483648, "i32");
  return c(largest ? Infinity : -Infinity, type);
}

/** The reducer of a reduction equation (`acc` is the schedule's accumulator type for sums). */
function reducerOf(e: Eqn, accumulator: (t: ScalarType) => ScalarType): Reducer {
  const xType = scalarType(e.inputs[0]!.dtype);
  const outType = scalarType(e.out.dtype);
  switch (e.prim) {
    case "reduceSum": {
      const acc = accumulator(outType);
      return {
        type: acc,
        withIndex: false,
        identity: () => ({ value: c(0, acc) }),
        combine: (a, b) => ({ value: bin("add", a.value, b.value, acc) }),
        result: (s) => (acc === outType ? s.value : cast(s.value, outType)),
      };
    }
    case "reduceMax":
    case "reduceMin": {
      const op = e.prim === "reduceMax" ? "gt" : "lt";
      // NaN wins and stays (like the interpreter).
      return {
        type: xType,
        withIndex: false,
        identity: () => ({ value: extreme(xType, e.prim === "reduceMin") }),
        combine: (a, b) => ({
          value: select(bin("or", bin(op, b.value, a.value, "bool"), isNan(b.value), "bool"), b.value, a.value, xType),
        }),
        result: (s) => s.value,
      };
    }
    case "argmax":
    case "argmin": {
      const op = e.prim === "argmax" ? "gt" : "lt";
      // Take b when it is NaN (and a is not, or b comes first), or both are numbers
      // and b is better, or equal and first. Associative and commutative, so a
      // tree reduce gives the interpreter's answer (the first extreme, NaN first).
      return {
        type: xType,
        withIndex: true,
        identity: () => ({ value: extreme(xType, e.prim === "argmin"), index: c(2147483647) }),
        combine: (a, b) => {
          const first = bin("lt", b.index!, a.index!, "bool");
          const bothNumbers = bin("and", notNan(a.value), notNan(b.value), "bool");
          const better = bin(
            "or",
            bin(op, b.value, a.value, "bool"),
            bin("and", bin("eq", b.value, a.value, "bool"), first, "bool"),
            "bool",
          );
          const nanWins = bin("and", isNan(b.value), bin("or", notNan(a.value), first, "bool"), "bool");
          const takeB = bin("or", nanWins, bin("and", bothNumbers, better, "bool"), "bool");
          return { value: select(takeB, b.value, a.value, xType), index: select(takeB, b.index!, a.index!, "i32") };
        },
        result: (s) => s.index!,
      };
    }
    default:
      throw new Error(`internal: ${e.prim} is not a reduction`);
  }
}

/** Folds `b` into mutable state `acc`. */
function fold(kb: KernelBuilder, r: Reducer, acc: State, b: State): void {
  const next = r.combine(acc, b);
  if (r.withIndex) {
    const takeValue = kb.let(next.value, "m", r.type);
    const takeIndex = kb.let(next.index!, "mi", "i32");
    kb.assign(acc.value, takeValue);
    kb.assign(acc.index!, takeIndex);
  } else kb.assign(acc.value, next.value);
}

export function lowerReduceGroup(ctx: Lowering, g: FusionGroup): void {
  const D = g.domain;
  const keptShape: Dim[] = keptAxes(D, g.axes).map((i) => D[i]!);
  const rowShape: Dim[] = g.axes.map((i) => D[i]!);
  const sched = ctx.schedule.reduce(numelSize(rowShape), numelSize(keptShape));
  const k = ctx.kernel("reduce", sched.workgroupSize);
  const { kb } = k;
  const workgroup = sched.mode === "workgroup";

  // This thread's (or workgroup's) row, and the domain index of element r of it.
  let row: Expr;
  if (workgroup) row = groupId(kb);
  else {
    row = globalId(kb);
    kb.if(ge(row, numelExpr(keptShape)), () => kb.ret());
  }
  const at: RowAt = { row, keptIdx: delinearize(row, keptShape).map((e) => kb.let(e, "o")), shared: new Map() };
  // The router's logits (passes/router_fusion.ts: thread-per-row kernels only).
  for (const m of g.rowPrologue ?? []) rowPrologueOp(ctx, k, m, row);
  lowerRows(ctx, k, g, at, workgroup ? sched.workgroupSize : undefined);
  for (const e of g.rowOps ?? []) rowOp(ctx, k, e, row); // the router's topK and top-k values
  // Other row kernels over the same rows (thread-per-row only): their rows are complete in this thread.
  for (const s of g.rowSiblings ?? []) lowerRows(ctx, k, s, at, undefined);
  const rows = numelSize(keptShape);
  const siblings = g.rowSiblings ?? [];
  const described = siblings.length ? { ...g, mains: [...g.mains, ...siblings.flatMap((s) => s.mains)] } : g;
  ctx.launch(k, workgroup ? rows : gridFor(rows, sched.workgroupSize), ctx.describeGroup(described));
}

/** Where a row kernel is: its row, the row's index in the kept dims, and its shared arrays (workgroup rows). */
interface RowAt {
  readonly row: Expr;
  readonly keptIdx: readonly Expr[];
  readonly shared: Map<string, string>;
}

/**
 * The reductions of `g` over the current row, then its epilogue: per-element outputs over the row and
 * per-row outputs. `workgroupSize`: the row's threads (a shared-memory tree reduce), else one thread.
 */
function lowerRows(ctx: Lowering, k: KernelHandle, g: FusionGroup, at: RowAt, workgroupSize?: number): void {
  const { kb, values } = k;
  const D = g.domain;
  const kept = keptAxes(D, g.axes);
  const rowShape: Dim[] = g.axes.map((i) => D[i]!);
  const rowExpr = numelExpr(rowShape);
  const workgroup = workgroupSize !== undefined;
  const domainIndex = (r: Expr): Expr[] => {
    const red = delinearize(r, rowShape).map((e) => kb.let(e, "r"));
    const idx = new Array<Expr>(D.length);
    kept.forEach((a, j) => (idx[a] = at.keptIdx[j]!));
    g.axes.forEach((a, j) => (idx[a] = red[j]!));
    return idx;
  };
  /** Loops over this thread's elements of the row: all of it, or a workgroup-strided share. */
  const overRow = (body: (r: Expr) => void) => {
    if (workgroup) kb.for(localId(kb), rowExpr, body, "r", c(workgroupSize));
    else kb.for(c(0), rowExpr, body, "r");
  };
  const sharedOf = (t: ScalarType | "index") => {
    if (!at.shared.has(t))
      at.shared.set(t, kb.sharedArray(t === "index" ? "redi" : "red", t === "index" ? "i32" : t, workgroupSize!));
    return at.shared.get(t)!;
  };

  for (const e of g.mains) {
    const r = reducerOf(e, ctx.schedule.accumulator);
    kb.comment(`${ctx.describe(e)}`);
    const id = r.identity();
    const acc: State = {
      value: kb.mutable(id.value, "acc", r.type),
      ...(r.withIndex ? { index: kb.mutable(id.index!, "acci", "i32") } : {}),
    };
    overRow((i) => {
      const x = values.at(e.inputs[0]!, domainIndex(i));
      fold(kb, r, acc, {
        value: r.type === values.typeOf(e.inputs[0]!) ? x : cast(x, r.type),
        ...(r.withIndex ? { index: i } : {}),
      });
    });
    let final: State = acc;
    if (workgroup) {
      const lid = localId(kb);
      const vals = sharedOf(r.type);
      const sharedIndex = r.withIndex ? sharedOf("index") : undefined;
      kb.sharedStore(vals, lid, acc.value);
      if (sharedIndex) kb.sharedStore(sharedIndex, lid, acc.index!);
      kb.barrier();
      for (let s = workgroupSize >> 1; s > 0; s >>= 1) {
        kb.if(bin("lt", lid, c(s), "bool"), () => {
          const other = iadd(lid, c(s));
          const a: State = {
            value: sharedLoad(vals, lid, r.type),
            ...(sharedIndex ? { index: sharedLoad(sharedIndex, lid, "i32") } : {}),
          };
          const b: State = {
            value: sharedLoad(vals, other, r.type),
            ...(sharedIndex ? { index: sharedLoad(sharedIndex, other, "i32") } : {}),
          };
          const next = r.combine(a, b);
          const nv = kb.let(next.value, "m", r.type);
          const ni = sharedIndex ? kb.let(next.index!, "mi", "i32") : undefined;
          kb.sharedStore(vals, lid, nv);
          if (ni) kb.sharedStore(sharedIndex!, lid, ni);
        });
        kb.barrier();
      }
      final = {
        value: kb.let(sharedLoad(vals, c(0), r.type), "total", r.type),
        ...(sharedIndex ? { index: kb.let(sharedLoad(sharedIndex, c(0), "i32"), "totali", "i32") } : {}),
      };
      kb.barrier(); // everyone has read the total before the arrays are reused
    }
    values.scalars.set(e.out, kb.let(r.result(final), `t${e.out.id}_`, scalarType(e.out.dtype)));
  }

  // Epilogue: per-element outputs over the row, then per-row outputs.
  const full = g.roots.filter((v) => sameShape(v.shape, D) && !values.scalars.has(v));
  const perRow = g.roots.filter((v) => !full.includes(v));
  if (full.length) {
    overRow((i) => {
      const idx = domainIndex(i);
      const flat = kb.let(linearize(idx, D), "f");
      for (const v of full) kb.store(ctx.output(k, v), flat, values.at(v, idx));
    });
  }
  const storeRow = () => {
    for (const v of perRow) storePerRow(ctx, k, g, v, at.keptIdx);
  };
  if (perRow.length) {
    if (workgroup) kb.if(bin("eq", localId(kb), c(0), "bool"), storeRow);
    else storeRow();
  }
}

/** Stores a per-row output (kept shape or keepdims shape) of the current row. */
function storePerRow(ctx: Lowering, k: KernelHandle, g: FusionGroup, v: Var, keptIdx: readonly Expr[]): void {
  const kind = outerShapeKind(g.domain, g.axes, v.shape);
  if (!kind) throw new Error(`internal: ${v} is neither per-element nor per-row in its row kernel`);
  let j = 0;
  const idx = kind === "kept" ? [...keptIdx] : g.domain.map((_, i) => (g.axes.includes(i) ? c(0) : keptIdx[j++]!));
  k.kb.store(ctx.output(k, v), linearize(idx, v.shape), k.values.at(v, idx));
}
