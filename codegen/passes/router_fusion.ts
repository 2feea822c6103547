/**
 * Router fusion: the MoE router `topK(softmax(matmul(x, w)), k)` with few
 * experts as one thread-per-token row kernel, in a forward program and in a
 * gradient program (which also keeps the softmax's intermediates for the
 * backward). After fusion (passes/fusion.ts) the router is several groups:
 * the logits matmul, the softmax row kernel, in a gradient the probabilities'
 * elementwise kernel (read by the topK, the gather of the top-k weights and
 * the softmax backward, so fusion writes it from a kernel of its own), the
 * topK kernel and the gather of the top-k values. When the rows are short
 * enough for one thread per row (the schedule says so), this pass merges them
 * into the row kernel:
 * - prologue: the matmul (each thread computes its token's E logits, a dot
 *   product each, and the reductions read them back), then any topK of the
 *   logits the plan runs before the row kernel: the renormalised gate's
 *   softmax over the k top-k logits is a [T, k] row kernel reading the logits
 *   only through a gather along the row by those indices, which this thread
 *   has then written;
 * - epilogue groups: elementwise kernels over the row domain that read the
 *   row kernel's values only at their own element (or the row's reductions),
 *   written in the row kernel's per-element epilogue;
 * - row ops: the topK of a row the thread just wrote (ranking its elements),
 *   then the gather of the top-k values through the indices it just wrote.
 * `lower/kernels/router.ts` emits the prologue and the row ops.
 *
 * Why a pass over the finished plan rather than a fusion rule: fusion visits
 * equations last to first and places each in a consumer that already exists;
 * the router's consumers are an op (topK) and, in a gradient, several kernels
 * of the backward, so no single consumer exists for the probabilities when they
 * are placed, and the row kernel they belong to is created only afterwards
 * (when the softmax's sum is visited). Merging needs the whole plan (who reads
 * what, in which kernel, in which order), which is what this pass sees.
 *
 * A plan -> plan rewrite: groups are merged only when every input of the merged
 * parts is ready before the row kernel runs and every other reader of their
 * outputs runs after it.
 */
import { dimEq } from "../../dsl/dims";
import type { Eqn, Var } from "../../dsl/program";
import { sameShape } from "../../dsl/shape";
import type { IndexMap, LoweringTable } from "../lower/rule";
import type { Schedule } from "../schedule";
import { FUSION_BUFFER_BUDGET, inputMap, keptAxes, sameMap, type FusionGroup, type FusionPlan } from "./fusion";

/** The widest logits row (experts) the router kernel computes with one thread per token. */
export const ROUTER_MAX_EXPERTS = 64;

/** What the pass knows about the plan: producers, readers, writers and program order. */
interface PlanIndex {
  readonly plan: FusionPlan;
  readonly table: LoweringTable;
  readonly eqnOf: ReadonlyMap<Var, Eqn>;
  readonly order: ReadonlyMap<Var, number>;
  /** Groups reading each variable (through a buffer or inline). */
  readonly readers: ReadonlyMap<Var, readonly FusionGroup[]>;
  /** The group writing each materialised variable. */
  readonly writer: ReadonlyMap<Var, FusionGroup>;
}

const eqnsOf = (ix: PlanIndex, g: FusionGroup): Eqn[] => [
  ...[...g.members].map((m) => ix.eqnOf.get(m)!),
  ...g.mains,
  ...(g.rowPrologue ?? []),
  ...(g.rowOps ?? []),
];

function indexPlan(plan: FusionPlan, table: LoweringTable): PlanIndex {
  const eqnOf = new Map<Var, Eqn>(plan.program.eqns.map((e) => [e.out, e]));
  const order = new Map<Var, number>(plan.program.eqns.map((e, i) => [e.out, i]));
  const ix: PlanIndex = { plan, table, eqnOf, order, readers: new Map(), writer: new Map() };
  const readers = ix.readers as Map<Var, FusionGroup[]>;
  const writer = ix.writer as Map<Var, FusionGroup>;
  for (const g of plan.groups) {
    for (const e of eqnsOf(ix, g))
      for (const v of e.inputs) {
        const list = readers.get(v) ?? [];
        if (!list.includes(g)) list.push(g);
        readers.set(v, list);
      }
    for (const r of g.roots) writer.set(r, g);
    for (const e of [...(g.rowPrologue ?? []), ...(g.rowOps ?? [])]) writer.set(e.out, g);
  }
  return ix;
}

/** Buffers a kernel made of `parts` binds: what their equations read from outside, and what they write. */
function buffersOf(ix: PlanIndex, parts: readonly FusionGroup[]): number {
  const eqns = parts.flatMap((g) => eqnsOf(ix, g));
  const inside = new Set<Var>(eqns.map((e) => e.out));
  const written = new Set<Var>(
    parts.flatMap((g) => [...g.roots, ...[...(g.rowPrologue ?? []), ...(g.rowOps ?? [])].map((e) => e.out)]),
  );
  const literal = (v: Var) => ix.plan.program.consts.get(v)?.size === 1;
  const read = eqns.flatMap((e) => e.inputs).filter((v) => (!inside.has(v) || written.has(v)) && !literal(v));
  return new Set([...read, ...written]).size;
}

/**
 * Whether elementwise group `g` can be computed in row kernel `row`'s epilogue:
 * it iterates over the row domain, reads what the row kernel computes only at its
 * own element (or, for the row's reductions, at its own row), and everything else
 * it reads is ready before the row kernel runs.
 */
function isEpilogue(ix: PlanIndex, row: FusionGroup, computed: ReadonlySet<Var>, g: FusionGroup): boolean {
  if (g.kind !== "elementwise" || g.mains.length || g.seed < row.seed || !sameShape(g.domain, row.domain)) return false;
  const all = [...row.domain.keys()];
  const kept = keptAxes(row.domain, row.axes);
  for (const [v, maps] of rowReads(ix, g)) {
    if (ix.plan.program.consts.has(v)) continue;
    if (row.mains.some((e) => e.out === v)) {
      if (!maps.every((m) => sameMap(m, kept, row.domain))) return false;
    } else if (computed.has(v)) {
      if (!sameShape(v.shape, row.domain) || !maps.every((m) => sameMap(m, all, row.domain))) return false;
    } else {
      const w = ix.writer.get(v);
      if (w && w.seed >= row.seed) return false; // written after the row kernel runs
    }
  }
  return true;
}

/** Whether `g` is a lone topK of the rows of `v`. */
const isTopKOf = (g: FusionGroup, v: Var | undefined): boolean =>
  v !== undefined &&
  g.kind === "op" &&
  g.mains[0]!.prim === "topKIndices" &&
  g.members.size === 0 &&
  g.mains[0]!.inputs[0] === v;

/** Whether `v` can be row kernel `row`'s logits: its shape, or [rows, E] with E <= ROUTER_MAX_EXPERTS. */
function isLogitsOf(v: Var, row: FusionGroup): boolean {
  const E = v.shape[1];
  if (sameShape(v.shape, row.domain)) return true;
  return v.shape.length === 2 && dimEq(v.shape[0]!, row.domain[0]!) && typeof E === "number" && E <= ROUTER_MAX_EXPERTS;
}

/**
 * Whether the row kernel's equations read `logits` only within the thread's own row: at their own
 * element (same shape) or as a gather along the row through indices this thread wrote (`own`).
 */
function readsOwnRows(eqns: readonly Eqn[], logits: Var, row: FusionGroup, own: ReadonlySet<Var>): boolean {
  if (sameShape(logits.shape, row.domain)) return true;
  return eqns.every(
    (e) =>
      !e.inputs.includes(logits) ||
      (e.prim === "gather" &&
        (e as Eqn<"gather">).params.axis === 1 &&
        e.inputs[0] === logits &&
        own.has(e.inputs[1]!) &&
        sameShape(e.out.shape, row.domain)),
  );
}

/** Whether `g` is a lone `gather` along the rows of `probs` by the indices `indices` (the top-k values). */
function isRowGather(ix: PlanIndex, g: FusionGroup, probs: ReadonlySet<Var>, indices: ReadonlySet<Var>): boolean {
  if (g.kind !== "elementwise" || g.members.size !== 1 || g.roots.length !== 1) return false;
  const e = ix.eqnOf.get(g.roots[0]!)!;
  return (
    e.prim === "gather" &&
    g.members.has(e.out) &&
    (e as Eqn<"gather">).params.axis === 1 &&
    e.out.shape.length === 2 &&
    probs.has(e.inputs[0]!) &&
    indices.has(e.inputs[1]!)
  );
}

/**
 * `g` as a row kernel over the rows of its 2-D domain [rows, n] (n static and at most ROUTER_MAX_EXPERTS):
 * a reduce group over axis 1, or an elementwise group writing only values of its domain's shape (k = 1's
 * renormalised gate: the softmax over one logit simplifies to elementwise), which then computes its
 * elements one row per thread; undefined for anything else.
 */
function asRow(g: FusionGroup): FusionGroup | undefined {
  const n = g.domain[1];
  if (g.domain.length !== 2 || typeof n !== "number" || n > ROUTER_MAX_EXPERTS) return undefined;
  if (g.kind === "reduce") return g.axes.join() === "1" ? g : undefined;
  if (g.kind !== "elementwise" || g.mains.length || !g.roots.every((r) => sameShape(r.shape, g.domain)))
    return undefined;
  return { ...g, kind: "reduce", axes: [1] };
}

/**
 * The index maps under which row kernel (or elementwise group) `g` reads each variable it does not compute: its
 * reductions read their inputs at the domain index, its roots are written per element or per row, and
 * members propagate maps by the lowering rules; a gather along axis 1 of a 2-D value reads its operand
 * in the output's row (the column is data-dependent) and its indices at the output's index.
 */
function rowReads(ix: PlanIndex, g: FusionGroup): Map<Var, IndexMap[]> {
  const maps = new Map<Var, IndexMap[]>();
  const add = (v: Var, m: IndexMap) => maps.set(v, [...(maps.get(v) ?? []), m]);
  const all = [...g.domain.keys()];
  for (const r of g.roots) add(r, sameShape(r.shape, g.domain) ? all : keptAxes(g.domain, g.axes));
  for (const e of g.mains) add(e.inputs[0]!, all);
  const members = [...g.members].sort((a, b) => ix.order.get(b)! - ix.order.get(a)!);
  for (const m of members) {
    const e = ix.eqnOf.get(m)!;
    for (const out of maps.get(m) ?? [])
      e.inputs.forEach((v, pos) => {
        const rowGather =
          e.prim === "gather" && (e as Eqn<"gather">).params.axis === 1 && e.out.shape.length === 2 && out.length === 2;
        if (rowGather && pos === 0) add(v, [out[0]!, null]);
        else if (rowGather && sameShape(v.shape, e.out.shape)) add(v, out);
        else add(v, inputMap(e, pos, out, ix.table));
      });
  }
  for (const v of [...members, ...g.mains.map((e) => e.out)]) maps.delete(v);
  return maps;
}

/**
 * Whether row kernel `s` can run in the thread of row kernel `row` after everything `row`'s kernel (the
 * groups `own`) writes (`written`): it runs after `row` in the plan, over the same rows, nobody reads its outputs
 * before `row` runs, it reads what the kernel writes only in its own row (all of which the thread has
 * written by then) and everything else it reads is ready before `row` runs.
 */
function isSibling(
  ix: PlanIndex,
  row: FusionGroup,
  own: readonly FusionGroup[],
  written: ReadonlySet<Var>,
  s: FusionGroup,
): boolean {
  if (s.seed <= row.seed || !dimEq(s.domain[0]!, row.domain[0]!)) return false;
  // Its outputs' readers run after the merged kernel (not in it: its epilogue and row ops come first).
  const after = (g: FusionGroup) => g.id === s.id || (g.seed > row.seed && !own.some((o) => o.id === g.id));
  if (!s.roots.every((r) => (ix.readers.get(r) ?? []).every(after))) return false;
  for (const [v, maps] of rowReads(ix, s)) {
    if (ix.plan.program.consts.has(v)) continue;
    if (written.has(v)) {
      if (!maps.every((m) => m[0] === 0)) return false;
    } else {
      const w = ix.writer.get(v);
      if (w && w.seed >= row.seed) return false; // written after the row kernel runs
    }
  }
  return true;
}

/**
 * Merges each router's groups into its softmax row kernel where the schedule runs the rows one per
 * thread and the merged kernel binds at most `maxBuffers` buffers (fusion's budget; compile plans
 * again with less when a lowered kernel binds more, e.g. a run-time check flag).
 */
export function fuseRouters(
  plan: FusionPlan,
  schedule: Schedule,
  table: LoweringTable,
  maxBuffers = FUSION_BUFFER_BUDGET,
): FusionPlan {
  const ix = indexPlan(plan, table);
  const groupOfMain = new Map<Var, FusionGroup>();
  for (const g of plan.groups) for (const e of g.mains) groupOfMain.set(e.out, g);
  const merged = new Map<FusionGroup, FusionGroup>();
  const dropped = new Set<FusionGroup>();
  const free = (g: FusionGroup) => !dropped.has(g) && !merged.has(g);

  for (const planned of plan.groups) {
    const row = asRow(planned);
    if (!row || !free(planned) || schedule.reduce(row.domain[1] as number).mode !== "thread") continue;
    const readsAfter = (v: Var, exclude: readonly FusionGroup[]) =>
      (ix.readers.get(v) ?? []).every((g) => exclude.includes(g) || g.seed > row.seed);
    // Prologue: a plain 2-D matmul (nothing fused into it) whose output only this row kernel reads first,
    // then the topKs of its rows that the plan runs before the row kernel (the renormalised gate's softmax
    // over the top-k logits reads them; the row kernel then reads what this thread wrote).
    const rowEqns = [...row.mains, ...[...row.members].map((m) => ix.eqnOf.get(m)!)];
    const logits = [...new Set(rowEqns.flatMap((e) => e.inputs))].find((v) => {
      const g = groupOfMain.get(v);
      return g?.kind === "matmul" && g.members.size === 0 && g.mains.length === 1 && isLogitsOf(v, row);
    });
    const mm = logits && groupOfMain.get(logits);
    const earlyTops = plan.groups.filter(
      (g) => isTopKOf(g, logits) && free(g) && g.seed < row.seed && readsAfter(g.mains[0]!.out, [planned]),
    );
    const prologue =
      mm &&
      free(mm) &&
      mm.mains[0]!.inputs.length === 2 &&
      readsAfter(logits!, [planned, mm, ...earlyTops]) &&
      readsOwnRows(rowEqns, logits!, row, new Set(earlyTops.map((t) => t.mains[0]!.out)))
        ? mm
        : undefined;
    // Epilogue groups: per-element values of the row (the softmax probabilities in a gradient).
    const computed = new Set<Var>([...row.members, ...row.roots, ...(prologue ? [logits!] : [])]);
    const epilogues = plan.groups.filter((g) => g !== planned && free(g) && isEpilogue(ix, row, computed, g));
    const perElement = new Set<Var>(
      [...row.roots, ...epilogues.flatMap((g) => g.roots), ...(prologue ? [logits!] : [])].filter((v) =>
        sameShape(v.shape, row.domain),
      ),
    );
    // Row ops: a topK over the rows of a per-element output, then gathers of the values it picked.
    const tops = plan.groups.filter((g) => free(g) && g.seed > row.seed && [...perElement].some((v) => isTopKOf(g, v)));
    const firstTops = prologue ? earlyTops : [];
    const indices = new Set(tops.map((t) => t.mains[0]!.out));
    const gathers = plan.groups.filter((g) => free(g) && isRowGather(ix, g, perElement, indices));
    if (!prologue && tops.length === 0) continue;
    // An elementwise group becomes a row kernel only to take the logits and their topK (k = 1, renormalised).
    if (planned.kind !== "reduce" && !(prologue && firstTops.length)) continue;
    const own = [row, ...(prologue ? [prologue] : []), ...firstTops, ...epilogues, ...tops, ...gathers];
    // Sibling rows: other row kernels over the same rows reading what this one writes within their row.
    const written = new Set<Var>([
      ...own.flatMap((g) => g.roots),
      ...own.flatMap((g) => (g.kind === "reduce" ? [] : g.mains.map((e) => e.out))), // the logits and indices
    ]);
    const siblings: FusionGroup[] = [];
    for (const other of plan.groups) {
      const s = other === planned || !free(other) || own.includes(other) ? undefined : asRow(other);
      if (!s || schedule.reduce(s.domain[1] as number).mode !== "thread" || !isSibling(ix, row, own, written, s))
        continue;
      if (buffersOf(ix, [...own, ...siblings, other]) > maxBuffers) continue;
      siblings.push(s);
      for (const r of s.roots) written.add(r);
    }
    const siblingGroups = siblings.map((s) => plan.groups.find((g) => g.id === s.id)!);
    const parts = [...own, ...siblingGroups];
    if (buffersOf(ix, parts) > maxBuffers) continue;
    const roots = [...row.roots, ...epilogues.flatMap((g) => g.roots)];
    const g: FusionGroup = {
      ...row,
      roots: roots.sort((a, b) => ix.order.get(a)! - ix.order.get(b)!),
      mains: [...row.mains],
      members: new Set([...row.members, ...[...epilogues, ...siblings].flatMap((e) => [...e.members])]),
      ...(prologue ? { rowPrologue: [prologue.mains[0]!, ...firstTops.map((t) => t.mains[0]!)] } : {}),
      // The logits, indices and top-k values are written by the prologue and the row ops (lower/kernels/router.ts).
      ...(tops.length
        ? { rowOps: [...tops.map((t) => t.mains[0]!), ...gathers.map((t) => ix.eqnOf.get(t.roots[0]!)!)] }
        : {}),
      ...(siblings.length ? { rowSiblings: siblings } : {}),
    };
    merged.set(planned, g);
    for (const p of parts) if (p !== planned) dropped.add(p);
  }
  if (merged.size === 0) return plan;
  return { program: plan.program, groups: plan.groups.filter((g) => !dropped.has(g)).map((g) => merged.get(g) ?? g) };
}
