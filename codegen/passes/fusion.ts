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
import { opaqueMap, type IndexMap, type IndexMapRule, type LoweringTable } from "../lower/rule";

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
  /** reduce: reductions in program order; matmul / op: the one main equation. */
  readonly mains: Eqn[];
  /** Variables written to buffers, in program order. */
  readonly roots: Var[];
  /** Index of the group's last equation in the program (execution order). */
  readonly seed: number;
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
   * Most buffers one fused kernel may bind (inputs read plus outputs written).
   * Default 8: WebGPU's guaranteed maxStorageBuffersPerShaderStage.
   */
  readonly maxBuffers?: number;
}

type Region = "main" | "operand";

interface Placement {
  readonly maps: IndexMap[];
  region: Region;
}

const identity = (rank: number): number[] => Array.from({ length: rank }, (_, i) => i);

/** The index map of input `pos` of `eqn`, given the map of its output: the lowering rule knows it. */
function inputMap(eqn: Eqn, pos: number, out: IndexMap, table: LoweringTable): IndexMap {
  const rule = table[eqn.prim];
  return rule.kind === "expr"
    ? (rule.indexMap as IndexMapRule<typeof eqn.prim>)(eqn, pos, out)
    : opaqueMap(eqn.inputs[pos]!.shape.length);
}

function sameMap(m: IndexMap, want: readonly number[], domain: Shape): boolean {
  return (
    m.length === want.length && m.every((comp, k) => comp === want[k] || (comp === "zero" && domain[want[k]!] === 1))
  );
}

/** Groups the equations of `program` into kernels. */
export function fuse(program: Program, table: LoweringTable, options: FusionOptions = {}): FusionPlan {
  const fuseOn = options.fuse ?? true;
  const maxBuffers = options.maxBuffers ?? 8;
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
    const rule = table[e.prim];
    const consumerGroups = [...new Set(consumers.flatMap((u) => groupsOf.get(u.eqn.out) ?? []))];
    const single = consumerGroups.length === 1 ? consumerGroups[0]! : undefined;

    if (rule.kind === "expr") {
      // Index remaps are recomputed in every consumer; gathers only when one kernel reads them
      // (a gather read by several GEMMs is cheaper written once than re-gathered in each inner loop).
      const duplicable = rule.movement && !(rule.movement === "indexed" && consumerGroups.length > 1);
      if (fuseOn && duplicable && !isOut && consumerGroups.every((g) => fitsWith(g, e, false))) {
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
      if (
        fuseOn &&
        single &&
        single.kind === "elementwise" &&
        sameShape(single.domain, v.shape) &&
        fitsWith(single, e, isOut)
      ) {
        const r = readsIn(single, v);
        if (r.region === "main" && r.maps.every((m) => sameMap(m, identity(v.shape.length), v.shape))) {
          single.kind = "matmul";
          single.mains.push(e);
          place(single, v, r.maps, "main");
          if (isOut) single.roots.unshift(v);
          continue;
        }
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
    const inside = new Set<Var>([...g.members, ...g.mains.map((m) => m.out), e.out]);
    const external = new Set<Var>();
    const eqns = [...[...g.members].map((m) => producer.get(m)!), ...g.mains, e];
    for (const q of eqns) for (const i of q.inputs) if (!inside.has(i)) external.add(i);
    return external.size + g.roots.length + (isOut ? 1 : 0) <= maxBuffers;
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
