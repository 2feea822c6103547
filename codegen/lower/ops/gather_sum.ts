/**
 * The MoE combine (and its transposes in the backward) as a gather: a
 * scatterAdd(x, idx, upd) along axis 0 whose index is a known function of
 * the slot, idx[j] = fn(perm[j]) (`SlotFn` from `analysis/value_facts.ts`:
 * the token of each expert-sorted slot, or a permutation itself). Each target
 * t is hit by exactly the slots s(t, q), q < R (`preimage`), at update
 * positions j = inverse[s(t, q)], so one thread per output element computes
 * out[t, i] = x[t, i] + sum_q upd[inverse[s(t, q)], i]: no sort of the
 * indices, no atomics, a fixed summation order (deterministic), the
 * elementwise producer of `upd` (the gate-weight multiply) computed in place,
 * and no index check (every index is in range by construction).
 */
import { dimToString, type Dim } from "../../../dsl/dims";
import type { Eqn, Var } from "../../../dsl/program";
import { c, type Expr } from "../../kernel_ir";
import { preimage, type IndexFn, type SlotFn } from "../../analysis/value_facts";
import { scalarType } from "../../types";
import {
  delinearizeBound,
  dimExpr,
  iadd,
  idiv,
  imax,
  imin,
  imul,
  irem,
  isub,
  numelExpr,
  numelSize,
} from "../index_math";
import { add } from "../ir_ops";
import { gridFor, perItem } from "../kernels/common";
import type { OpContext } from "../op_context";
import { countingSort, usesCountingSort } from "./counting_sort";

/** A scatter the gather-sum computes: its slot function and the slots per target. */
export interface GatherSumPlan {
  readonly slot: SlotFn;
  readonly perTarget: Dim;
  readonly fn: IndexFn;
}

/** The gather-sum plan of a scatterAdd, when the facts prove its index structure. */
export function gatherSumPlan(ctx: OpContext, e: Eqn<"scatterAdd">): GatherSumPlan | undefined {
  const [x, ind] = e.inputs as [Var, Var, Var];
  if (e.params.axis !== 0 || ind.shape.length !== 1) return undefined;
  const slot = ctx.facts.slotFn(ind);
  if (!slot) return undefined;
  const hit = preimage(slot, x.shape[0]!);
  return hit && { slot, perTarget: hit.perTarget, fn: hit.fn };
}

/** The buffer holding the inverse of permutation `perm`: from the dispatch sort, or a kernel of its own. */
function inversePermutation(ctx: OpContext, perm: Var): string {
  const plan = ctx.facts.countingSortOfPerm(perm);
  if (plan && usesCountingSort(ctx, plan)) return countingSort(ctx, plan).inverse;
  return ctx.once(`inverse-permutation:${perm.id}`, () => {
    const n = perm.shape[0]!;
    const inverse = ctx.temp("i32", n, "inverse");
    const wg = ctx.schedule.knobs.elementwiseWorkgroup;
    const k = ctx.kernel("inverse_permutation", wg);
    const { kb, values } = k;
    const j = perItem(kb, dimExpr(n));
    // A permutation's entries are in [0, n); clamped all the same, so no write can leave the buffer.
    const at = kb.let(imin(imax(values.at(perm, [j]), c(0)), isub(dimExpr(n), c(1))), "at");
    kb.store(ctx.bindTemp(k, inverse, "readWrite"), at, j);
    ctx.launch(k, gridFor(n, wg), `inverse of the permutation ${perm} (for the gather-sum of a scatter through it)`);
    return inverse;
  });
}

/** Slot s(t, q) of target t (see `preimage`): t * a + q, or (u * m + t) * a + w for q = u * a + w. */
function slotOf(fn: IndexFn, t: Expr, q: Expr): Expr {
  const a = dimExpr(fn.div);
  if (fn.mod === undefined) return iadd(imul(t, a), q);
  const u = idiv(q, a);
  const w = irem(q, a);
  return iadd(imul(iadd(imul(u, dimExpr(fn.mod)), t), a), w);
}

export function lowerGatherSum(ctx: OpContext, e: Eqn<"scatterAdd">, plan: GatherSumPlan): void {
  const [x, , upd] = e.inputs as [Var, Var, Var];
  const t = scalarType(e.out.dtype);
  const inverse = plan.slot.perm && inversePermutation(ctx, plan.slot.perm);
  const wg = ctx.schedule.knobs.elementwiseWorkgroup;
  const k = ctx.kernel("combine", wg);
  const { kb, values } = k;
  const out = ctx.output(k, e.out);
  const inv = inverse && ctx.bindTemp(k, inverse, "read");
  const flat = perItem(kb, numelExpr(x.shape));
  const idx = delinearizeBound(flat, x.shape, (q) => kb.let(q, "i"));
  const acc = kb.mutable(values.at(x, idx), "acc", t);
  kb.for(
    c(0),
    dimExpr(plan.perTarget),
    (q) => {
      const s = kb.let(slotOf(plan.fn, idx[0]!, q), "s");
      const j = inv ? kb.let({ kind: "load", buffer: inv, index: s, type: "i32" }, "j") : s;
      kb.assign(acc, add(acc, values.at(upd, [j, ...idx.slice(1)]), t));
    },
    "q",
  );
  kb.store(out, flat, acc);
  ctx.launch(
    k,
    gridFor(numelSize(x.shape), wg),
    `${ctx.describe(e)}\n(combine: each output sums its ${dimToString(plan.perTarget)} slots` +
      `${inverse ? " through the inverse permutation" : ""}, in slot order)`,
  );
}
