/**
 * cumsum: an inclusive prefix sum along an axis (optionally from the end).
 * One thread per line scanning it serially (JS, short lines), or one workgroup
 * per line (GPU, long lines): each thread scans a contiguous chunk, the chunk
 * totals are scanned in shared memory (Hillis-Steele, log2(workgroup) steps),
 * then each thread rescans its chunk from its chunk's offset.
 */
import type { Eqn } from "../../../dsl/program";
import type { Dim } from "../../../dsl/shape";
import { c, cast, type Expr } from "../../kernel_ir";
import { scalarType } from "../../types";
import { delinearize, dimExpr, iadd, iceilDiv, imin, imul, isub, linearize, numelExpr, numelSize } from "../index_math";
import { gridFor, groupId, localId, perItem } from "../kernels/common";
import { add, ge, lt, sharedLoad } from "../ir_ops";
import type { OpContext } from "../op_context";
import { countingSort, usesCountingSort } from "./counting_sort";

export function lowerCumsum(ctx: OpContext, e: Eqn<"cumsum">): void {
  // The prefix sum of a dispatch sort's counts comes out of its kernel (its counter table holds it).
  const plan = ctx.facts.countingSortOfScan(e.out);
  if (plan && usesCountingSort(ctx, plan)) {
    countingSort(ctx, plan);
    ctx.writtenEarlier(e.out);
    return;
  }
  const x = e.inputs[0]!;
  const { axis, reverse } = e.params;
  const outer: Dim[] = x.shape.slice(0, axis);
  const inner: Dim[] = x.shape.slice(axis + 1);
  const len = x.shape[axis]!;
  const lineShape: Dim[] = [...outer, ...inner];
  const outType = scalarType(e.out.dtype);
  const acc = ctx.schedule.accumulator(outType);
  const sched = ctx.schedule.scan(len, numelSize(lineShape));
  const k = ctx.kernel("cumsum", sched.workgroupSize);
  const { kb, values } = k;
  const out = ctx.output(k, e.out);
  const workgroup = sched.mode === "workgroup";
  const line = workgroup ? groupId(kb) : perItem(kb, numelExpr(lineShape));
  const lineIdx = delinearize(line, lineShape).map((i) => kb.let(i, "l"));
  /** Domain index of scan position s (position 0 is the last element when reversed). */
  const at = (s: Expr): Expr[] => {
    const pos = kb.let(reverse ? isub(isub(dimExpr(len), c(1)), s) : s, "p");
    return [...lineIdx.slice(0, axis), pos, ...lineIdx.slice(axis)];
  };
  const valueAt = (idx: Expr[]) => {
    const v = values.at(x, idx);
    return acc === outType ? v : cast(v, acc);
  };
  const scanRange = (from: Expr, to: Expr, start: Expr, write: boolean): Expr => {
    const run = kb.mutable(start, "run", acc);
    kb.for(
      from,
      to,
      (s) => {
        const idx = at(s);
        kb.assign(run, add(run, valueAt(idx), acc));
        if (write) kb.store(out, linearize(idx, e.out.shape), acc === outType ? run : cast(run, outType));
      },
      "s",
    );
    return run;
  };
  if (!workgroup) {
    scanRange(c(0), dimExpr(len), c(0, acc), true);
    ctx.launch(k, gridFor(numelSize(lineShape), sched.workgroupSize), ctx.describe(e));
    return;
  }
  const wg = sched.workgroupSize;
  const lid = localId(kb);
  const chunk = kb.let(iceilDiv(dimExpr(len), c(wg)), "chunk");
  const from = kb.let(imin(imul(lid, chunk), dimExpr(len)), "from");
  const to = kb.let(imin(iadd(from, chunk), dimExpr(len)), "to");
  const sh = kb.sharedArray("scan", acc, wg);
  kb.sharedStore(sh, lid, scanRange(from, to, c(0, acc), false));
  kb.barrier();
  for (let offset = 1; offset < wg; offset *= 2) {
    const before = kb.mutable(c(0, acc), "prev", acc);
    kb.if(ge(lid, c(offset)), () => kb.assign(before, sharedLoad(sh, isub(lid, c(offset)), acc)));
    kb.barrier();
    kb.sharedStore(sh, lid, add(sharedLoad(sh, lid, acc), before, acc));
    kb.barrier();
  }
  const prefix = kb.mutable(c(0, acc), "prefix", acc);
  kb.if(lt(c(0), lid), () => kb.assign(prefix, sharedLoad(sh, isub(lid, c(1)), acc)));
  scanRange(from, to, prefix, true);
  ctx.launch(k, numelSize(lineShape), ctx.describe(e));
}
