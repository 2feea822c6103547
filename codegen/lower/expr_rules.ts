/**
 * Lowering rules for expression primitives: the value of the output at a
 * multi-index, in terms of operand values at (remapped) indices. Elementwise
 * math maps to kernel-IR unary/binary ops; shape ops are pure index math;
 * gathers read their indices, clamped into range (kernels never read out of
 * bounds; the interpreter raises on bad indices instead).
 */
import type { Eqn } from "../../dsl/program";
import { dimAdd } from "../../dsl/dims";
import type { Dim, Shape } from "../../dsl/shape";
import {
  BINARY_PRIMS,
  COMPARE_PRIMS,
  UNARY_PRIMS,
  type BinaryPrim,
  type ComparePrim,
  type Primitive,
  type UnaryPrim,
} from "../../dsl/primitives/params";
import { c, cast, select, type BinaryOp, type Expr, type UnaryOp } from "../kernel_ir";
import { scalarType } from "../types";
import { delinearizeBound, dimExpr, iadd, idiv, ieq, ilt, imax, imin, irem, isub, linearize } from "./index_math";
import {
  elementwiseMap,
  opaqueInputs,
  opaqueMap,
  type ExprLowering,
  type IndexComp,
  type IndexMapRule,
  type LoweringRule,
} from "./rule";
import { indexInRange } from "../analysis/value_facts";
import type { ValueLowerer } from "./values";

/** Unary primitives whose kernel op has another name; the rest lower to the kernel op of their own name. */
const RENAMED_UNARY: { readonly [P in Exclude<UnaryPrim, UnaryOp>]: UnaryOp } = { logicalNot: "not" };

function unaryOp(p: UnaryPrim): UnaryOp {
  return p in RENAMED_UNARY ? RENAMED_UNARY[p as keyof typeof RENAMED_UNARY] : (p as UnaryOp);
}

const BINARY_OPS: { readonly [P in BinaryPrim | ComparePrim]: BinaryOp } = {
  add: "add",
  sub: "sub",
  mul: "mul",
  div: "div",
  maximum: "max",
  minimum: "min",
  pow: "pow",
  rem: "rem",
  equal: "eq",
  notEqual: "ne",
  less: "lt",
  lessEqual: "le",
  greater: "gt",
  greaterEqual: "ge",
  logicalAnd: "and",
  logicalOr: "or",
};

const expr = <P extends Primitive>(
  f: ExprLowering<P>,
  movement: false | "static" | "indexed" = false,
  indexMap: IndexMapRule<P> = elementwiseMap,
): LoweringRule<P> => ({ kind: "expr", expr: f, movement, indexMap });

function unaryRule(p: UnaryPrim): LoweringRule<UnaryPrim> {
  return expr((vals, e, idx) => ({
    kind: "unary",
    op: unaryOp(p),
    arg: vals.at(e.inputs[0]!, idx),
    type: scalarType(e.out.dtype),
  }));
}

function binaryRule(p: BinaryPrim | ComparePrim): LoweringRule<BinaryPrim | ComparePrim> {
  return expr((vals, e, idx) => ({
    kind: "binary",
    op: BINARY_OPS[p],
    lhs: vals.at(e.inputs[0]!, idx),
    rhs: vals.at(e.inputs[1]!, idx),
    type: scalarType(e.out.dtype),
  }));
}

/** Whether a reshape only inserts or removes size-1 dims (then indices map without div/mod). */
function squeezeMap(from: Shape, to: Shape): number[] | undefined {
  const xs = from.map((d, i) => [d, i] as const).filter(([d]) => d !== 1);
  const ys = to.map((d, i) => [d, i] as const).filter(([d]) => d !== 1);
  if (xs.length !== ys.length || xs.some(([d], i) => d !== ys[i]![0])) return undefined;
  const map = from.map(() => -1);
  xs.forEach(([, i], j) => (map[i] = ys[j]![1]));
  return map;
}

/** An index clamped into [0, size). */
function clampInto(i: Expr, size: Expr): Expr {
  return imin(imax(i, c(0)), isub(size, c(1)));
}

function readIndex(vals: ValueLowerer, e: Eqn, idx: readonly Expr[]): Expr {
  return vals.at(e.inputs[1]!, idx);
}

/** One rule per name (the elementwise primitives share their lowering, keyed by the primitive). */
function rulesFor<K extends UnaryPrim | BinaryPrim | ComparePrim>(
  names: readonly K[],
  rule: (name: K) => LoweringRule<K>,
): { readonly [P in K]: LoweringRule<P> } {
  return Object.fromEntries(names.map((name) => [name, rule(name)])) as { [P in K]: LoweringRule<P> };
}

export const exprRules = {
  ...rulesFor(UNARY_PRIMS, unaryRule),
  ...rulesFor(BINARY_PRIMS, binaryRule),
  ...rulesFor(COMPARE_PRIMS, binaryRule),

  select: expr<"select">((vals, e, idx) =>
    select(vals.at(e.inputs[0]!, idx), vals.at(e.inputs[1]!, idx), vals.at(e.inputs[2]!, idx), scalarType(e.out.dtype)),
  ),
  cast: expr<"cast">((vals, e, idx) => cast(vals.at(e.inputs[0]!, idx), scalarType(e.params.dtype)), "static"),
  bitsToUniform: expr<"bitsToUniform">((vals, e, idx) => ({
    kind: "call",
    fn: "bitsToUniform",
    args: [cast(vals.at(e.inputs[0]!, idx), "u32")],
    type: scalarType(e.params.dtype),
  })),
  stopGradient: expr<"stopGradient">((vals, e, idx) => vals.at(e.inputs[0]!, idx), "static"),

  broadcastTo: expr<"broadcastTo">(
    (vals, e, idx) => {
      const x = e.inputs[0]!;
      const off = e.out.shape.length - x.shape.length;
      return vals.at(
        x,
        x.shape.map((d, k) => (d === 1 ? c(0) : idx[k + off]!)),
      );
    },
    "static",
    (e, pos, out) => {
      const x = e.inputs[pos]!;
      const off = e.out.shape.length - x.shape.length;
      return x.shape.map((d, k) => (d === 1 && e.out.shape[k + off] !== 1 ? "zero" : out[k + off]!));
    },
  ),
  reshape: expr<"reshape">(
    (vals, e, idx) => {
      const x = e.inputs[0]!;
      const map = squeezeMap(x.shape, e.out.shape);
      if (map)
        return vals.at(
          x,
          map.map((j) => (j < 0 ? c(0) : idx[j]!)),
        );
      const flat = vals.kb.let(linearize(idx, e.out.shape), "flat");
      return vals.at(
        x,
        delinearizeBound(flat, x.shape, (i) => vals.kb.let(i, "i")),
      );
    },
    "static",
    (e, pos, out) => {
      const map = squeezeMap(e.inputs[pos]!.shape, e.out.shape);
      return map ? map.map((j) => (j < 0 ? "zero" : out[j]!)) : opaqueMap(e.inputs[pos]!.shape.length);
    },
  ),
  transpose: expr<"transpose">(
    (vals, e, idx) => {
      const xi = new Array<Expr>(idx.length);
      e.params.perm.forEach((p, k) => (xi[p] = idx[k]!));
      return vals.at(e.inputs[0]!, xi);
    },
    "static",
    (e, _pos, out) => {
      const m = new Array<IndexComp>(out.length);
      e.params.perm.forEach((p, k) => (m[p] = out[k]!));
      return m;
    },
  ),
  slice: expr<"slice">(
    (vals, e, idx) =>
      vals.at(
        e.inputs[0]!,
        idx.map((i, k) => iadd(i, dimExpr(e.params.starts[k]!))),
      ),
    "static",
    (e, pos, out) => (e.params.starts.every((s) => s === 0) ? out : opaqueMap(e.inputs[pos]!.shape.length)),
  ),
  pad: expr<"pad">(
    (vals, e, idx) => {
      const x = e.inputs[0]!;
      const { lo, hi } = e.params;
      let inside: Expr | undefined;
      const xi = idx.map((i, k) => {
        if (lo[k] === 0 && hi[k] === 0) return i;
        const shifted = isub(i, dimExpr(lo[k]!));
        const ok: Expr = {
          kind: "binary",
          op: "and",
          lhs: { kind: "binary", op: "ge", lhs: shifted, rhs: c(0), type: "bool" },
          rhs: ilt(shifted, dimExpr(x.shape[k]!)),
          type: "bool",
        };
        inside = inside ? { kind: "binary", op: "and", lhs: inside, rhs: ok, type: "bool" } : ok;
        return vals.kb.let(clampInto(shifted, dimExpr(x.shape[k]!)), "i");
      });
      const t = scalarType(e.out.dtype);
      return inside ? select(inside, vals.at(x, xi), c(0, t), t) : vals.at(x, xi);
    },
    "static",
    opaqueInputs,
  ),
  concat: expr<"concat">(
    (vals, e, idx) => {
      const { axis } = e.params;
      const t = scalarType(e.out.dtype);
      const starts: Dim[] = [];
      let at: Dim = 0;
      for (const x of e.inputs) {
        starts.push(at);
        at = dimAdd(at, x.shape[axis]!);
      }
      // Last operand first, so the chain reads: i < end0 ? x0 : i < end1 ? x1 : ... : xn.
      let value: Expr | undefined;
      for (let j = e.inputs.length - 1; j >= 0; j--) {
        const x = e.inputs[j]!;
        const len = x.shape[axis]!;
        const local = clampInto(isub(idx[axis]!, dimExpr(starts[j]!)), dimExpr(len));
        const v = vals.at(
          x,
          idx.map((i, k) => (k === axis ? vals.kb.let(local, "i") : i)),
        );
        value = value === undefined ? v : select(ilt(idx[axis]!, dimExpr(dimAdd(starts[j]!, len))), v, value, t);
      }
      return value!;
    },
    "static",
    opaqueInputs,
  ),
  iota: expr<"iota">((_vals, e, idx) => {
    const i = idx[e.params.axis]!;
    return e.params.dtype === "i32" ? i : cast(i, scalarType(e.params.dtype));
  }, "static"),
  take: expr<"take">(
    (vals, e, idx) => {
      const [x, ind] = e.inputs as [typeof e.out, typeof e.out];
      const { axis } = e.params;
      const r = ind.shape.length;
      const raw = vals.kb.let(readIndex(vals, e, idx.slice(axis, axis + r)), "ix");
      if (!indexInRange(vals.source.facts, ind, x.shape[axis]!))
        vals.source.checkIndex(vals.kb, "take", axis, raw, dimExpr(x.shape[axis]!));
      const picked = clampInto(raw, dimExpr(x.shape[axis]!));
      return vals.at(x, [...idx.slice(0, axis), vals.kb.let(picked, "g"), ...idx.slice(axis + r)]);
    },
    "indexed",
    opaqueInputs,
  ),
  gather: expr<"gather">(
    (vals, e, idx) => {
      const x = e.inputs[0]!;
      const { axis } = e.params;
      const raw = vals.kb.let(readIndex(vals, e, idx), "ix");
      if (!indexInRange(vals.source.facts, e.inputs[1]!, x.shape[axis]!))
        vals.source.checkIndex(vals.kb, "gather", axis, raw, dimExpr(x.shape[axis]!));
      const picked = clampInto(raw, dimExpr(x.shape[axis]!));
      return vals.at(
        x,
        idx.map((i, k) => (k === axis ? vals.kb.let(picked, "g") : i)),
      );
    },
    "indexed",
    opaqueInputs,
  ),
  randomBits: expr<"randomBits">(
    (vals, e, idx) => {
      // Element i is word (i & 1) of threefry(key, (0, i >> 1)), like the interpreter.
      const key = e.inputs[0]!;
      const k0 = cast(vals.at(key, [c(0)]), "u32");
      const k1 = cast(vals.at(key, [c(1)]), "u32");
      const flat = vals.kb.let(linearize(idx, e.out.shape), "ctr");
      const counter = cast(idiv(flat, c(2)), "u32");
      const args = [k0, k1, c(0, "u32"), counter];
      const w0: Expr = { kind: "call", fn: "threefry2x32_0", args, type: "u32" };
      const w1: Expr = { kind: "call", fn: "threefry2x32_1", args, type: "u32" };
      return cast(select(ieq(irem(flat, c(2)), c(1)), w1, w0, "u32"), "i32");
    },
    false,
    opaqueInputs,
  ),
} satisfies { [P in Primitive]?: LoweringRule<P> };
