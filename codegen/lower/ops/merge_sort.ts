/**
 * Stable sorting of rows on every target by bottom-up merging: pass s merges
 * neighbouring sorted runs of width w = 2^s, one thread per element. An
 * element's place in the merged run is its place in its own run plus the
 * number of elements of the other run that sort before it, found by binary
 * search (the other run is sorted). The order is strict (`before` breaks ties
 * by original index), so places never collide: no atomics, no barriers,
 * deterministic, O(n log n) work per pass and ceil(log2 n) passes.
 *
 * Rows whose length is a named dim get passes up to w = 2^29 (rows of up to
 * 2^30 elements, the 32-bit index limit); a pass whose w is at least the row
 * length copies the permutation through, so the last pass is known statically.
 */
import type { Shape } from "../../../dsl/shape";
import { c, select, type Expr } from "../../kernel_ir";
import { delinearize, iadd, idiv, imin, imul, irem, isub, numelExpr, numelSize } from "../index_math";
import { lt } from "../ir_ops";
import { gridFor, perItem } from "../kernels/common";
import type { KernelHandle, OpContext } from "../op_context";

/** Longest row (in passes) for rows whose length is a named dim: w <= 2^29 keeps L + 2w inside i32. */
const MAX_PASSES = 30;

export interface RowSort {
  /** Leading dims: one independent row per index. */
  readonly rowShape: Shape;
  /** The row's dims, flattened into one row (its length is their product). */
  readonly rowDims: Shape;
  /** The sort key of original element `i` of the row at `rowIdx`. */
  readonly keyAt: (k: KernelHandle, rowIdx: readonly Expr[], i: Expr) => Expr;
  /** Whether element j (key kj) sorts strictly before element i (key ki): a strict total order. */
  readonly before: (kj: Expr, ki: Expr, j: Expr, i: Expr) => Expr;
  /** Kernel name hint and launch comment. */
  readonly hint: string;
  readonly comment: string;
  /**
   * The last pass's store: original element `me` of row `rowFlat` lands at
   * sorted position `dest` (the row's rank of `me`).
   */
  readonly finish: (k: KernelHandle, rowFlat: Expr, rowIdx: readonly Expr[], dest: Expr, me: Expr) => void;
}

/** Number of merge passes for rows with dims `rowDims`. */
export function mergePasses(rowDims: Shape): number {
  if (!rowDims.every((d): d is number => typeof d === "number")) return MAX_PASSES;
  const n = rowDims.reduce((a, b) => a * b, 1);
  return Math.max(1, Math.ceil(Math.log2(Math.max(n, 1))));
}

/**
 * Emits the merge passes of `sort`: pass 0 starts from the identity
 * permutation, intermediate permutations live in two scratch buffers, the last
 * pass calls `sort.finish`.
 */
export function emitRowSort(ctx: OpContext, sort: RowSort): void {
  const { rowShape, rowDims } = sort;
  const shape: Shape = [...rowShape, ...rowDims];
  const count = numelSize(shape);
  const passes = mergePasses(rowDims);
  const wg = ctx.schedule.knobs.elementwiseWorkgroup;
  const scratch = passes > 1 ? [ctx.temp("i32", count, "perm_a"), ctx.temp("i32", count, "perm_b")] : [];
  for (let s = 0; s < passes; s++) {
    const w = 2 ** s;
    const k = ctx.kernel(sort.hint, wg);
    const { kb } = k;
    const src = s === 0 ? undefined : ctx.bindTemp(k, scratch[(s - 1) % 2]!, "read");
    const flat = perItem(kb, numelExpr(shape));
    const len = kb.let(numelExpr(rowDims), "len");
    const rowFlat = kb.let(idiv(flat, len), "row");
    const p = kb.let(irem(flat, len), "p");
    const rowIdx = delinearize(rowFlat, rowShape).map((q) => kb.let(q, "r"));
    const base = kb.let(imul(rowFlat, len), "base");
    // The original index at sorted position q of the current runs.
    const permAt = (q: Expr): Expr => (src === undefined ? q : { kind: "load", buffer: src, index: iadd(base, q), type: "i32" });
    const me = kb.let(permAt(p), "me");
    const key = kb.let(sort.keyAt(k, rowIdx, me), "key");
    const runStart = kb.let(imul(idiv(p, c(2 * w)), c(2 * w)), "runStart");
    const mid = kb.let(imin(iadd(runStart, c(w)), len), "mid");
    const runEnd = kb.let(imin(iadd(runStart, c(2 * w)), len), "runEnd");
    const inLeft = kb.let(lt(p, mid), "inLeft", "bool");
    const otherStart = kb.let(select(inLeft, mid, runStart, "i32"), "otherStart");
    // lower bound in the other run: the first element that does not sort before `me`.
    const lo = kb.mutable(otherStart, "lo", "i32");
    const hi = kb.mutable(select(inLeft, runEnd, mid, "i32"), "hi", "i32");
    kb.for(c(0), c(s + 1), () => {
      kb.if(lt(lo, hi), () => {
        const m = kb.let(idiv(iadd(lo, hi), c(2)), "m");
        const q = kb.let(permAt(m), "q");
        kb.if(sort.before(sort.keyAt(k, rowIdx, q), key, q, me), () => kb.assign(lo, iadd(m, c(1))), () => kb.assign(hi, m));
      });
    }, "step");
    const ownStart = select(inLeft, runStart, mid, "i32");
    const dest = kb.let(iadd(iadd(runStart, isub(p, ownStart)), isub(lo, otherStart)), "dest");
    if (s === passes - 1) sort.finish(k, rowFlat, rowIdx, dest, me);
    else kb.store(ctx.bindTemp(k, scratch[s % 2]!, "readWrite"), iadd(base, dest), me);
    ctx.launch(k, gridFor(count, wg), `${sort.comment} (merge pass ${s + 1}/${passes}, runs of ${w})`);
  }
}
