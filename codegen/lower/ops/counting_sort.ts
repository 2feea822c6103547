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
 * buffer. Work is O(n + bins * W). One workgroup's threads each walk n / W
 * keys twice: on shared-memory schedules, static key counts from the
 * `dispatchSortManyFrom` knob (2^16 by default) run over many workgroups
 * instead, one per block of keys, after a block-count kernel
 * (counting_sort_blocks.ts): one launch more, the same outputs. Symbolic key
 * counts keep the one-workgroup form (no extra kernel in the bundle).
 */
import type { Eqn, Var } from "../../../dsl/program";
import { c, select, type Expr } from "../../kernel_ir";
import type { CountingSortPlan, IndexFn } from "../../analysis/value_facts";
import { delinearize, dimExpr, iadd, idiv, imax, imin, imul, irem, isub, numelExpr } from "../index_math";
import { ge, lt, sharedLoad } from "../ir_ops";
import type { KernelHandle, OpContext } from "../op_context";
import {
  blockBases,
  countChunk,
  emitBlockCounts,
  firstWorkgroup,
  rebaseOnBlock,
  sortLayout,
  threadChunk,
} from "./counting_sort_blocks";

/** What the dispatch kernel leaves for later kernels (scratch buffers). */
export interface CountingSortResult {
  /** The inverse permutation: each key's place in sorted order. */
  readonly inverse: string;
  /** i32 [bins + 1]: where bin b's keys start in sorted order (n at the end); only for a plan with `segmentSums`. */
  readonly bounds?: string;
}

/** Whether `plan` is lowered as a counting sort on this schedule (else the generic argsort): always, in one or many workgroups. */
export function usesCountingSort(_ctx: OpContext, _plan: CountingSortPlan): boolean {
  return true;
}

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
  const layout = sortLayout(ctx, plan);
  const { W, blocks } = layout;
  const many = blocks > 1;
  // The key's bin (descending sorts reverse the bins); clamped so a broken fact never indexes out of the table.
  const binOf = (k: KernelHandle, i: Expr): Expr => {
    const key = imin(imax(keyAt(k, keys, i), c(0)), c(bins - 1));
    return k.kb.let(sort.params.descending ? isub(c(bins - 1), key) : key, "bin");
  };
  const blockCounts = many ? emitBlockCounts(ctx, plan, layout, n as number, binOf) : undefined;
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

  const total = kb.let(numelExpr(keys.shape), "n");
  const chunk = threadChunk(kb, layout, total);
  const { t } = chunk;
  const cell = (bin: Expr): Expr => iadd(imul(bin, c(W)), t);
  // Many workgroups: where this block's keys of each bin start, from the block-count table.
  const base = blockCounts && blockBases(k, ctx.bindTemp(k, blockCounts, "read"), table, layout, t, bins);
  // Where bin b starts: the scanned table's row b (one workgroup), base[b] in workgroup 0 (many).
  const scanned: ScannedTable = {
    start: base ? (b) => sharedLoad(base, b, "i32") : (b) => read(imul(b, c(W))),
    total,
    W,
    t,
    bins,
  };
  const writeOutputs = () => {
    // Counts of each bincount of the keys, and where each bin's keys start or end (n after the last).
    for (const e of plan.counts) writeCounts(ctx, k, e, plan, scanned);
    const bounds = [
      ...plan.scans.map((e) => ({ buffer: ctx.output(k, e.out), end: true })),
      // Many workgroups bind the block counts too: the exclusive prefix sums (bins entries) are left to a kernel of
      // their own, so the sort binds no more buffers than the one-workgroup form (WebGPU allows 8).
      ...(many ? [] : plan.starts).flatMap((v) => {
        const buffer = ctx.writeAhead(k, v);
        return buffer ? [{ buffer, end: false }] : [];
      }),
    ];
    for (const { buffer, end } of bounds) writeBounds(k, buffer, end, scanned);
    if (segments) writeBounds(k, ctx.bindTemp(k, segments, "readWrite"), false, scanned, bins + 1);
  };
  const segments = plan.segmentSums.length > 0 ? ctx.temp("i32", bins + 1, "bounds") : undefined;
  if (many) kb.if(firstWorkgroup(kb), writeOutputs); // before base is rebased on the block below

  // 1. Count (this thread's chunk into its column).
  countChunk(kb, layout, chunk, bins, (i) => binOf(k, i), read, write);
  // 2. Exclusive prefix sum over the table in (bin, thread) order.
  if (parallel) {
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
  if (base) rebaseOnBlock(kb, base, table, W, t, bins);
  else {
    writeOutputs();
    const writes = plan.counts.length || plan.scans.length || plan.starts.length || segments;
    if (parallel && writes) kb.barrier(); // step 3 bumps the counters these read
  }
  // 3. Place (and the token of each sorted slot, when a later kernel would gather it alone).
  const gathers = plan.gathers.flatMap((g) => {
    const buffer = ctx.writeAhead(k, g.out);
    return buffer ? [{ buffer, fn: g.fn }] : [];
  });
  const inverses = plan.inverses.map((e) => ctx.output(k, e.out));
  kb.for(
    chunk.from,
    chunk.to,
    (i) => {
      const at = kb.let(cell(binOf(k, i)), "at");
      const local = kb.let(read(at), "local");
      write(at, iadd(local, c(1)));
      const pos = base ? kb.let(iadd(local, sharedLoad(base, sharedBin(at, W), "i32")), "pos") : local;
      kb.store(perm, pos, i);
      kb.store(inv, i, pos);
      for (const out of inverses) kb.store(out, i, pos);
      for (const g of gathers) kb.store(g.buffer, pos, indexFnAt(g.fn, i));
    },
    "i",
  );
  const outputs = [sort, ...plan.counts, ...plan.scans, ...plan.inverses].map((e) => `${e.out}`).join(", ");
  const where = many ? `over ${blocks} workgroups (one per block of keys)` : "in one workgroup";
  ctx.launch(
    k,
    blocks,
    `${plan.counts.map((e) => ctx.describe(e) + "\n").join("")}${ctx.describe(sort)}\n` +
      `(dispatch: a stable counting sort of keys in [0, ${bins}) ${where}; writes ${outputs}, the inverse permutation` +
      `${segments ? " and each bin's start (for segment sums)" : ""})`,
  );
  return segments ? { inverse, bounds: segments } : { inverse };
}

/** The bin of counter-table cell `at` = bin * W + t. */
const sharedBin = (at: Expr, W: number): Expr => idiv(at, c(W));

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
  /** Where bin b (in [0, bins)) starts in sorted order. */
  readonly start: (b: Expr) => Expr;
  readonly total: Expr;
  readonly W: number;
  /** This thread (writers stride over their entries by W). */
  readonly t: Expr;
  readonly bins: number;
}

/** Where bin `b`'s keys start in sorted order (the key count n for b = bins). */
function binStart(table: ScannedTable, b: Expr): Expr {
  const { start, total, bins } = table;
  return select(ge(b, c(bins)), total, start(imin(b, c(bins - 1))), "i32");
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
