/**
 * Fusion: groups a Program's equations into kernels.
 *
 * Equations are visited from last to first, so each one's consumers are already
 * placed. An expression equation joins the one kernel that consumes it (or, read
 * by several kernels, the first of them, which also writes it for the rest); a cheap
 * index remap (broadcast, reshape, transpose, slice, gather, ...) is recomputed
 * in every kernel that consumes it. A reduction joins its consumer when that
 * consumer reads it only at the row being reduced (a softmax's `x - max` and
 * `e / sum` become one row kernel with its prologue and epilogue); a matmul joins
 * a consumer that reads it elementwise at the same index (bias + activation
 * epilogue); an elementwise producer of an op's operand that the op reads once per
 * element (a scatter's updates) is computed inside the op's kernel. Everything else
 * starts a kernel of its own and is written to a buffer.
 *
 * Why this is always schedulable: every kernel's extra buffers are read only
 * inside it, so a kernel only reads buffers written by kernels whose last
 * equation comes earlier; running kernels in that order respects every dependency.
 */
import type { Eqn, Program, Var } from "../../dsl/program";
import { sameShape, type Dim, type Shape } from "../../dsl/shape";
import { opaqueMap, ruleOf, type IndexMap, type IndexMapRule, type LoweringTable } from "../lower/rule";

export type GroupKind = "elementwise" | "reduce" | "matmul" | "op";

/** A kernel-to-be: which equations it computes and which variables it writes to buffers. */
export interface FusionGroup {
  readonly id: number;
  kind: GroupKind;
  /**
   * elementwise / matmul / op: the output shape. reduce: the shape of the
   * reductions' input (the row kernel iterates over it; `axes` are reduced).
   */
  domain: Shape;
  /** reduce: reduced axes of `domain`, ascending. */
  axes: number[];
  /** Variables computed inline (expression equations). */
  readonly members: Set<Var>;
  /** reduce: reductions in program order; matmul: its GEMMs in program order (siblings); op: the one main equation. */
  readonly mains: Eqn[];
  /** Variables written to buffers, in program order. */
  readonly roots: Var[];
  /** Index of the group's last equation in the program (execution order). */
  readonly seed: number;
  /** reduce, thread-per-row: a small-N matmul computed per row first (the router's logits; passes/router_fusion.ts). */
  readonly rowPrologue?: readonly Eqn[];
  /** reduce, thread-per-row: ops over the finished rows (the router's topK; passes/router_fusion.ts). */
  readonly rowOps?: readonly Eqn[];
  /**
   * reduce, thread-per-row: other row kernels over the same rows that the same thread computes after this
   * one (the renormalised gate's softmax over the top-k logits next to the probabilities; passes/router_fusion.ts).
   */
  readonly rowSiblings?: readonly FusionGroup[];
}

export interface FusionPlan {
  readonly program: Program;
  /** Groups in execution order. */
  readonly groups: readonly FusionGroup[];
}

export interface FusionOptions {
  /** `false`: one kernel per equation (no fusion). Default true. */
  readonly fuse?: boolean;
  /**
   * Most buffers one fused kernel may bind: inputs read, outputs written and the
   * run-time check flag (`bindsCheckFlag`). Default `FUSION_BUFFER_BUDGET`.
   */
  readonly maxBuffers?: number;
  /**
   * Equations whose kernel binds the run-time check flag (an index or group size not
   * proven valid, with checks on: `checkFlagBinder`, codegen/lower/check_flag.ts); a
   * kernel computing any of them counts one buffer more. Default: none.
   */
  readonly bindsCheckFlag?: (e: Eqn) => boolean;
  /**
   * Grouped GEMMs (raggedMatmul and its weight gradient) take epilogues, sibling GEMMs
   * over the same rows and gathered operands computed in place (see `fuse`). Default
   * true; `false` where a target's contraction micro-kernels need plain operands.
   */
  readonly groupedGemms?: boolean;
}

/**
 * Buffers a fused kernel binds at most unless told otherwise: WebGPU's default (and least)
 * `maxStorageBuffersPerShaderStage`; targets without such a limit keep it too (wider kernels
 * were not measured to pay, and one plan for every target keeps their kernel counts equal).
 */
export const FUSION_BUFFER_BUDGET = 8;

type Region = "main" | "operand";

interface Placement {
  readonly maps: IndexMap[];
  region: Region;
}

const identity = (rank: number): number[] => Array.from({ length: rank }, (_, i) => i);

/** The index map of input `pos` of `eqn`, given the map of its output: the lowering rule knows it. */
export function inputMap(eqn: Eqn, pos: number, out: IndexMap, table: LoweringTable): IndexMap {
  const rule = ruleOf(table, eqn);
  return rule.kind === "expr"
    ? (rule.indexMap as IndexMapRule<typeof eqn.prim>)(eqn, pos, out)
    : opaqueMap(eqn.inputs[pos]!.shape.length);
}

/** Whether map `m` reads the domain axes `want` (a size-1 axis may read index 0 instead). */
export function sameMap(m: IndexMap, want: readonly number[], domain: Shape): boolean {
  return (
    m.length === want.length && m.every((comp, k) => comp === want[k] || (comp === "zero" && domain[want[k]!] === 1))
  );
}

/** Groups the equations of `program` into kernels. */
export function fuse(program: Program, table: LoweringTable, options: FusionOptions = {}): FusionPlan {
  const fuseOn = options.fuse ?? true;
  const maxBuffers = options.maxBuffers ?? FUSION_BUFFER_BUDGET;
  const bindsCheckFlag = options.bindsCheckFlag ?? (() => false);
  const groupedOn = fuseOn && (options.groupedGemms ?? true);
  const producer = new Map<Var, Eqn>(program.eqns.map((e) => [e.out, e]));
  const uses = new Map<Var, { eqn: Eqn; pos: number }[]>();
  program.eqns.forEach((e) =>
    e.inputs.forEach((v, pos) => {
      const list = uses.get(v) ?? [];
      list.push({ eqn: e, pos });
      uses.set(v, list);
    }),
  );
  const outputs = new Set(program.outputs);
  /** Groups computing each variable (a duplicated index remap lives in several). */
  const groupsOf = new Map<Var, FusionGroup[]>();
  /** How each group reads each variable it computes or consumes inline. */
  const placed = new Map<FusionGroup, Map<Var, Placement>>();
  const groups: FusionGroup[] = [];
  let nextId = 0;

  const newGroup = (
    kind: GroupKind,
    seed: number,
    domain: Shape,
    mains: Eqn[] = [],
    axes: number[] = [],
  ): FusionGroup => {
    const g: FusionGroup = { id: nextId++, kind, domain, axes, members: new Set(), mains, roots: [], seed };
    groups.push(g);
    placed.set(g, new Map());
    return g;
  };
  const place = (g: FusionGroup, v: Var, maps: IndexMap[], region: Region) => {
    const m = placed.get(g)!;
    const p = m.get(v);
    if (p) {
      p.maps.push(...maps);
      if (region === "operand") p.region = "operand";
    } else m.set(v, { maps: [...maps], region });
    const gs = groupsOf.get(v) ?? [];
    if (!gs.includes(g)) gs.push(g);
    groupsOf.set(v, gs);
  };
  /** Maps and region under which group `g` reads `v` (from its consumers in `g`). */
  const readsIn = (g: FusionGroup, v: Var): Placement => {
    const maps: IndexMap[] = [];
    let region: Region = "main";
    for (const { eqn, pos } of uses.get(v) ?? []) {
      const at = placed.get(g)!.get(eqn.out);
      if (!at || !(g.members.has(eqn.out) || g.mains.includes(eqn))) continue;
      if (g.mains.includes(eqn)) {
        if (g.kind === "reduce") maps.push(identity(v.shape.length));
        else {
          maps.push(opaqueMap(v.shape.length));
          if (!inlineOperand(g, eqn, pos)) region = "operand";
        }
        continue;
      }
      if (at.region === "operand") region = "operand";
      for (const m of at.maps) maps.push(inputMap(eqn, pos, m, table));
    }
    return { maps, region };
  };

  for (let k = program.eqns.length - 1; k >= 0; k--) {
    const e = program.eqns[k]!;
    const v = e.out;
    const consumers = uses.get(v) ?? [];
    const isOut = outputs.has(v);
    if (consumers.length === 0 && !isOut) continue; // dead
    const rule = ruleOf(table, e);
    const consumerGroups = [...new Set(consumers.flatMap((u) => groupsOf.get(u.eqn.out) ?? []))];
    const single = consumerGroups.length === 1 ? consumerGroups[0]! : undefined;

    if (rule.kind === "expr") {
      // Index remaps are recomputed in every consumer; gathers only when one kernel reads them
      // (a gather read by several GEMMs is cheaper written once than re-gathered in each inner loop),
      // or when every kernel reads it per element or as a grouped GEMM's operand (a row gather).
      const duplicable =
        rule.movement &&
        !(rule.movement === "indexed" && consumerGroups.length > 1 && !gatheredInPlace(consumerGroups, v));
      // An epilogue of a grouped GEMM (the only reader of the GEMM's result) is written by the
      // GEMM's kernel rather than computed inside an op's kernel: the GEMM writes a buffer either way.
      const epilogue = groupedOn && !rule.movement && single?.kind === "op" && readsOnlyGroupedResult(e);
      if (epilogue) {
        const g = newGroup("elementwise", k, v.shape);
        g.members.add(v);
        g.roots.push(v);
        place(g, v, [identity(v.shape.length)], "main");
        continue;
      }
      const recomputed = !duplicable && !isOut && recomputable(e, consumerGroups);
      if (fuseOn && (duplicable || recomputed) && !isOut && consumerGroups.every((g) => fitsWith(g, e, false))) {
        for (const g of consumerGroups) {
          const r = readsIn(g, v);
          g.members.add(v);
          place(g, v, r.maps, r.region);
        }
        continue;
      }
      if (fuseOn && single && (single.kind !== "op" || !isOut) && fitsWith(single, e, isOut)) {
        const r = readsIn(single, v);
        const accepted = r.region === "main" || rule.movement;
        const storable = !isOut || (r.region === "main" && canStore(single, v));
        if (accepted && storable) {
          single.members.add(v);
          place(single, v, r.maps, r.region);
          if (isOut) addRoot(single, v);
          continue;
        }
      }
      // Read by several kernels: computed inside the first of them, which also writes it for
      // the others (they all run later, so the buffer is ready when they read it).
      const first = fuseOn && consumerGroups.length > 1 ? firstConsumer(consumerGroups) : undefined;
      if (first && first.kind !== "op" && fitsWith(first, e, true)) {
        const r = readsIn(first, v);
        if (r.region === "main" && canStore(first, v)) {
          first.members.add(v);
          place(first, v, r.maps, r.region);
          addRoot(first, v);
          continue;
        }
      }
      // Written to a buffer: by a kernel that already reads what it reads, over the same
      // domain, if one runs before all its readers (dU next to dG in a SwiGLU backward).
      const sibling = groupedOn && !rule.movement ? elementwiseSibling(e, consumerGroups) : undefined;
      if (sibling) {
        sibling.members.add(v);
        place(sibling, v, [], "main");
        addRoot(sibling, v);
        continue;
      }
      const g = newGroup("elementwise", k, v.shape);
      g.members.add(v);
      g.roots.push(v);
      place(g, v, [identity(v.shape.length)], "main");
      continue;
    }

    if (rule.kind === "reduce") {
      const { domain, axes } = reductionSpace(e);
      if (fuseOn && single && fitsWith(single, e, isOut) && tryJoinReduce(single, e, domain, axes)) {
        if (isOut) single.roots.unshift(v);
        continue;
      }
      const g = newGroup("reduce", k, domain, [e], axes);
      g.roots.push(v);
      place(g, v, [keptAxes(domain, axes)], "main");
      continue;
    }

    if (rule.kind === "matmul") {
      const grouped = groupedOn && rule.grouped === true;
      // Several epilogue kernels of one grouped GEMM (dU and dG of a SwiGLU backward) become one.
      const merged = grouped && consumerGroups.length > 1 ? mergeEpilogues(e, consumerGroups) : undefined;
      const reader = merged ?? single;
      // A grouped GEMM also joins the first of several readers, which then writes it for the others
      // (and joins nothing where grouped GEMMs are not fused).
      const joinable = fuseOn && (groupedOn || !rule.grouped);
      const host = joinable ? (reader ?? (grouped ? firstConsumer(consumerGroups) : undefined)) : undefined;
      const writes = isOut || host !== reader;
      if (host && (host.kind === "elementwise" || grouped) && fitsWith(host, e, writes)) {
        const r = readsIn(host, v);
        const asEpilogue = r.region === "main" && r.maps.every((m) => sameMap(m, identity(v.shape.length), v.shape));
        const joins =
          sameShape(host.domain, v.shape) &&
          (host.kind === "elementwise" || (host.kind === "matmul" && siblingOf(host, e)));
        if (asEpilogue && joins) {
          if (host.kind === "elementwise") host.mains.push(e);
          else host.mains.unshift(e);
          host.kind = "matmul";
          place(host, v, r.maps, "main");
          if (writes) host.roots.unshift(v);
          continue;
        }
      }
      // Siblings reading the same operand (the gate and up weight gradients) share one kernel.
      const sibling = grouped ? gemmSibling(e, consumerGroups) : undefined;
      if (sibling) {
        sibling.mains.unshift(e);
        place(sibling, v, [identity(v.shape.length)], "main");
        sibling.roots.unshift(v);
        continue;
      }
      const g = newGroup("matmul", k, v.shape, [e]);
      g.roots.push(v);
      place(g, v, [identity(v.shape.length)], "main");
      continue;
    }

    if (rule.kind === "op") {
      const g = newGroup("op", k, v.shape, [e]);
      g.roots.push(v);
      place(g, v, [identity(v.shape.length)], "main");
      continue;
    }
    if (rule.kind === "inline") throw new Error(`internal: ${e.prim} must be inlined before fusion`);
    throw new Error(`internal: ${e.prim} has no lowering`);
  }

  /** Whether `e` is a grouped GEMM. */
  function isGrouped(e: Eqn | undefined): boolean {
    const rule = e && table[e.prim];
    return rule?.kind === "matmul" && rule.grouped === true;
  }

  /** Whether `g` computes grouped GEMMs. */
  function isGroupedGroup(g: FusionGroup): boolean {
    return g.kind === "matmul" && isGrouped(g.mains[0]);
  }

  /** Whether every group in `gs` may compute gather `v` in place: per element, or as a grouped GEMM's operand. */
  function gatheredInPlace(gs: readonly FusionGroup[], v: Var): boolean {
    return groupedOn && gs.every((g) => isGroupedGroup(g) || readsIn(g, v).region === "main");
  }

  /** Whether `e` reads the result of a grouped GEMM that nothing else reads. */
  function readsOnlyGroupedResult(e: Eqn): boolean {
    return e.inputs.some((i) => isGrouped(producer.get(i)) && (uses.get(i) ?? []).every((u) => u.eqn === e));
  }

  /**
   * Whether grouped GEMM `e` can be computed in `g`'s kernel next to its GEMMs: the same
   * primitive, group sizes and output shape, and either the same first operand (one load
   * of A feeds every sum: gate and up projections) or, for two GEMMs, read only by one
   * `add` of both (a sum of GEMMs is one GEMM over the concatenated depth).
   */
  function siblingOf(g: FusionGroup, e: Eqn): boolean {
    const first = g.mains[0]!;
    if (!isGrouped(first) || first.prim !== e.prim || first.inputs[2] !== e.inputs[2]) return false;
    if (!sameShape(first.out.shape, e.out.shape) || !sameShape(first.inputs[0]!.shape, e.inputs[0]!.shape))
      return false;
    const summed = g.mains.some((m) => m.inputs[0] !== first.inputs[0]);
    if (!summed && first.inputs[0] === e.inputs[0]) return true;
    if (summed || g.mains.length !== 1 || g.roots.includes(first.out)) return false;
    const [usesFirst, usesE] = [uses.get(first.out) ?? [], uses.get(e.out) ?? []];
    const sum = usesFirst[0]?.eqn;
    return (
      usesFirst.length === 1 &&
      usesE.length === 1 &&
      usesE[0]!.eqn === sum &&
      sum.prim === "add" &&
      g.members.has(sum.out) &&
      !outputs.has(first.out) &&
      !outputs.has(e.out)
    );
  }

  /** A grouped GEMM group `e` can join without a reader there: the same A, all of `e`'s readers run later. */
  function gemmSibling(e: Eqn, readers: readonly FusionGroup[]): FusionGroup | undefined {
    return groups.find(
      (g) =>
        isGroupedGroup(g) &&
        g.mains.every((m) => m.inputs[0] === e.inputs[0]) &&
        siblingOf(g, e) &&
        sameShape(g.domain, e.out.shape) &&
        readers.every((r) => r !== g && r.seed > g.seed) &&
        fitsWith(g, e, true),
    );
  }

  /**
   * A kernel that can also write expression `e` (which no reader can compute in place):
   * it iterates over `e`'s shape, already reads one of `e`'s inputs, and runs before every reader.
   */
  function elementwiseSibling(e: Eqn, readers: readonly FusionGroup[]): FusionGroup | undefined {
    if (readers.length === 0) return undefined;
    const reads = (g: FusionGroup, i: Var): boolean =>
      g.mains.some((m) => m.inputs.includes(i)) || [...g.members].some((m) => producer.get(m)!.inputs.includes(i));
    return groups.find(
      (g) =>
        g.kind !== "op" &&
        canStore(g, e.out) &&
        sameShape(e.out.shape, g.domain) &&
        readers.every((r) => r !== g && r.seed > g.seed) &&
        e.inputs.some((i) => reads(g, i)) &&
        fitsWith(g, e, true),
    );
  }

  /** Whether group `g` reads `i` (an input of one of its equations) or computes it. */
  function readsVar(g: FusionGroup, i: Var): boolean {
    if (g.members.has(i) || g.mains.some((m) => m.out === i || m.inputs.includes(i))) return true;
    return [...g.members].some((m) => producer.get(m)!.inputs.includes(i));
  }

  /**
   * Whether elementwise `e`, read per element by several epilogue kernels, is cheaper
   * recomputed in each than written once and read back: every reader but one already
   * reads all of `e`'s inputs (sigmoid(g) in a SwiGLU's forward and backward kernels).
   */
  function recomputable(e: Eqn, readers: readonly FusionGroup[]): boolean {
    if (!groupedOn || readers.length < 2 || ruleOf(table, e).kind !== "expr") return false;
    const epilogues = readers.every(
      (g) => (g.kind === "elementwise" || g.kind === "matmul") && readsIn(g, e.out).region === "main",
    );
    const lacking = readers.filter((g) => !e.inputs.every((i) => readsVar(g, i) || program.consts.has(i)));
    return epilogues && lacking.length <= 1 && readers.some((g) => isGroupedGroup(g));
  }

  /**
   * The elementwise readers of grouped GEMM `e` (each reading it at its own index) merged
   * into the last of them, when every other kernel reading what they write runs later
   * and the buffers fit; the others are removed from the plan.
   */
  function mergeEpilogues(e: Eqn, readers: readonly FusionGroup[]): FusionGroup | undefined {
    const v = e.out;
    const fits = readers.every((g) => {
      const r = readsIn(g, v);
      const atIndex = r.maps.every((m) => sameMap(m, identity(v.shape.length), v.shape));
      return g.kind === "elementwise" && sameShape(g.domain, v.shape) && r.region === "main" && atIndex;
    });
    if (!fits) return undefined;
    const into = [...readers].sort((a, b) => b.seed - a.seed)[0]!;
    const others = readers.filter((g) => g !== into);
    const readersOf = (r: Var) => (uses.get(r) ?? []).flatMap((u) => groupsOf.get(u.eqn.out) ?? []);
    const later = others.every((o) =>
      o.roots.every((r) => readersOf(r).every((g) => readers.includes(g) || g.seed > into.seed)),
    );
    const members = new Set(readers.flatMap((g) => [...g.members]));
    const kept = [...new Set(readers.flatMap((g) => g.roots))].filter(
      (r) => outputs.has(r) || readersOf(r).some((g) => !readers.includes(g)),
    );
    if (!later || bufferCount([...members].map((m) => producer.get(m)!).concat(e), kept, true) > maxBuffers)
      return undefined;
    for (const o of others) {
      for (const m of o.members) into.members.add(m);
      for (const [w, p] of placed.get(o)!) place(into, w, p.maps, p.region);
      groups.splice(groups.indexOf(o), 1);
      for (const gs of groupsOf.values()) if (gs.includes(o)) gs.splice(gs.indexOf(o), 1);
    }
    const order = new Map(program.eqns.map((q, i) => [q.out, i]));
    into.roots.splice(0, into.roots.length, ...kept.sort((a, b) => order.get(a)! - order.get(b)!));
    return into;
  }

  /**
   * Buffers a kernel computing `eqns` and writing `roots` binds: every input computed
   * elsewhere counts (scalar constants are literals). `ahead`: inputs not placed yet are
   * counted as they will most likely be read: a static remap as its source, an
   * elementwise expression of inputs the kernel reads anyway as nothing (recomputed, see
   * `recomputable`); the plan's final check (`overBudget`) catches a wrong guess. The
   * run-time check flag counts once when any equation computed inside reads an unproven index.
   */
  function bufferCount(eqns: readonly Eqn[], roots: readonly Var[], ahead = false): number {
    const inside = new Set(eqns.map((q) => q.out));
    const external = new Set<Var>();
    const literal = (i: Var) => program.consts.get(i)?.size === 1;
    for (const q of eqns) for (const i of q.inputs) if (!inside.has(i) && !literal(i)) external.add(i);
    for (let changed = ahead; changed;) {
      changed = false;
      for (const x of [...external]) {
        const q = producer.get(x);
        const rule = q && ruleOf(table, q);
        if (!q || rule?.kind !== "expr" || groupsOf.has(x)) continue;
        const sources = q.inputs.filter((i) => !literal(i));
        const available = sources.every((i) => external.has(i) || inside.has(i));
        if (rule.movement === "static" && sources.length === 1) {
          external.delete(x);
          if (!inside.has(sources[0]!)) external.add(sources[0]!);
          changed = true;
        } else if (!rule.movement && available) {
          external.delete(x);
          inside.add(x);
          changed = true;
        }
      }
    }
    const flag = eqns.some(bindsCheckFlag) || [...inside].some((x) => bindsCheckFlag(producer.get(x)!));
    return external.size + roots.length + (flag ? 1 : 0);
  }

  /** Whether a kernel of the finished plan binds more buffers than allowed. */
  function overBudget(): boolean {
    return groups.some((g) => {
      const eqns = [...[...g.members].map((m) => producer.get(m)!), ...g.mains];
      return bufferCount(eqns, g.roots) > maxBuffers;
    });
  }

  /** Whether an op group's main equation reads input `pos` O(1) times per element (producers may be inlined there). */
  function inlineOperand(g: FusionGroup, eqn: Eqn, pos: number): boolean {
    if (g.kind !== "op") return false;
    const rule = table[eqn.prim];
    return rule.kind === "op" && (rule.inlineOperands ?? []).includes(pos);
  }

  /** The consumer group that runs strictly before all the others, if there is one. */
  function firstConsumer(gs: readonly FusionGroup[]): FusionGroup | undefined {
    const sorted = [...gs].sort((a, b) => a.seed - b.seed);
    return sorted.length > 1 && sorted[0]!.seed < sorted[1]!.seed ? sorted[0] : undefined;
  }

  /** Buffers group `g` would bind with `e` computed inside it (conservative: every external read counts). */
  function fitsWith(g: FusionGroup, e: Eqn, isOut: boolean): boolean {
    const eqns = [...[...g.members].map((m) => producer.get(m)!), ...g.mains, e];
    const ahead = groupedOn && (isGroupedGroup(g) || isGrouped(e));
    return bufferCount(eqns, g.roots, ahead) + (isOut ? 1 : 0) <= maxBuffers;
  }

  function addRoot(g: FusionGroup, v: Var): void {
    g.roots.unshift(v);
    const p = placed.get(g)!.get(v)!;
    if (g.kind === "reduce" && !sameShape(v.shape, g.domain)) p.maps.push(outerMap(g, v.shape));
    else p.maps.push(identity(v.shape.length));
  }

  /** Whether an output computed inline in `g` can also be written by `g` (at an index `g` iterates over). */
  function canStore(g: FusionGroup, v: Var): boolean {
    if (g.kind === "op") return false;
    if (sameShape(v.shape, g.domain)) return true;
    return g.kind === "reduce" && outerShapeKind(g.domain, g.axes, v.shape) !== undefined;
  }

  function tryJoinReduce(g: FusionGroup, e: Eqn, domain: Shape, axes: number[]): boolean {
    const v = e.out;
    const kept = keptAxes(domain, axes);
    if (g.kind === "reduce") {
      if (!sameShape(g.domain, domain) || g.axes.join() !== axes.join()) return false;
    } else if (g.kind === "elementwise") {
      const kind = sameShape(g.domain, domain) ? "full" : outerShapeKind(domain, axes, g.domain);
      if (!kind) return false;
      // Check the reads before converting (the remap below is only valid if we do convert).
      const remap = (m: IndexMap): IndexMap =>
        kind === "full"
          ? m
          : kind === "kept"
            ? m.map((c) => (typeof c === "number" ? kept[c]! : c))
            : m.map((c) => (typeof c === "number" && axes.includes(c) ? "zero" : c));
      const r = readsIn(g, v);
      if (r.region !== "main" || !r.maps.every((m) => sameMap(remap(m), kept, domain))) return false;
      for (const p of placed.get(g)!.values()) p.maps.splice(0, p.maps.length, ...p.maps.map(remap));
      g.kind = "reduce";
      g.domain = domain;
      g.axes = axes;
      g.mains.unshift(e);
      place(g, v, r.maps.map(remap), "main");
      return true;
    } else return false;
    const r = readsIn(g, v);
    if (r.region !== "main" || !r.maps.every((m) => sameMap(m, kept, domain))) return false;
    g.mains.unshift(e);
    place(g, v, r.maps, "main");
    return true;
  }

  function outerMap(g: FusionGroup, shape: Shape): IndexMap {
    const kept = keptAxes(g.domain, g.axes);
    return outerShapeKind(g.domain, g.axes, shape) === "kept"
      ? kept
      : g.domain.map((_, i) => (g.axes.includes(i) ? "zero" : i));
  }

  // The look-ahead of fused grouped GEMMs guessed wrong: plan without it.
  if (groupedOn && overBudget()) return fuse(program, table, { ...options, groupedGemms: false });
  groups.sort((a, b) => a.seed - b.seed);
  return { program, groups };
}

/** The iteration space of a reduction: its input shape and reduced axes. */
export function reductionSpace(e: Eqn): { domain: Shape; axes: number[] } {
  const x = e.inputs[0]!;
  const axes =
    e.prim === "reduceSum"
      ? [...(e as Eqn<"reduceSum">).params.axes].sort((a, b) => a - b)
      : [(e as Eqn<"reduceMax">).params.axis];
  return { domain: x.shape, axes };
}

/** Domain axes that a reduction keeps, in order. */
export function keptAxes(domain: Shape, axes: readonly number[]): number[] {
  return domain.map((_, i) => i).filter((i) => !axes.includes(i));
}

/**
 * Whether `shape` is a per-row shape of a row kernel over `domain` reducing
 * `axes`: the kept dims (`kept`) or the domain with reduced dims set to 1 (`keepdims`).
 */
export function outerShapeKind(domain: Shape, axes: readonly number[], shape: Shape): "kept" | "keepdims" | undefined {
  const kept: Dim[] = domain.filter((_, i) => !axes.includes(i));
  if (sameShape(shape, kept)) return "kept";
  if (
    sameShape(
      shape,
      domain.map((d, i) => (axes.includes(i) ? 1 : d)),
    )
  )
    return "keepdims";
  return undefined;
}
