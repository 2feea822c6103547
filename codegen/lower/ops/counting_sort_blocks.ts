/**
 * The many-workgroup form of the dispatch's counting sort (counting_sort.ts) for large static key
 * counts on shared-memory schedules. The keys are cut into `blocks` contiguous blocks, one per
 * workgroup, each thread of a workgroup owning a contiguous chunk of its block:
 * 1. a block-count kernel: each workgroup counts its block's keys per bin (per thread, then summed
 *    per bin) into an i32 [bins, blocks] table in (bin, block) order;
 * 2. the sort kernel, one workgroup per block: every workgroup reduces that (small) table itself to
 *    where its keys of each bin start, `base[b]` = (keys of bins < b) + (keys of bin b in earlier
 *    blocks), then sorts its block as the one-workgroup form does, offset by `base`.
 * Keys keep their order within a bin (by block, then thread, then position): the same stable
 * permutation as the one-workgroup form, deterministic, no atomics. The table has bins x blocks
 * entries and each workgroup reads all of it (bins * blocks / W loads per thread, twice), so the
 * block count is capped and blocks grow past it.
 */
import { c, type Expr } from "../../kernel_ir";
import type { CountingSortPlan } from "../../analysis/value_facts";
import { iadd, iceilDiv, imin, imul, isub } from "../index_math";
import { eq, lt, sharedLoad } from "../ir_ops";
import { groupId, localId } from "../kernels/common";
import type { KernelHandle, OpContext } from "../op_context";

/** Workgroup memory (i32 entries) a sort kernel may use: WebGPU guarantees 16 KiB per workgroup. */
export const SHARED_ENTRIES = 4096;
/** Keys per thread in a block. */
const KEYS_PER_THREAD = 16;
/** At most W * this / bins blocks (each workgroup reads the whole [bins, blocks] table). */
const TABLE_LOADS_PER_THREAD = 64;

/** How the keys are split: `blocks` workgroups of W threads, each thread a contiguous chunk of `chunk` keys. */
export interface SortLayout {
  readonly W: number;
  /** 1: the one-workgroup form (chunk computed in the kernel, for symbolic sizes). */
  readonly blocks: number;
  readonly chunk?: number;
}

/** The largest power of two <= x (at least 1). */
const floorPow2 = (x: number): number => 2 ** Math.max(0, Math.floor(Math.log2(x)));

/**
 * The layout of `plan`'s sort on this schedule: serial targets one thread; shared-memory schedules one
 * workgroup, or (static key counts from the `dispatchSortManyFrom` knob) one workgroup per block.
 * W fits the bins x W counter table and the kernel's other shared arrays in `SHARED_ENTRIES`.
 */
export function sortLayout(ctx: OpContext, plan: CountingSortPlan): SortLayout {
  if (!ctx.schedule.sharedMemory) return { W: 1, blocks: 1 };
  const { bins } = plan;
  const n = plan.keys.shape[0]!;
  const width = (spare: number) =>
    Math.max(1, Math.min(floorPow2(ctx.schedule.knobs.elementwiseWorkgroup), floorPow2(spare / (bins + 1))));
  // One-workgroup shared arrays: table (bins * W) and the scan's partials (W); many: also base and totals (2 * bins).
  const one = { W: width(SHARED_ENTRIES), blocks: 1 };
  if (typeof n !== "number" || n < ctx.schedule.knobs.dispatchSortManyFrom) return one;
  const W = width(SHARED_ENTRIES - 2 * bins);
  const cap = Math.max(1, Math.floor((W * TABLE_LOADS_PER_THREAD) / bins));
  const blocks = Math.min(Math.ceil(n / (W * KEYS_PER_THREAD)), cap);
  if (blocks < 2) return one;
  const chunk = Math.ceil(n / (blocks * W));
  // No empty trailing block: every workgroup owns at least one key.
  return { W, blocks: Math.ceil(n / (chunk * W)), chunk };
}

/** This thread's chunk [from, to) of the keys under `layout` (n keys in all). */
export function threadChunk(kb: KernelHandle["kb"], layout: SortLayout, n: Expr): { from: Expr; to: Expr; t: Expr } {
  const t = layout.W > 1 ? localId(kb) : c(0);
  const chunk = layout.chunk !== undefined ? c(layout.chunk) : kb.let(iceilDiv(n, c(layout.W)), "chunk");
  const owner = layout.blocks > 1 ? iadd(imul(groupId(kb), c(layout.W)), t) : t;
  const from = kb.let(imin(imul(owner, chunk), n), "from");
  const to = kb.let(imin(iadd(from, chunk), n), "to");
  return { from, to, t };
}

/**
 * Counts each thread's chunk into its column of the bins x W `table` (cleared first), then a barrier.
 * `binOf(i)`: key i's bin.
 */
export function countChunk(
  kb: KernelHandle["kb"],
  layout: SortLayout,
  chunk: { from: Expr; to: Expr; t: Expr },
  bins: number,
  binOf: (i: Expr) => Expr,
  read: (at: Expr) => Expr,
  write: (at: Expr, v: Expr) => void,
): void {
  const cell = (b: Expr): Expr => iadd(imul(b, c(layout.W)), chunk.t);
  kb.for(c(0), c(bins), (b) => write(cell(b), c(0)), "b");
  kb.for(
    chunk.from,
    chunk.to,
    (i) => {
      const at = kb.let(cell(binOf(i)), "at");
      write(at, iadd(read(at), c(1)));
    },
    "i",
  );
  if (layout.W > 1) kb.barrier();
}

/** dest[b] = sum over threads t' of table[b * W + t'], for bins b strided over the threads; then a barrier. */
function sumColumns(
  kb: KernelHandle["kb"],
  table: string,
  W: number,
  t: Expr,
  bins: number,
  dest: (b: Expr, v: Expr) => void,
) {
  kb.for(
    t,
    c(bins),
    (b) => {
      const sum = kb.mutable(c(0), "sum", "i32");
      kb.for(c(0), c(W), (j) => kb.assign(sum, iadd(sum, sharedLoad(table, iadd(imul(b, c(W)), j), "i32"))), "j");
      dest(b, sum);
    },
    "b",
    c(W),
  );
  kb.barrier();
}

/**
 * The block-count kernel: blockCounts[b * blocks + g] = how many of block g's keys are in bin b.
 * Returns the i32 [bins * blocks] scratch buffer.
 */
export function emitBlockCounts(
  ctx: OpContext,
  plan: CountingSortPlan,
  layout: SortLayout,
  n: number,
  binOf: (k: KernelHandle, i: Expr) => Expr,
): string {
  const { bins } = plan;
  const { W, blocks } = layout;
  const counts = ctx.temp("i32", bins * blocks, "block_counts");
  const k = ctx.kernel("dispatch_counts", W);
  const { kb } = k;
  const out = ctx.bindTemp(k, counts, "readWrite");
  const table = kb.sharedArray("table", "i32", bins * W);
  const read = (at: Expr): Expr => sharedLoad(table, at, "i32");
  const write = (at: Expr, v: Expr) => kb.sharedStore(table, at, v);
  const chunk = threadChunk(kb, layout, c(n));
  countChunk(kb, layout, chunk, bins, (i) => binOf(k, i), read, write);
  const g = groupId(kb);
  sumColumns(kb, table, W, chunk.t, bins, (b, v) => kb.store(out, iadd(imul(b, c(blocks)), g), v));
  ctx.launch(
    k,
    blocks,
    `${ctx.describe(plan.sort)}\n(dispatch: per-bin key counts of ${blocks} blocks of ${layout.chunk! * W} keys, ` +
      `for the ${blocks}-workgroup counting sort)`,
  );
  return counts;
}

/**
 * In the sort kernel of the many-workgroup form: a shared `base` of `bins` entries with
 * base[b] = where this workgroup's keys of bin b start in sorted order (for workgroup 0: where bin b
 * starts). Reads the block-count table through `table` (the bins x W counter table, as scratch) and
 * ends with a barrier.
 */
export function blockBases(
  k: KernelHandle,
  blockCounts: string,
  table: string,
  layout: SortLayout,
  t: Expr,
  bins: number,
): string {
  const { kb } = k;
  const { W, blocks } = layout;
  const g = groupId(kb);
  const base = kb.sharedArray("base", "i32", bins);
  const totals = kb.sharedArray("totals", "i32", bins);
  // Per bin, thread t's share of the blocks (t, t + W, ...) before this one, then of all blocks.
  for (const [dest, end] of [
    [base, g],
    [totals, c(blocks)],
  ] as const) {
    kb.for(
      c(0),
      c(bins),
      (b) => {
        const sum = kb.mutable(c(0), "sum", "i32");
        const row = kb.let(imul(b, c(blocks)), "row");
        kb.for(
          t,
          end,
          (j) => kb.assign(sum, iadd(sum, { kind: "load", buffer: blockCounts, index: iadd(row, j), type: "i32" })),
          "j",
          c(W),
        );
        kb.sharedStore(table, iadd(imul(b, c(W)), t), sum);
      },
      "b",
    );
    kb.barrier();
    sumColumns(kb, table, W, t, bins, (b, v) => kb.sharedStore(dest, b, v));
  }
  // base[b] += keys of the bins before b (thread 0, serially: bins is small).
  kb.if(eq(t, c(0)), () => {
    const run = kb.mutable(c(0), "run", "i32");
    kb.for(
      c(0),
      c(bins),
      (b) => {
        kb.sharedStore(base, b, iadd(sharedLoad(base, b, "i32"), run));
        kb.assign(run, iadd(run, sharedLoad(totals, b, "i32")));
      },
      "b",
    );
  });
  kb.barrier();
  return base;
}

/**
 * After the block's own (bin, thread) scan of `table`: base[b] -= the block-local start of bin b
 * (table[b * W]), so a key's place is base[bin] + its counter; then a barrier.
 */
export function rebaseOnBlock(
  kb: KernelHandle["kb"],
  base: string,
  table: string,
  W: number,
  t: Expr,
  bins: number,
): void {
  kb.for(
    t,
    c(bins),
    (b) => kb.sharedStore(base, b, isub(sharedLoad(base, b, "i32"), sharedLoad(table, imul(b, c(W)), "i32"))),
    "b",
    c(W),
  );
  kb.barrier();
}

/** Whether this thread is in workgroup 0 (the one that writes the counts and bounds in the many-workgroup form). */
export const firstWorkgroup = (kb: KernelHandle["kb"]): Expr => lt(groupId(kb), c(1));
