/**
 * Integer facts about a Program's values, for lowering choices that the data
 * alone would not allow (a counting sort needs keys in a small range, a
 * gather-sum combine needs to know which slots feed each token):
 * - `range(v)`: every element of `v` is in [0, hi) (topK indices, argsort
 *   outputs, iota; preserved by reshape, broadcast, transpose, slice, take and
 *   gather, which only move or pick elements);
 * - `indexFn(v)`: the value at flat position s is floor(s / div) mod mod, a
 *   function of the position alone (iota and its reshapes and broadcasts:
 *   token-major slots `floor(s / K)`, choice-major slots `s mod T`);
 * - `permutation(v)`: a 1-D `v` holds each of [0, n) exactly once (argsort);
 * - `slotFn(v)`: v[j] = fn(perm[j]) with perm a permutation (or v[j] = fn(j)):
 *   a take of an index function through a permutation (the token of each
 *   sorted slot);
 * - `counts(v)`: `v` is a bincount of keys that are all in range, so its
 *   entries are >= 0 and sum to the number of keys (valid group sizes); or
 *   uniform group sizes: a size d broadcast to [G] (a capacity buffer's, with
 *   d a constant or the sum of d ones, `dimScalar` in moe/util.ts), or a
 *   constant of non-negative entries;
 * - `topKRows(v)`: `v` holds topK indices (distinct within each row), or
 *   those flattened to 1-D;
 * - `countingSorts`: argsorts of keys in a small static range, and the
 *   bincounts of the same keys that one kernel can also produce, with their
 *   inclusive prefix sums (`cumsum`) and the exclusive ones (`cumsum(c) - c`:
 *   each key's first sorted position), which the sort's counter table holds,
 *   and the scatterAdds through the sorted keys (`take(keys, perm)`: each
 *   target's updates are one contiguous run, a segment sum over those bounds).
 * The analysis is one forward walk over the equations; a fact is recorded
 * only when the rule below proves it, so an unknown pattern is simply
 * lowered the generic way.
 */
import { dimEq, dimExactDiv, dimMul, dimCeilDiv, provablyGe, type Dim } from "../../dsl/dims";
import type { NDArray } from "../../dsl/ndarray";
import type { Eqn, Program, Var } from "../../dsl/program";
import type { Shape } from "../../dsl/shape";

/** value(s) = floor(s / div) mod mod at flat position s (`mod` absent: no wrap). */
export interface IndexFn {
  readonly div: Dim;
  readonly mod?: Dim;
}

/** v[j] = fn(perm[j]) (or fn(j) without `perm`), for j in [0, n). */
export interface SlotFn {
  readonly fn: IndexFn;
  readonly perm?: Var;
  readonly n: Dim;
}

/** An argsort that a counting sort can compute, and the bincounts of its keys it can produce alongside. */
export interface CountingSortPlan {
  readonly keys: Var;
  /** Keys are in [0, bins). */
  readonly bins: number;
  readonly sort: Eqn<"argsort">;
  readonly counts: readonly Eqn<"bincount">[];
  /** take(src, perm) of an index function through the sort's permutation (the token of each sorted slot). */
  readonly gathers: readonly { readonly out: Var; readonly fn: IndexFn }[];
  /** cumsum(c) of a count c in `counts` of length `bins`: where each bin's keys end in sorted order. */
  readonly scans: readonly Eqn<"cumsum">[];
  /** cumsum(c) - c of such a count: where each bin's keys start (written ahead when computed alone). */
  readonly starts: readonly Var[];
  /**
   * scatterAdd(x, take(keys, perm), u) along axis 0 with x at least `bins` long (ascending sorts): the
   * index is the sorted keys, so target b's updates are bin b's contiguous run of rows (a segment sum).
   */
  readonly segmentSums: readonly Eqn<"scatterAdd">[];
  /** scatterAdd(0, perm, iota) along axis 0: the permutation's inverse (the sort kernel writes it). */
  readonly inverses: readonly Eqn<"scatterAdd">[];
}

/** The indices of a topK along the last axis: each row's k picks of its n positions, all distinct. */
export interface TopKRows {
  /** The topKIndices output [...outer, k] (`v` itself, or what `v` flattens to 1-D). */
  readonly indices: Var;
  /** The number of rows (the product of the outer dims), the picks per row, the row length. */
  readonly rows: Dim;
  readonly k: Dim;
  readonly n: Dim;
}

export interface ValueFacts {
  /** Exclusive upper bound of the (non-negative) values of `v`, when known. */
  range(v: Var): Dim | undefined;
  indexFn(v: Var): IndexFn | undefined;
  permutation(v: Var): boolean;
  slotFn(v: Var): SlotFn | undefined;
  /** `v` counts `total` keys that are all in range (entries >= 0, summing to `total`). */
  counts(v: Var): { readonly total: Dim } | undefined;
  /** The counting-sort plan whose keys are `keys`, or whose sort produces `perm`. */
  countingSortOfKeys(keys: Var): CountingSortPlan | undefined;
  countingSortOfPerm(perm: Var): CountingSortPlan | undefined;
  /** The counting-sort plan whose `scans` include the cumsum writing `v`. */
  countingSortOfScan(v: Var): CountingSortPlan | undefined;
  /** The counting-sort plan whose `segmentSums` include the scatterAdd writing `v`. */
  countingSortOfSegmentSum(v: Var): CountingSortPlan | undefined;
  /** The counting-sort plan whose `inverses` include the scatterAdd writing `v`. */
  countingSortOfInverse(v: Var): CountingSortPlan | undefined;
  /** `v` is topK indices, or those flattened to 1-D (distinct within each row: expert choice's token picks). */
  topKRows(v: Var): TopKRows | undefined;
}

/** Counting sorts keep one counter per key bin and thread in workgroup memory: small ranges only. */
export const MAX_COUNTING_SORT_BINS = 256;

const numel = (shape: Shape): Dim => dimMul(...shape);

/** The identity function of the flat position. */
const IDENTITY: IndexFn = { div: 1 };

/**
 * f(g(s)) for g(s) = floor(s / A) mod B (B absent: no wrap) and f = floor(x / a) mod b, when it is
 * again of that form. floor((floor(s/A) mod B) / a) = floor(s / (A a)) mod (B / a) when a divides B.
 */
export function composeIndexFn(g: IndexFn, f: IndexFn): IndexFn | undefined {
  const div = dimMul(g.div, f.div);
  if (g.mod === undefined) return f.mod === undefined ? { div } : { div, mod: f.mod };
  const q = dimExactDiv(g.mod, f.div);
  if (q === undefined) return undefined;
  if (f.mod === undefined || dimEq(f.mod, q)) return { div, mod: q };
  // (z mod q) mod b: z mod b when b divides q; z mod q when q divides b (then z mod q < b).
  if (dimExactDiv(q, f.mod) !== undefined) return { div, mod: f.mod };
  if (dimExactDiv(f.mod, q) !== undefined) return { div, mod: q };
  return undefined;
}

/**
 * Where broadcastTo(x: inShape -> outShape) reads x, as a function of the output's flat position:
 * floor(s / A) mod B, when x's non-unit dims are one contiguous run of the output's dims.
 */
export function broadcastSource(inShape: Shape, outShape: Shape): IndexFn | undefined {
  const lead = outShape.length - inShape.length;
  if (lead < 0) return undefined;
  const kept: number[] = [];
  for (let i = 0; i < outShape.length; i++) {
    const d = i < lead ? 1 : inShape[i - lead]!;
    if (d === 1) continue;
    if (!dimEq(d, outShape[i]!)) return undefined;
    kept.push(i);
  }
  if (kept.length === 0) return { div: numel(outShape), mod: 1 };
  const p = kept[0]!;
  const q = kept[kept.length - 1]! + 1;
  if (kept.length !== q - p) return undefined;
  const div = numel(outShape.slice(q));
  return p === 0 ? { div } : { div, mod: numel(outShape.slice(p, q)) };
}

/** The index function of an iota: position along `axis` of `shape`. */
function iotaFn(shape: Shape, axis: number): IndexFn {
  const div = numel(shape.slice(axis + 1));
  return axis === 0 ? { div } : { div, mod: shape[axis]! };
}

/** The index function a constant's data follows, if any (arange after constant folding). */
function constFn(data: NDArray): IndexFn | undefined {
  const n = data.size;
  if (n === 0 || data.dtype !== "i32") return undefined;
  const at = (s: number) => data.data[s]!;
  // floor(s / d): d is the first position holding 1 (n when none).
  let d = 1;
  while (d < n && at(d) === 0) d++;
  const div = (s: number) => Math.floor(s / d);
  if (Array.from({ length: n }, (_, s) => s).every((s) => at(s) === div(s))) return { div: d };
  // floor(s / d) mod m: m is where the value first wraps back to 0.
  let m = 1;
  while (m * d < n && at(m * d) !== 0) m++;
  for (let s = 0; s < n; s++) if (at(s) !== div(s) % m) return undefined;
  return { div: d, mod: m };
}

/** Exclusive bound of an index function's values over positions [0, n). */
function fnRange(fn: IndexFn, n: Dim): Dim {
  return fn.mod ?? dimCeilDiv(n, fn.div);
}

/** Derives the facts of `program` (pure: the same program always gives the same facts). */
export function analyzeValueFacts(program: Program): ValueFacts {
  const ranges = new Map<Var, Dim>();
  const fns = new Map<Var, IndexFn>();
  const perms = new Set<Var>();
  const slots = new Map<Var, SlotFn>();
  const counts = new Map<Var, { total: Dim }>();
  const topKs = new Map<Var, TopKRows>();
  /** Scalars (or uniform values) known to equal a size: constants, the sum of d ones. */
  const sizes = new Map<Var, Dim>();

  for (const [v, data] of program.consts) {
    if (v.dtype !== "i32") continue;
    const fn = constFn(data);
    if (fn) fns.set(v, fn);
    let lo = 0;
    let hi = 0;
    for (const x of data.data) {
      lo = Math.min(lo, x);
      hi = Math.max(hi, x + 1);
    }
    if (lo >= 0) ranges.set(v, hi);
    let total = 0;
    for (const x of data.data) total += x;
    if (lo >= 0 && data.shape.length === 1) counts.set(v, { total });
    if (data.size === 1 && lo >= 0) sizes.set(v, data.data[0]!);
  }

  for (const e of program.eqns) {
    const v = e.out;
    if (v.dtype !== "i32") continue;
    const x = e.inputs[0];
    const rangeOf = (u: Var | undefined) => (u ? ranges.get(u) : undefined);
    switch (e.prim) {
      case "iota": {
        const { shape, axis } = (e as Eqn<"iota">).params;
        fns.set(v, iotaFn(shape, axis));
        ranges.set(v, shape[axis]!);
        break;
      }
      case "topKIndices":
      case "argsort": {
        const n = x!.shape[x!.shape.length - 1]!;
        ranges.set(v, n);
        if (e.prim === "argsort" && v.shape.length === 1) perms.add(v);
        if (e.prim === "topKIndices")
          topKs.set(v, { indices: v, rows: numel(v.shape.slice(0, -1)), k: v.shape[v.shape.length - 1]!, n });
        break;
      }
      case "reshape": {
        const fn = fns.get(x!);
        if (fn) fns.set(v, fn);
        const picks = topKs.get(x!);
        if (picks && picks.indices === x && v.shape.length === 1) topKs.set(v, picks);
        const r = rangeOf(x);
        if (r !== undefined) ranges.set(v, r);
        break;
      }
      case "broadcastTo": {
        const size = sizes.get(x!);
        if (size !== undefined && numel(x!.shape) === 1) {
          sizes.set(v, size);
          if (v.shape.length === 1) counts.set(v, { total: dimMul(v.shape[0]!, size) });
        }
        const src = broadcastSource(x!.shape, v.shape);
        const fn = fns.get(x!);
        const composed = src && fn && composeIndexFn(src, fn);
        if (composed) fns.set(v, composed);
        const r = rangeOf(x);
        if (r !== undefined) ranges.set(v, r);
        break;
      }
      case "transpose":
      case "slice":
      case "stopGradient": {
        const r = rangeOf(x);
        if (r !== undefined) ranges.set(v, r);
        break;
      }
      case "take":
      case "gather": {
        const r = rangeOf(x);
        if (r !== undefined) ranges.set(v, r);
        const ind = e.inputs[1]!;
        // take(src, perm) of a 1-D index function through a permutation of its positions.
        const fn = fns.get(x!);
        if (e.prim === "take" && fn && x!.shape.length === 1 && perms.has(ind) && dimEq(ind.shape[0]!, x!.shape[0]!))
          slots.set(v, { fn, perm: ind, n: x!.shape[0]! });
        break;
      }
      case "reduceSum": {
        // The sum of ones over every axis: the number of elements.
        const one = sizes.get(x!);
        if (one === 1 && v.shape.length === 0) sizes.set(v, numel(x!.shape));
        break;
      }
      case "bincount": {
        const { length } = (e as Eqn<"bincount">).params;
        const r = rangeOf(x);
        if (r !== undefined && provablyGe(length, r)) counts.set(v, { total: x!.shape[0]! });
        break;
      }
      default:
        break;
    }
  }
  for (const [v, fn] of fns) {
    if (v.shape.length !== 1) continue;
    if (!slots.has(v)) slots.set(v, { fn, n: v.shape[0]! });
    if (!ranges.has(v)) ranges.set(v, fnRange(fn, v.shape[0]!));
  }
  for (const p of perms) slots.set(p, { fn: IDENTITY, perm: p, n: p.shape[0]! });

  // Counting sorts: 1-D argsorts of keys in a small static range, with the bincounts of the same keys.
  const byKeys = new Map<Var, CountingSortPlan>();
  const byPerm = new Map<Var, CountingSortPlan>();
  const byScan = new Map<Var, CountingSortPlan>();
  const bySegmentSum = new Map<Var, CountingSortPlan>();
  const byInverse = new Map<Var, CountingSortPlan>();
  // All zeros: a folded constant, or a scalar zero broadcast.
  const zero = (v: Var): boolean => {
    const data = program.consts.get(v);
    return data ? Array.from(data.data).every((x) => x === 0) : sizes.get(v) === 0;
  };
  for (const e of program.eqns) {
    if (e.prim !== "argsort" || e.out.shape.length !== 1) continue;
    const keys = e.inputs[0]!;
    const bins = ranges.get(keys);
    if (keys.dtype !== "i32" || typeof bins !== "number" || bins < 1 || bins > MAX_COUNTING_SORT_BINS) continue;
    if (byKeys.has(keys)) continue; // one kernel per key array (a second argsort stays generic)
    const sameKeys = program.eqns.filter(
      (b): b is Eqn<"bincount"> => b.prim === "bincount" && b.inputs[0] === keys && counts.has(b.out),
    );
    const gathers = program.eqns.flatMap((g) => {
      const slot = g.prim === "take" ? slots.get(g.out) : undefined;
      return slot && slot.perm === e.out ? [{ out: g.out, fn: slot.fn }] : [];
    });
    // Prefix sums of a count of exactly `bins` entries (the table has one per bin), and their exclusive form;
    // ascending sorts only (a descending sort's table runs from the last key down).
    const ascending = !(e as Eqn<"argsort">).params.descending;
    const countOuts = new Set(sameKeys.filter((b) => ascending && dimEq(b.params.length, bins)).map((b) => b.out));
    const scans = program.eqns.filter(
      (s): s is Eqn<"cumsum"> =>
        s.prim === "cumsum" &&
        (s as Eqn<"cumsum">).params.axis === 0 &&
        !(s as Eqn<"cumsum">).params.reverse &&
        countOuts.has(s.inputs[0]!),
    );
    const scanOf = new Map(scans.map((s) => [s.out, s.inputs[0]!]));
    const starts = program.eqns
      .filter((d) => d.prim === "sub" && scanOf.get(d.inputs[0]!) === d.inputs[1])
      .map((d) => d.out);
    // The keys in sorted order (the expert id of each sorted row), and the scatters through them.
    const sorted = new Set(
      program.eqns
        .filter((g) => ascending && g.prim === "take" && g.inputs[0] === keys && g.inputs[1] === e.out)
        .map((g) => g.out),
    );
    const segmentSums = program.eqns.filter(
      (s): s is Eqn<"scatterAdd"> =>
        s.prim === "scatterAdd" &&
        (s as Eqn<"scatterAdd">).params.axis === 0 &&
        sorted.has(s.inputs[1]!) &&
        provablyGe(s.inputs[0]!.shape[0]!, bins),
    );
    // Each slot's sorted position: the identity scattered through the permutation onto zeros.
    const inverses = program.eqns.filter((s): s is Eqn<"scatterAdd"> => {
      const fn = s.prim === "scatterAdd" && s.inputs[1] === e.out ? fns.get(s.inputs[2]!) : undefined;
      return (
        !!fn &&
        (s as Eqn<"scatterAdd">).params.axis === 0 &&
        fn.mod === undefined &&
        dimEq(fn.div, 1) &&
        s.out.dtype === "i32" &&
        s.out.shape.length === 1 &&
        dimEq(s.out.shape[0]!, e.out.shape[0]!) &&
        zero(s.inputs[0]!)
      );
    });
    const plan: CountingSortPlan = {
      keys,
      bins,
      sort: e as Eqn<"argsort">,
      counts: sameKeys,
      gathers,
      scans,
      starts,
      segmentSums,
      inverses,
    };
    byKeys.set(keys, plan);
    byPerm.set(e.out, plan);
    for (const s of scans) byScan.set(s.out, plan);
    for (const s of segmentSums) bySegmentSum.set(s.out, plan);
    for (const s of inverses) byInverse.set(s.out, plan);
  }

  return {
    range: (v) => ranges.get(v),
    indexFn: (v) => fns.get(v),
    permutation: (v) => perms.has(v),
    slotFn: (v) => slots.get(v),
    counts: (v) => counts.get(v),
    countingSortOfKeys: (k) => byKeys.get(k),
    countingSortOfPerm: (p) => byPerm.get(p),
    countingSortOfScan: (v) => byScan.get(v),
    countingSortOfSegmentSum: (v) => bySegmentSum.get(v),
    countingSortOfInverse: (v) => byInverse.get(v),
    topKRows: (v) => topKs.get(v),
  };
}

/** Whether every value of index `v` is provably in [0, size) (its run-time check can go). */
export function indexInRange(facts: ValueFacts, v: Var, size: Dim): boolean {
  const hi = facts.range(v);
  return hi !== undefined && provablyGe(size, hi);
}

/**
 * The slots that feed target t of a scatter along an axis of length `len` through `slot`'s
 * index function: slot s(t, q) for q in [0, perTarget), or undefined when the function does not
 * hit every target the same number of times. floor(s / a) with n = a * len: s = t * a + q;
 * floor(s / a) mod m with m = len and n a multiple of a * m: s = (u * m + t) * a + w for
 * q = u * a + w.
 */
export function preimage(slot: SlotFn, len: Dim): { perTarget: Dim; fn: IndexFn } | undefined {
  const { fn, n } = slot;
  if (fn.mod === undefined) {
    if (!dimEq(dimMul(fn.div, len), n)) return undefined;
    return { perTarget: fn.div, fn };
  }
  if (!dimEq(fn.mod, len)) return undefined;
  const perTarget = dimExactDiv(n, len);
  if (perTarget === undefined || dimExactDiv(perTarget, fn.div) === undefined) return undefined;
  return { perTarget, fn };
}
