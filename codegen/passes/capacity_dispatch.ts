/**
 * Capacity-factor dispatch onto the fused routing path (issue #17). `moe/dispatch.ts`
 * writes a token-choice plan with capacity C as one-hot ranks and scatters:
 *   H = cast(keys[:, None] == iota[S, E])          one-hot of each slot's expert
 *   rank = sum(cumsum(H, 0) * H, 1) - 1            the slot's rank within its expert
 *   row = select(rank < C, keys * C + rank, E * C)  its buffer row (E*C: a sink for drops)
 *   rowX = scatterAdd(zeros[E*C + 1], row, x)[:E*C] the buffer's token / weight / validity
 *   y = scatterAdd(z, rowToken, u * rowW[:, None])  the combine (and dX in the backward)
 * which the generic lowering runs as an [S, E] scan and sort-based scatters. This pass
 * rewrites the pattern into primitives the fused lowering has kernels for:
 * - rank = inverse[s] - starts[keys[s]], from the stable sort `argsort(keys)` (the one-kernel
 *   counting sort of `lower/ops/counting_sort.ts`, which also writes `bincount(keys)`), its
 *   inverse as `scatterAdd(0, perm, iota)` (a gather-sum reading the sort's inverse) and the
 *   exclusive prefix sum of the counts. A stable sort ranks equal keys in slot order, as the
 *   cumsum does, so the ranks are equal.
 * - each buffer scatter becomes a gather: row r = e*C + j holds slot perm[starts[e] + j] when
 *   j < counts[e] (rank j < C: kept) and zero otherwise, the same rows the scatter fills; no
 *   sink row is computed at all.
 * - a scatter through the buffer's token rows of an update that is zero on empty rows (a
 *   product with the buffer's weights or validity, which are zero there) becomes a scatter
 *   through the slots' tokens of the update gathered at each kept slot's row: the gather-sum
 *   combine (each token sums its k slots in slot order, dropped slots add zero), forward and
 *   backward (the backward's dX of the dispatch gather has the same form).
 * Dropped slots keep the library's semantics: they contribute nothing, so a token whose every
 * assignment is dropped gets zero from the experts (and passes through on the residual path).
 * A part that does not match exactly (a mask, keys without a proven range, other shapes) is
 * left as it was, which the generic lowering computes correctly. At C = 1 (e.g. T = 1) the buffer
 * row's `keys * C` has already been simplified to the keys, and is matched as such.
 * One difference from the scatter: an empty row's update is taken to be zero, so a NaN or Inf
 * there (its gathered input is token 0's row times 0) no longer reaches token 0.
 */
import { dimAdd, dimEq, dimExactDiv, dimMul, provablyGe, type Dim } from "../../dsl/dims";
import { NDArray } from "../../dsl/ndarray";
import type { DType } from "../../dsl/dtype";
import type { Eqn, Program, Var } from "../../dsl/program";
import { analyzeValueFacts, MAX_COUNTING_SORT_BINS, type ValueFacts } from "../analysis/value_facts";
import { ProgramRewriter } from "./rewrite";
import { UniformConstants } from "./scalars";

/** A matched rank computation and the values the rewrite derived for it. */
interface RankMatch {
  readonly E: number;
  /** The keys as a 1-D [S] variable of the rewritten program. */
  readonly keys: Var;
  /** The source the keys are reshaped from (to recognise other reshapes of the same keys). */
  readonly keySource: Var;
  readonly perm: Var;
  readonly counts: Var;
  readonly starts: Var;
  /** Per buffer size E*C: which rows hold a slot and which slot (computed once, shared by every buffer). */
  readonly rows: Map<string, { readonly filled: Var; readonly slot: Var }>;
}

/** A matched capacity buffer `scatterAdd(zeros[E*C + 1], row, v)[:E*C]`. */
interface BufferMatch {
  readonly row: Var;
  /** Whether each slot is kept (the row's select condition). */
  readonly kept: Var;
  /** The scattered values (1-D, one per slot). */
  readonly values: Var;
  readonly EC: Dim;
}

/** Rewrites the capacity dispatch pattern (see the module comment); other programs come back unchanged. */
export function capacityDispatch(program: Program): Program {
  if (!program.eqns.some((e) => e.prim === "cumsum")) return program;
  const facts = analyzeValueFacts(program);
  const producers = new Map<Var, Eqn>(program.eqns.map((e) => [e.out, e]));
  const uniform = new UniformConstants(program);
  for (const e of program.eqns) uniform.see(e);
  const m = new Matcher(producers, uniform, facts);
  const rw = new ProgramRewriter(program);
  const ranks = new Map<Var, RankMatch>();
  const buffers = new Map<Var, BufferMatch>();
  let changed = false;
  for (const e of program.eqns) {
    const rank = m.rank(e);
    if (rank) {
      const r = emitRank(rw, rank.keySource, rank.E);
      ranks.set(e.out, r.match);
      rw.keep(e); // dead after the replacement; dce drops it
      rw.replace(e.out, r.rank);
      changed = true;
      continue;
    }
    const buffer = m.buffer(e, ranks);
    if (buffer) {
      const { match, rank } = buffer;
      rw.keep(e);
      rw.replace(e.out, emitBufferGather(rw, rank, match));
      buffers.set(e.out, match);
      changed = true;
      continue;
    }
    const combine = m.combine(e, buffers);
    if (combine) {
      rw.keep(e);
      rw.replace(e.out, emitCombine(rw, e as Eqn<"scatterAdd">, combine.tokens, combine.update));
      changed = true;
      continue;
    }
    rw.keep(e);
  }
  return changed ? rw.finish() : program;
}

/** Structural matching over the source program (before any substitution). */
class Matcher {
  constructor(
    private readonly producers: ReadonlyMap<Var, Eqn>,
    private readonly uniform: UniformConstants,
    private readonly facts: ValueFacts,
  ) {}

  private def<P extends Eqn["prim"]>(v: Var | undefined, prim: P): Eqn<P> | undefined {
    const e = v && this.producers.get(v);
    return e?.prim === prim ? (e as Eqn<P>) : undefined;
  }

  /** Follows reshapes back to the first non-reshape value (same flat data). */
  private unreshape(v: Var): Var {
    for (let e = this.def(v, "reshape"); e; e = this.def(v, "reshape")) v = e.inputs[0]!;
    return v;
  }

  /** The two operands of a commutative op, in the order that makes `first` hold (or undefined). */
  private either(e: Eqn, first: (v: Var) => boolean): [Var, Var] | undefined {
    const [a, b] = e.inputs as [Var, Var];
    return first(a) ? [a, b] : first(b) ? [b, a] : undefined;
  }

  /** Whether `v` is true everywhere: a uniform true, or `ones > 0` (the slot validity without a mask, unfolded). */
  private allTrue(v: Var): boolean {
    if (this.uniform.value(v) === 1) return true;
    const gt = this.def(v, "greater");
    const [a, b] = gt ? (gt.inputs as [Var, Var]) : [];
    const x = a && this.uniform.value(a);
    const y = b && this.uniform.value(b);
    return x !== undefined && y !== undefined && x > y;
  }

  /** Whether every element of `v` is the size `d` (a uniform constant, or a dim as a value, broadcast). */
  isDimValue(v: Var, d: Dim): boolean {
    const n = this.uniform.value(v);
    if (n !== undefined) return typeof d === "number" && n === d;
    const b = this.def(v, "broadcastTo") ?? this.def(v, "reshape");
    if (b) return this.isDimValue(b.inputs[0]!, d);
    // dimScalar(d) in moe/util.ts: the sum of d ones.
    const s = this.def(v, "reduceSum");
    const ones = s && this.def(s.inputs[0], "broadcastTo");
    if (ones && v.shape.length === 0 && this.uniform.value(ones.inputs[0]!) === 1)
      return dimEq(numel(ones.out.shape), d);
    const prod = this.def(v, "mul");
    if (prod) {
      // C * E as a value: d = C * E with E a constant operand.
      const [a, b] = prod.inputs as [Var, Var];
      for (const [x, y] of [
        [a, b],
        [b, a],
      ] as const) {
        const k = this.uniform.value(y);
        const q = k === undefined || k === 0 ? undefined : dimExactDiv(d, k);
        if (q !== undefined && this.isDimValue(x, q)) return true;
      }
    }
    return false;
  }

  /** rank = reduceSum(cumsum(H, 0) * H, axis 1) - 1 with H the one-hot of keys in [0, E). */
  rank(e: Eqn): { keySource: Var; E: number } | undefined {
    if (e.prim !== "sub" || e.out.dtype !== "i32" || e.out.shape.length !== 1) return undefined;
    const [a, one] = e.inputs as [Var, Var];
    if (this.uniform.value(one) !== 1) return undefined;
    const sum = this.def(a, "reduceSum");
    if (!sum || sum.params.axes.length !== 1 || sum.params.axes[0] !== 1) return undefined;
    const prod = this.def(sum.inputs[0], "mul");
    if (!prod) return undefined;
    // cumsum(H, 0) * H, in either order.
    const ops = this.either(prod, (v) => {
      const c = this.def(v, "cumsum");
      return !!c && c.params.axis === 0 && !c.params.reverse;
    });
    const H = ops?.[1];
    if (!H || this.def(ops[0], "cumsum")!.inputs[0] !== H) return undefined;
    const keySource = this.oneHotKeys(H);
    return keySource && { keySource, E: H.shape[1] as number };
  }

  /** H = cast(broadcastTo(k [S, 1]) == iota([S, E], axis 1)): the source of k, when its keys are in [0, E). */
  private oneHotKeys(H: Var): Var | undefined {
    const [S, E] = H.shape;
    if (H.shape.length !== 2 || H.dtype !== "i32" || typeof E !== "number" || E < 1 || E > MAX_COUNTING_SORT_BINS)
      return undefined;
    const cast = this.def(H, "cast");
    const eq = cast && this.def(cast.inputs[0], "equal");
    if (!eq) return undefined;
    const ops = this.either(eq, (v) => {
      const i = this.def(v, "iota");
      return !!i && i.params.axis === 1;
    });
    const b = ops && this.def(ops[1], "broadcastTo");
    const k = b?.inputs[0];
    if (!k || k.dtype !== "i32" || k.shape.length !== 2 || k.shape[1] !== 1 || !dimEq(k.shape[0]!, S!))
      return undefined;
    const source = this.unreshape(k);
    const hi = this.facts.range(source);
    return hi !== undefined && provablyGe(E, hi) ? source : undefined;
  }

  /** slice(scatterAdd(zeros[E*C + 1], row, v), [0], [E*C]) with row the buffer row of a matched rank. */
  buffer(e: Eqn, ranks: ReadonlyMap<Var, RankMatch>): { match: BufferMatch; rank: RankMatch } | undefined {
    if (e.prim !== "slice" || e.out.shape.length !== 1) return undefined;
    const sc = this.def(e.inputs[0], "scatterAdd");
    if (!sc || sc.params.axis !== 0) return undefined;
    const [zero, row, values] = sc.inputs as [Var, Var, Var];
    const EC = e.out.shape[0]!;
    const { starts } = (e as Eqn<"slice">).params;
    if (this.uniform.value(zero) !== 0 || !dimEq(starts[0]!, 0) || values.shape.length !== 1) return undefined;
    if (!dimEq(sc.out.shape[0]!, dimAdd(EC, 1))) return undefined;
    const found = this.bufferRow(row, EC, ranks);
    const kept = this.def(row, "select")?.inputs[0];
    return found && kept && { match: { row, kept, values, EC }, rank: found };
  }

  /**
   * row = select(rank < C [&& true], keys * C + rank, E * C) for a matched rank and C = EC / E
   * (with C = 1, simplify has already folded keys * 1 to keys: T = 1 at small capacity factors).
   */
  private bufferRow(row: Var, EC: Dim, ranks: ReadonlyMap<Var, RankMatch>): RankMatch | undefined {
    const sel = this.def(row, "select");
    if (!sel) return undefined;
    const [cond, onTrue, onFalse] = sel.inputs as [Var, Var, Var];
    let lt = this.def(cond, "less");
    const and = this.def(cond, "logicalAnd");
    if (and) {
      const ops = this.either(and, (v) => this.allTrue(v));
      lt = ops && this.def(ops[1], "less");
    }
    const rankVar = lt?.inputs[0];
    const rank = rankVar && ranks.get(rankVar);
    if (!rank) return undefined;
    const C = dimExactDiv(EC, rank.E);
    if (C === undefined || !this.isDimValue(lt!.inputs[1]!, C) || !this.isDimValue(onFalse, EC)) return undefined;
    const add = this.def(onTrue, "add");
    const ops = add && this.either(add, (v) => v === rankVar);
    const mul = ops && this.def(ops[1], "mul");
    const kc = mul && this.either(mul, (v) => this.isDimValue(v, C));
    const keys = kc ? kc[1] : ops && dimEq(C, 1) ? ops[1] : undefined;
    return keys && this.unreshape(keys) === rank.keySource && keys.shape.length === 1 ? rank : undefined;
  }

  /** scatterAdd(z, rowToken, u * broadcast(rowW)) with rowToken and rowW capacity buffers of the same rows. */
  combine(e: Eqn, buffers: ReadonlyMap<Var, BufferMatch>): { tokens: BufferMatch; update: Var } | undefined {
    if (e.prim !== "scatterAdd" || (e as Eqn<"scatterAdd">).params.axis !== 0) return undefined;
    const [, index, update] = e.inputs as [Var, Var, Var];
    const tokens = buffers.get(index);
    const prod = this.def(update, "mul");
    if (!tokens || !prod || update.shape.length !== 2) return undefined;
    const ops = this.either(prod, (v) => {
      const b = this.def(v, "broadcastTo");
      const r = b && this.def(b.inputs[0], "reshape");
      const w = r && buffers.get(r.inputs[0]!);
      return !!w && w.row === tokens.row && r.out.shape.length === 2;
    });
    return ops && { tokens, update };
  }
}

function numel(shape: readonly Dim[]): Dim {
  return dimMul(...shape);
}

function scalar(rw: ProgramRewriter, dtype: DType, x: number, shape: readonly Dim[]): Var {
  return rw.bind("broadcastTo", [rw.constant(NDArray.scalar(dtype, x))], { shape });
}

/** keys, the stable sort, counts, starts and rank = inverse - starts[keys]. */
function emitRank(rw: ProgramRewriter, keySource: Var, E: number): { rank: Var; match: RankMatch } {
  const S = numel(keySource.shape);
  const keys = rw.bind("reshape", [rw.get(keySource)], { shape: [S] });
  const perm = rw.bind("argsort", [keys], { descending: false });
  const counts = rw.bind("bincount", [keys], { length: E });
  const starts = rw.bind("sub", [rw.bind("cumsum", [counts], { axis: 0, reverse: false }), counts], {});
  const slots = rw.bind("iota", [], { shape: [S], axis: 0, dtype: "i32" });
  const inverse = rw.bind("scatterAdd", [scalar(rw, "i32", 0, [S]), perm, slots], { axis: 0 });
  const rank = rw.bind("sub", [inverse, rw.bind("take", [starts, keys], { axis: 0 })], {});
  return { rank, match: { E, keys, keySource, perm, counts, starts, rows: new Map() } };
}

/** Buffer row r = e*C + j: values[perm[starts[e] + j]] when j < counts[e], else 0. */
function emitBufferGather(rw: ProgramRewriter, rank: RankMatch, b: BufferMatch): Var {
  const { filled, slot } = bufferRows(rw, rank, b.EC);
  const values = rw.get(b.values);
  const picked = rw.bind("take", [values, slot], { axis: 0 });
  return rw.bind("select", [filled, picked, scalar(rw, values.dtype, 0, [b.EC])], {});
}

/** Row r = e*C + j of the E*C buffer: whether it holds a slot (j < counts[e]) and which (perm[starts[e] + j]). */
function bufferRows(rw: ProgramRewriter, rank: RankMatch, EC: Dim): { filled: Var; slot: Var } {
  // Once per rank and size: constant folding makes the iotas data, which cse does not merge.
  const key = JSON.stringify(EC);
  const known = rank.rows.get(key);
  if (known) return known;
  const { E } = rank;
  const C = dimExactDiv(EC, E)!;
  const flat = (axis: number) =>
    rw.bind("reshape", [rw.bind("iota", [], { shape: [E, C], axis, dtype: "i32" })], { shape: [EC] });
  const expert = flat(0);
  const j = flat(1);
  const filled = rw.bind("less", [j, rw.bind("take", [rank.counts, expert], { axis: 0 })], {});
  const at = rw.bind("add", [rw.bind("take", [rank.starts, expert], { axis: 0 }), j], {});
  const src = rw.bind("select", [filled, at, scalar(rw, "i32", 0, [EC])], {});
  const rows = { filled, slot: rw.bind("take", [rank.perm, src], { axis: 0 }) };
  rank.rows.set(key, rows);
  return rows;
}

/** scatterAdd(z, slotTokens, kept ? update[row] : 0): each token sums its kept slots' rows. */
function emitCombine(rw: ProgramRewriter, e: Eqn<"scatterAdd">, tokens: BufferMatch, update: Var): Var {
  const row = rw.get(tokens.row);
  const S = row.shape[0]!;
  const D = update.shape[1]!;
  const kept = rw.get(tokens.kept);
  const safeRow = rw.bind("select", [kept, row, scalar(rw, "i32", 0, [S])], {});
  const rows = rw.bind("take", [rw.get(update), safeRow], { axis: 0 });
  const keptRows = rw.bind("broadcastTo", [rw.bind("reshape", [kept], { shape: [S, 1] })], { shape: [S, D] });
  const u = rw.bind("select", [keptRows, rows, scalar(rw, update.dtype, 0, [S, D])], {});
  return rw.bind("scatterAdd", [rw.get(e.inputs[0]!), rw.get(tokens.values), u], { axis: 0 });
}
