/**
 * The two parts passes/router_fusion.ts adds to a thread-per-row row kernel,
 * making the MoE router one kernel per token:
 * - `rowMatmul` (before the reductions): the row's logits, out[row, n] =
 *   sum_d x[row, d] * w[d, n], written to the logits buffer, which the
 *   reductions and the epilogue then read back (this thread's own writes);
 * - `rowTopK` (after the epilogue, or in the prologue after the logits for
 *   the renormalised gate, whose softmax over the top-k logits reads them):
 *   top-k indices of a row the thread just wrote (the softmax probabilities
 *   or the logits), by ranking: element i's place is the
 *   number of elements that sort before it (the order of the topK kernel:
 *   larger first, ties to the lower index, NaN largest);
 * - `rowGather` (after the topK): the row's top-k values, read back through
 *   the indices the thread just wrote.
 */
import type { Eqn, Var } from "../../../dsl/program";
import { c, cast, type Expr } from "../../kernel_ir";
import { scalarType } from "../../types";
import { dimExpr, iadd, imul } from "../index_math";
import { add, lt, mul } from "../ir_ops";
import { indexInRange } from "../../analysis/value_facts";
import type { KernelHandle, OpContext } from "../op_context";
import { before } from "../ops/sort";

function rowMatmul(ctx: OpContext, k: KernelHandle, e: Eqn, row: Expr): void {
  const { kb, values } = k;
  const [x, w] = e.inputs as [Var, Var];
  const depth = x.shape[1]!;
  const n = w.shape[1]!;
  const outType = scalarType(e.out.dtype);
  const acc = ctx.schedule.accumulator(outType);
  const widen = (v: Expr) => (acc === v.type ? v : cast(v, acc));
  const out = ctx.output(k, e.out);
  kb.comment(`${ctx.describe(e)} (this row's logits)`);
  kb.for(
    c(0),
    dimExpr(n),
    (col) => {
      const dot = kb.mutable(c(0, acc), "dot", acc);
      kb.for(
        c(0),
        dimExpr(depth),
        (d) => kb.assign(dot, add(dot, mul(widen(values.at(x, [row, d])), widen(values.at(w, [d, col])), acc), acc)),
        "d",
      );
      kb.store(out, iadd(imul(row, dimExpr(n)), col), acc === outType ? dot : cast(dot, outType));
    },
    "n",
  );
}

function rowTopK(ctx: OpContext, k: KernelHandle, e: Eqn<"topKIndices">, row: Expr): void {
  const { kb, values } = k;
  const x = e.inputs[0]!;
  const n = x.shape[1]!;
  const keep = e.params.k;
  const out = ctx.output(k, e.out);
  const base = kb.let(imul(row, dimExpr(n)), "rowBase");
  const at = (i: Expr) => values.loadFrom(x, iadd(base, i));
  kb.comment(`${ctx.describe(e)} (ranks within the row)`);
  kb.for(
    c(0),
    dimExpr(n),
    (i) => {
      const xi = kb.let(at(i), "xi");
      const rank = kb.mutable(c(0), "rank", "i32");
      kb.for(
        c(0),
        dimExpr(n),
        (j) => kb.if(before(kb.let(at(j), "xj"), xi, j, i, true), () => kb.assign(rank, iadd(rank, c(1)))),
        "j",
      );
      kb.if(lt(rank, c(keep)), () => kb.store(out, iadd(imul(row, c(keep)), rank), i));
    },
    "i",
  );
}

/** out[row, j] = x[row, ind[row, j]]: a gather along the row of values this thread wrote, by indices it wrote. */
function rowGather(ctx: OpContext, k: KernelHandle, e: Eqn<"gather">, row: Expr): void {
  const { kb, values } = k;
  const [x, ind] = e.inputs as [Var, Var];
  const n = dimExpr(x.shape[1]!);
  const m = dimExpr(ind.shape[1]!);
  const out = ctx.output(k, e.out);
  kb.comment(`${ctx.describe(e)} (the row's picked values)`);
  kb.for(
    c(0),
    m,
    (j) => {
      const at = kb.let(iadd(imul(row, m), j), "at");
      const raw = kb.let(values.loadFrom(ind, at), "ix");
      if (!indexInRange(ctx.facts, ind, x.shape[1]!)) ctx.checkIndex(kb, "gather", 1, raw, n);
      kb.store(out, at, values.loadFrom(x, iadd(imul(row, n), values.clampIndex(raw, n))));
    },
    "j",
  );
}

/** A prologue op of the router kernel: the row's logits, then (renormalised gate) the topK of that row. */
export function rowPrologueOp(ctx: OpContext, k: KernelHandle, e: Eqn, row: Expr): void {
  if (e.prim === "matmul") rowMatmul(ctx, k, e, row);
  else if (e.prim === "topKIndices") rowTopK(ctx, k, e as Eqn<"topKIndices">, row);
  else throw new Error(`internal: ${e.prim} is not a prologue op of the router kernel`);
}

/** A row op of the router kernel (passes/router_fusion.ts): the topK of a row, or a gather of its picks. */
export function rowOp(ctx: OpContext, k: KernelHandle, e: Eqn, row: Expr): void {
  if (e.prim === "topKIndices") rowTopK(ctx, k, e as Eqn<"topKIndices">, row);
  else if (e.prim === "gather") rowGather(ctx, k, e as Eqn<"gather">, row);
  else throw new Error(`internal: ${e.prim} is not a row op of the router kernel`);
}
