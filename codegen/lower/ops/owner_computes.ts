/**
 * The owner-computes kernel shared by the scatters: one thread per output
 * element starts from the operand and adds the updates aimed at it, so no two
 * threads write one element (no atomics) and each sums in a fixed order.
 */
import type { Eqn, Var } from "../../../dsl/program";
import type { Expr } from "../../kernel_ir";
import { scalarType } from "../../types";
import { delinearizeBound, numelExpr, numelSize } from "../index_math";
import { gridFor, perItem } from "../kernels/common";
import type { KernelHandle, OpContext } from "../op_context";

/**
 * Owner computes: one thread per output element (o, p, i) starts from x[o, p, i]
 * and adds the updates aimed at it (`addUpdates`), in index order.
 */
export function ownerComputes(
  ctx: OpContext,
  e: Eqn,
  x: Var,
  axis: number,
  hint: string,
  comment: string,
  addUpdates: (k: KernelHandle, acc: Expr, o: Expr[], p: Expr, i: Expr[]) => void,
): void {
  const t = scalarType(e.out.dtype);
  const wg = ctx.schedule.knobs.elementwiseWorkgroup;
  const k = ctx.kernel(hint, wg);
  const { kb, values } = k;
  const out = ctx.output(k, e.out);
  const flat = perItem(kb, numelExpr(x.shape));
  const idx = delinearizeBound(flat, x.shape, (q) => kb.let(q, "i"));
  const acc = kb.mutable(values.at(x, idx), "acc", t);
  addUpdates(k, acc, idx.slice(0, axis), idx[axis]!, idx.slice(axis + 1));
  kb.store(out, flat, acc);
  ctx.launch(k, gridFor(numelSize(x.shape), wg), comment);
}
