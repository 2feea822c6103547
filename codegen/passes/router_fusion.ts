/**
 * Router fusion: the MoE router `topK(softmax(matmul(x, w)), k)` with few
 * experts as one thread-per-token row kernel. After fusion (passes/fusion.ts)
 * the router is three groups: the logits matmul, the softmax row kernel and
 * the topK kernel. When the rows are short enough for one thread per row
 * (the schedule says so), the matmul becomes the row kernel's prologue (each
 * thread computes its token's E logits, a dot product each) and the topK its
 * epilogue (ranking the row the same thread just wrote), so the router is
 * one kernel (`lower/kernels/router.ts` emits the two extra parts).
 *
 * A plan -> plan rewrite: groups are merged only when every other reader of
 * the merged groups' buffers runs after the merged kernel.
 */
import type { Eqn, Var } from "../../dsl/program";
import { sameShape } from "../../dsl/shape";
import type { Schedule } from "../schedule";
import type { FusionGroup, FusionPlan } from "./fusion";

/** The widest logits row (experts) the router kernel computes with one thread per token. */
export const ROUTER_MAX_EXPERTS = 64;

/** WebGPU's guaranteed storage buffers per shader stage (fusion's default limit too). */
const MAX_BUFFERS = 8;

/** Buffers the merged kernel binds: what its equations read from outside, and what it writes. */
function buffersOf(
  plan: FusionPlan,
  row: FusionGroup,
  prologue: FusionGroup | undefined,
  tops: readonly FusionGroup[],
): number {
  const eqnOf = new Map<Var, Eqn>(plan.program.eqns.map((e) => [e.out, e]));
  const parts = [row, ...(prologue ? [prologue] : []), ...tops];
  const eqns = parts.flatMap((g) => [...[...g.members].map((m) => eqnOf.get(m)!), ...g.mains]);
  const inside = new Set<Var>(eqns.map((e) => e.out));
  const written = new Set<Var>(parts.flatMap((g) => g.roots));
  const read = new Set<Var>(eqns.flatMap((e) => e.inputs).filter((v) => !inside.has(v) || written.has(v)));
  return new Set([...read, ...written]).size;
}

/** Groups reading each variable (through a buffer or inline). */
function readersOf(plan: FusionPlan): Map<Var, FusionGroup[]> {
  const readers = new Map<Var, FusionGroup[]>();
  const eqnOf = new Map<Var, Eqn>(plan.program.eqns.map((e) => [e.out, e]));
  for (const g of plan.groups) {
    const eqns = [...[...g.members].map((m) => eqnOf.get(m)!), ...g.mains];
    for (const e of eqns)
      for (const v of e.inputs) {
        const list = readers.get(v) ?? [];
        if (!list.includes(g)) list.push(g);
        readers.set(v, list);
      }
  }
  return readers;
}

/** Merges router matmul -> softmax row kernel -> topK groups where the schedule runs the rows one per thread. */
export function fuseRouters(plan: FusionPlan, schedule: Schedule): FusionPlan {
  const readers = readersOf(plan);
  const groupOfMain = new Map<Var, FusionGroup>();
  for (const g of plan.groups) for (const e of g.mains) groupOfMain.set(e.out, g);
  const merged = new Map<FusionGroup, FusionGroup>();
  const dropped = new Set<FusionGroup>();

  for (const row of plan.groups) {
    if (row.kind !== "reduce" || row.domain.length !== 2 || row.axes.join() !== "1") continue;
    const n = row.domain[1]!;
    if (typeof n !== "number" || n > ROUTER_MAX_EXPERTS || schedule.reduce(n).mode !== "thread") continue;
    // Prologue: a plain 2-D matmul (nothing fused into it) whose output only this row kernel reads first.
    const logits = [...new Set(row.mains.flatMap((e) => e.inputs))].find((v) => {
      const g = groupOfMain.get(v);
      return g?.kind === "matmul" && g.members.size === 0 && g.mains.length === 1 && sameShape(v.shape, row.domain);
    });
    const mm = logits && groupOfMain.get(logits);
    const readsAfter = (v: Var, exclude: readonly FusionGroup[]) =>
      (readers.get(v) ?? []).every((g) => exclude.includes(g) || g.seed > row.seed);
    const prologue = mm && mm.mains[0]!.inputs.length === 2 && readsAfter(logits!, [row, mm]) ? mm : undefined;
    // Epilogue: a topK over the rows of a per-element output of the row kernel (or of the logits).
    const tops = plan.groups.filter(
      (g) =>
        g.kind === "op" &&
        g.mains[0]!.prim === "topKIndices" &&
        g.members.size === 0 &&
        (row.roots.includes(g.mains[0]!.inputs[0]!) || (prologue !== undefined && g.mains[0]!.inputs[0] === logits)) &&
        sameShape(g.mains[0]!.inputs[0]!.shape, row.domain),
    );
    if (!prologue && tops.length === 0) continue;
    if (buffersOf(plan, row, prologue, tops) > MAX_BUFFERS) continue;
    // The topK groups' outputs are read later only (they run after the row kernel already); the
    // matmul's operands exist before it, so computing it in the row kernel (later) is safe.
    const g: FusionGroup = {
      ...row,
      // The logits and indices are written by the prologue and the op (lower/kernels/router.ts).
      roots: [...row.roots],
      mains: [...row.mains],
      members: new Set(row.members),
      ...(prologue ? { rowPrologue: [prologue.mains[0]!] } : {}),
      ...(tops.length ? { rowOps: tops.map((t) => t.mains[0]!) } : {}),
    };
    merged.set(row, g);
    if (prologue) dropped.add(prologue);
    for (const t of tops) dropped.add(t);
  }
  if (merged.size === 0) return plan;
  return { program: plan.program, groups: plan.groups.filter((g) => !dropped.has(g)).map((g) => merged.get(g) ?? g) };
}
