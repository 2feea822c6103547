/**
 * Stable sorting of rows on every target, deterministic, no atomics, no
 * barriers, one thread per element in every kernel:
 * 1. runs of RUN elements are sorted by ranking: each element counts the
 *    elements of its run that sort before it, which is its place (O(RUN) per
 *    element; rows of up to RUN elements are done here, in one kernel);
 * 2. bottom-up merge passes double the sorted runs: an element's place in the
 *    merged run is its place in its own run plus the number of elements of the
 *    neighbouring run that sort before it, found by binary search.
 * The order is strict (`before` breaks ties by original index), so places
 * never collide. O(n log n) work per pass, ceil(log2(n / RUN)) passes.
 *
 * Rows whose length is a named dim get passes up to runs of 2^29 (rows of up
 * to 2^30 elements, the 32-bit index limit); a pass whose runs already cover
 * the row copies the permutation through, so the last pass is known statically.
 */
import type { Shape } from "../../../dsl/shape";
import { c, select, type Expr } from "../../kernel_ir";
import { delinearize, iadd, idiv, imin, imul, irem, isub, numelExpr, numelSize } from "../index_math";
import { lt } from "../ir_ops";
import { gridFor, perItem } from "../kernels/common";
import type { KernelBuilder } from "../builder";
import type { KernelHandle, OpContext } from "../op_context";
import { CompileError } from "../../types";

/** Elements per run sorted by ranking (the first kernel); merge passes start from runs of this size. */
export const RUN = 64;
/** The longest row: merged runs of up to 2^30 keep run ends inside i32. */
const MAX_ROW = 2 ** 30;
/** Merge passes for rows of a named length: runs of RUN * 2^i up to 2^29 keep run ends inside i32. */
const MAX_MERGES = 29 - Math.log2(RUN) + 1;

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
   * The last pass's store: original element `me` (sort key `key`) of row
   * `rowFlat` lands at sorted position `dest` (the row's rank of `me`).
   */
  readonly finish: (k: KernelHandle, rowFlat: Expr, rowIdx: readonly Expr[], dest: Expr, me: Expr, key: Expr) => void;
}

/** Number of merge passes after the ranking kernel, for rows with dims `rowDims`. */
export function mergePasses(rowDims: Shape): number {
  if (!rowDims.every((d): d is number => typeof d === "number")) return MAX_MERGES;
  const n = rowDims.reduce((a, b) => a * b, 1);
  return n <= RUN ? 0 : Math.ceil(Math.log2(n / RUN));
}

/** One thread per element of the rows: its row, its place in the row, and the row's first element. */
function rowThread(kb: KernelBuilder, rowShape: Shape, rowDims: Shape) {
  const flat = perItem(kb, numelExpr([...rowShape, ...rowDims]));
  const len = kb.let(numelExpr(rowDims), "len");
  const rowFlat = kb.let(idiv(flat, len), "row");
  const p = kb.let(irem(flat, len), "p");
  const rowIdx = delinearize(rowFlat, rowShape).map((q) => kb.let(q, "r"));
  const base = kb.let(imul(rowFlat, len), "base");
  return { len, rowFlat, p, rowIdx, base };
}

/**
 * Emits the kernels of `sort`: ranking within runs of RUN, then merge passes;
 * intermediate permutations live in two scratch buffers, the last kernel
 * calls `sort.finish`.
 */
export function emitRowSort(ctx: OpContext, sort: RowSort): void {
  const { rowShape, rowDims } = sort;
  const count = numelSize([...rowShape, ...rowDims]);
  const n = rowDims.reduce<number>((a, d) => (typeof d === "number" ? a * d : a), 1);
  if (n > MAX_ROW)
    throw new CompileError(
      `${sort.comment}: rows of ${n} elements; the sort kernels take rows of at most 2^30 elements (32-bit run ends)`,
    );
  const merges = mergePasses(rowDims);
  const wg = ctx.schedule.knobs.elementwiseWorkgroup;
  const scratch = merges > 0 ? [ctx.temp("i32", count, "perm_a"), ctx.temp("i32", count, "perm_b")] : [];
  const total = merges + 1;

  // 1. Rank within runs of RUN (the identity permutation is the input).
  {
    const k = ctx.kernel(sort.hint, wg);
    const { kb } = k;
    const { len, rowFlat, p, rowIdx, base } = rowThread(kb, rowShape, rowDims);
    const key = kb.let(sort.keyAt(k, rowIdx, p), "key");
    const runStart = kb.let(imul(idiv(p, c(RUN)), c(RUN)), "runStart");
    const rank = kb.mutable(c(0), "rank", "i32");
    kb.for(
      runStart,
      imin(iadd(runStart, c(RUN)), len),
      (q) => {
        kb.if(sort.before(sort.keyAt(k, rowIdx, q), key, q, p), () => kb.assign(rank, iadd(rank, c(1))));
      },
      "q",
    );
    const dest = kb.let(iadd(runStart, rank), "dest");
    if (merges === 0) sort.finish(k, rowFlat, rowIdx, dest, p, key);
    else kb.store(ctx.bindTemp(k, scratch[0]!, "readWrite"), iadd(base, dest), p);
    ctx.launch(k, gridFor(count, wg), `${sort.comment} (kernel 1/${total}: ranks within runs of ${RUN})`);
  }

  // 2. Merge passes: runs of w = RUN * 2^i.
  for (let i = 0; i < merges; i++) {
    const w = RUN * 2 ** i;
    const k = ctx.kernel(sort.hint, wg);
    const { kb } = k;
    const src = ctx.bindTemp(k, scratch[i % 2]!, "read");
    const { len, rowFlat, p, rowIdx, base } = rowThread(kb, rowShape, rowDims);
    // The original index at sorted position q of the current runs.
    const permAt = (q: Expr): Expr => ({ kind: "load", buffer: src, index: iadd(base, q), type: "i32" });
    const me = kb.let(permAt(p), "me");
    const key = kb.let(sort.keyAt(k, rowIdx, me), "key");
    const runStart = kb.let(imul(idiv(p, c(2 * w)), c(2 * w)), "runStart");
    const mid = kb.let(imin(iadd(runStart, c(w)), len), "mid");
    const runEnd = kb.let(imin(iadd(runStart, c(2 * w)), len), "runEnd");
    const inLeft = kb.let(lt(p, mid), "inLeft", "bool");
    const otherStart = kb.let(select(inLeft, mid, runStart, "i32"), "otherStart");
    // lower bound in the other run (at most w long): the first element that does not sort before `me`.
    const lo = kb.mutable(otherStart, "lo", "i32");
    const hi = kb.mutable(select(inLeft, runEnd, mid, "i32"), "hi", "i32");
    kb.for(
      c(0),
      c(Math.log2(w) + 1),
      () => {
        kb.if(lt(lo, hi), () => {
          const m = kb.let(idiv(iadd(lo, hi), c(2)), "m");
          const q = kb.let(permAt(m), "q");
          kb.if(
            sort.before(sort.keyAt(k, rowIdx, q), key, q, me),
            () => kb.assign(lo, iadd(m, c(1))),
            () => kb.assign(hi, m),
          );
        });
      },
      "step",
    );
    const ownStart = select(inLeft, runStart, mid, "i32");
    const dest = kb.let(iadd(iadd(runStart, isub(p, ownStart)), isub(lo, otherStart)), "dest");
    if (i === merges - 1) sort.finish(k, rowFlat, rowIdx, dest, me, key);
    else kb.store(ctx.bindTemp(k, scratch[(i + 1) % 2]!, "readWrite"), iadd(base, dest), me);
    ctx.launch(k, gridFor(count, wg), `${sort.comment} (kernel ${i + 2}/${total}: merges runs of ${w})`);
  }
}
