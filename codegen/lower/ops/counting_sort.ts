/**
 * The MoE dispatch as one kernel: a stable counting sort of keys known to lie
 * in a small static range [0, bins) (expert ids; `CountingSortPlan` from
 * `analysis/value_facts.ts`). It writes the argsort's permutation, its
 * inverse (each slot's place in expert order, for the combine's gather),
 * the per-key counts of every bincount of the same keys, and those counts'
 * prefix sums (inclusive: a `cumsum`; exclusive: `cumsum - counts`, when a
 * kernel of its own would compute it), and each bin's start for the segment
 * sums through the sorted keys (ops/segment_sum.ts).
 *
 * One workgroup of W threads; thread t owns the contiguous chunk t of the
 * keys and column t of a bins x W counter table in workgroup memory:
 * 1. each thread counts its chunk's keys per bin (its own column: no races);
 * 2. an exclusive prefix sum over the table in (bin, thread) order gives
 *    where each thread's keys of each bin start in sorted order (thread t
 *    scans bins-long segment t serially, the segment totals are scanned
 *    across the workgroup, Hillis-Steele);
 * 3. each thread walks its chunk again, placing each key at its counter and
 *    bumping it. Bins are in order, threads' chunks are in order and each
 *    chunk is walked in order, so equal keys keep their original order: the
 *    same permutation as the merge-sort argsort, deterministic, no atomics.
 * Serial targets run the same steps with W = 1 and the table in a scratch
 * buffer. Work is O(n + bins * W); one workgroup is plenty for MoE slot
 * counts, and static sizes past `MAX_ONE_WORKGROUP` take the merge sort.
 */
import type { Eqn, Var } from "../../../dsl/program";
import { c, select, type Expr } from "../../kernel_ir";
import type { CountingSortPlan, IndexFn } from "../../analysis/value_facts";
import { delinearize, dimExpr, iadd, iceilDiv, idiv, imax, imin, imul, irem, isub, numelExpr } from "../index_math";
import { ge, lt, sharedLoad } from "../ir_ops";
import { localId } from "../kernels/common";
import type { KernelHandle, OpContext } from "../op_context";

/** Workgroup memory the counter table may use (WebGPU guarantees 16 KiB per workgroup). */
const TABLE_ENTRIES = 4096;
/** Static key counts up to this run in one workgroup; larger ones are merge-sorted (many workgroups). */
export const MAX_ONE_WORKGROUP = 2 ** 22;

/** What the dispatch kernel leaves for later kernels (scratch buffers). */
export interface CountingSortResult {
  /** The inverse permutation: each key's place in sorted order. */
  readonly inverse: string;
  /** i32 [bins + 1]: where bin b's keys start in sorted order (n at the end); only for a plan with `segmentSums`. */
  readonly bounds?: string;
}

/** Whether `plan` is lowered as a counting sort on this schedule (else the generic argsort). */
export function usesCountingSort(ctx: OpContext, plan: CountingSortPlan): boolean {
  const n = plan.keys.shape[0]!;
  return !(ctx.schedule.sharedMemory && typeof n === "number" && n > MAX_ONE_WORKGROUP);
}

/** The largest power of two <= x. */
const floorPow2 = (x: number): number => 2 ** Math.floor(Math.log2(x));

/**
 * Emits the dispatch kernel once per key array (later callers get its result) and marks the
 * plan's outputs written for whichever group asks first.
 */
export function countingSort(ctx: OpContext, plan: CountingSortPlan): CountingSortResult {
  return ctx.once(`counting-sort:${plan.keys.id}`, () => emitCountingSort(ctx, plan));
}

function emitCountingSort(ctx: OpContext, plan: CountingSortPlan): CountingSortResult {
  const { keys, bins, sort } = plan;
  const n = keys.shape[0]!;
  const parallel = ctx.schedule.sharedMemory;
  const W = parallel
    ? Math.max(1, Math.min(floorPow2(ctx.schedule.knobs.elementwiseWorkgroup), floorPow2(TABLE_ENTRIES / bins)))
    : 1;
  const inverse = ctx.temp("i32", n, "inverse");
  const k = ctx.kernel("dispatch_sort", W);
  const { kb } = k;
  const perm = ctx.output(k, sort.out);
  const inv = ctx.bindTemp(k, inverse, "readWrite");
  // The counter table: bins x W in workgroup memory, or a scratch buffer for one thread.
  const table = parallel ? kb.sharedArray("table", "i32", bins * W) : ctx.temp("i32", bins, "table");
  if (!parallel) ctx.bindTemp(k, table, "readWrite");
  const read = (at: Expr): Expr =>
    parallel ? sharedLoad(table, at, "i32") : { kind: "load", buffer: table, index: at, type: "i32" };
  const write = (at: Expr, value: Expr) => (parallel ? kb.sharedStore(table, at, value) : kb.store(table, at, value));

  const t = parallel ? localId(kb) : c(0);
  const total = kb.let(numelExpr(keys.shape), "n");
  const chunk = kb.let(iceilDiv(total, c(W)), "chunk");
  const from = kb.let(imin(imul(t, chunk), total), "from");
  const to = kb.let(imin(iadd(from, chunk), total), "to");
  // The key's bin (descending sorts reverse the bins); clamped so a broken fact never indexes out of the table.
  const binOf = (i: Expr): Expr => {
    const key = imin(imax(keyAt(k, keys, i), c(0)), c(bins - 1));
    return kb.let(sort.params.descending ? isub(c(bins - 1), key) : key, "bin");
  };
  const cell = (bin: Expr): Expr => iadd(imul(bin, c(W)), t);

  // 1. Count.
  kb.for(c(0), c(bins), (b) => write(cell(b), c(0)), "b");
  kb.for(
    from,
    to,
    (i) => {
      const at = kb.let(cell(binOf(i)), "at");
      write(at, iadd(read(at), c(1)));
    },
    "i",
  );
  // 2. Exclusive prefix sum over the table in (bin, thread) order.
  if (parallel) {
    kb.barrier();
    const segment = kb.let(imul(t, c(bins)), "segment");
    const sum = kb.mutable(c(0), "sum", "i32");
    kb.for(c(0), c(bins), (j) => kb.assign(sum, iadd(sum, read(iadd(segment, j)))), "j");
    const part = kb.sharedArray("part", "i32", W);
    kb.sharedStore(part, t, sum);
    kb.barrier();
    for (let offset = 1; offset < W; offset *= 2) {
      const before = kb.mutable(c(0), "prev", "i32");
      kb.if(ge(t, c(offset)), () => kb.assign(before, sharedLoad(part, isub(t, c(offset)), "i32")));
      kb.barrier();
      kb.sharedStore(part, t, iadd(sharedLoad(part, t, "i32"), before));
      kb.barrier();
    }
    const run = kb.mutable(c(0), "run", "i32");
    kb.if(lt(c(0), t), () => kb.assign(run, sharedLoad(part, isub(t, c(1)), "i32")));
    exclusiveScan(kb, read, write, segment, bins, run);
    kb.barrier();
  } else exclusiveScan(kb, read, write, c(0), bins, kb.mutable(c(0), "run", "i32"));
  // Counts of each bincount of the keys: bin b holds table[b*W] .. table[(b+1)*W] (n after the last).
  const scanned: ScannedTable = { read, total, W, t, bins };
  for (const e of plan.counts) writeCounts(ctx, k, e, plan, scanned);
  // Bin b's keys start at table[b*W] and end where bin b + 1 starts (n after the last).
  const bounds = [
    ...plan.scans.map((e) => ({ buffer: ctx.output(k, e.out), end: true })),
    ...plan.starts.flatMap((v) => {
      const buffer = ctx.writeAhead(k, v);
      return buffer ? [{ buffer, end: false }] : [];
    }),
  ];
  for (const { buffer, end } of bounds) writeBounds(k, buffer, end, scanned);
  const segments = plan.segmentSums.length > 0 ? ctx.temp("i32", bins + 1, "bounds") : undefined;
  if (segments) writeBounds(k, ctx.bindTemp(k, segments, "readWrite"), false, scanned, bins + 1);
  if (parallel && (plan.counts.length || bounds.length || segments)) kb.barrier(); // step 3 bumps the counters these read
  // 3. Place (and the token of each sorted slot, when a later kernel would gather it alone).
  const gathers = plan.gathers.flatMap((g) => {
    const buffer = ctx.writeAhead(k, g.out);
    return buffer ? [{ buffer, fn: g.fn }] : [];
  });
  kb.for(
    from,
    to,
    (i) => {
      const at = kb.let(cell(binOf(i)), "at");
      const pos = kb.let(read(at), "pos");
      write(at, iadd(pos, c(1)));
      kb.store(perm, pos, i);
      kb.store(inv, i, pos);
      for (const g of gathers) kb.store(g.buffer, pos, indexFnAt(g.fn, i));
    },
    "i",
  );
  const outputs = [sort, ...plan.counts, ...plan.scans].map((e) => `${e.out}`).join(", ");
  ctx.launch(
    k,
    1,
    `${plan.counts.map((e) => ctx.describe(e) + "\n").join("")}${ctx.describe(sort)}\n` +
      `(dispatch: a stable counting sort of keys in [0, ${bins}) in one workgroup; writes ${outputs}, the inverse permutation` +
      `${segments ? " and each bin's start (for segment sums)" : ""})`,
  );
  return segments ? { inverse, bounds: segments } : { inverse };
}

/** table[segment + j] for j < len becomes the exclusive prefix sum, starting from `run`. */
function exclusiveScan(
  kb: KernelHandle["kb"],
  read: (at: Expr) => Expr,
  write: (at: Expr, v: Expr) => void,
  segment: Expr,
  len: number,
  run: Expr & { kind: "var" },
): void {
  kb.for(
    c(0),
    c(len),
    (j) => {
      const at = kb.let(iadd(segment, j), "at");
      const count = kb.let(read(at), "count");
      write(at, run);
      kb.assign(run, iadd(run, count));
    },
    "j",
  );
}

/** The counter table after the prefix sum, as the output writers read it. */
interface ScannedTable {
  readonly read: (at: Expr) => Expr;
  readonly total: Expr;
  readonly W: number;
  /** This thread (writers stride over their entries by W). */
  readonly t: Expr;
  readonly bins: number;
}

/** Where bin `b`'s keys start in sorted order: table[b*W] (the key count n for b = bins). */
function binStart(table: ScannedTable, b: Expr): Expr {
  const { read, total, W, bins } = table;
  return select(ge(b, c(bins)), total, read(imul(imin(b, c(bins - 1)), c(W))), "i32");
}

function writeCounts(
  ctx: OpContext,
  k: KernelHandle,
  e: Eqn<"bincount">,
  plan: CountingSortPlan,
  table: ScannedTable,
): void {
  const { kb } = k;
  const out = ctx.output(k, e.out);
  const { bins } = plan;
  kb.for(
    table.t,
    dimExpr(e.params.length),
    (key) => {
      const inRange = lt(key, c(bins));
      const raw = plan.sort.params.descending ? isub(c(bins - 1), key) : key;
      const bin = kb.let(imax(imin(raw, c(bins - 1)), c(0)), "bin");
      const start = kb.let(binStart(table, bin), "start");
      const end = kb.let(binStart(table, iadd(bin, c(1))), "end");
      kb.store(out, key, select(inRange, isub(end, start), c(0), "i32"));
    },
    "key",
    c(table.W),
  );
}

/** Where each bin's keys start (`end` false) or end (`end` true) in sorted order, for bins [0, count). */
function writeBounds(k: KernelHandle, buffer: string, end: boolean, table: ScannedTable, count = table.bins): void {
  k.kb.for(
    table.t,
    c(count),
    (b) => k.kb.store(buffer, b, binStart(table, end ? iadd(b, c(1)) : b)),
    "bin",
    c(table.W),
  );
}

/** floor(i / div) mod mod. */
function indexFnAt(fn: IndexFn, i: Expr): Expr {
  const q = idiv(i, dimExpr(fn.div));
  return fn.mod === undefined ? q : irem(q, dimExpr(fn.mod));
}

/** Key at flat position i of the key array (its producer computed in place when fused). */
function keyAt(k: KernelHandle, keys: Var, i: Expr): Expr {
  return k.values.at(keys, delinearize(i, keys.shape));
}
