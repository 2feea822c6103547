/**
 * Shapes. A dimension is a concrete size, a name ("T") that stays symbolic in
 * traced programs and is bound to a size when the program runs, or an
 * expression of those (dims.ts): `[T, 2]` reshapes to `[T*2]`.
 */
import {
  ShapeError,
  dimEq,
  dimExactDiv,
  dimMul,
  dimToString,
  evalDim,
  isDim,
  normDim,
  type Dim,
  type DimEnv,
} from "./dims";

export { ShapeError, type Dim, type DimEnv, type DimExpr } from "./dims";
export type Shape = readonly Dim[];
/** A shape with every dimension known (what runs on a backend). */
export type ConcreteShape = readonly number[];

export function shapeToString(s: Shape): string {
  return `[${s.map(dimToString).join(",")}]`;
}

export function isConcrete(s: Shape): s is ConcreteShape {
  return s.every((d) => typeof d === "number");
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => dimEq(d, b[i]!));
}

/** Validates and normalises a user-given dim. */
export function checkDim(d: unknown, what: string): Dim {
  if (isDim(d) && (typeof d !== "number" || d >= 0)) return normDim(d);
  throw new ShapeError(
    `${what}: invalid dimension ${typeof d === "number" ? String(d) : JSON.stringify(d)}; expected a non-negative ` +
      `integer, a dim name like "T" or a dim expression`,
  );
}

/** Number of elements of a shape, as a dim (an expression when the shape has named dims). */
export function numelDim(s: Shape): Dim {
  return dimMul(...s);
}

/** The size of the one inferred (-1) dim of a reshape target, or `undefined` when it is not a whole quotient. */
export function inferredDim(total: Shape, known: Shape): Dim | undefined {
  return dimExactDiv(numelDim(total), numelDim(known));
}

/** Number of elements of a concrete shape. */
export function numel(s: ConcreteShape): number {
  let n = 1;
  for (const d of s) n *= d;
  return n;
}

/** Row-major strides. */
export function stridesOf(s: ConcreteShape): number[] {
  const st = new Array<number>(s.length);
  let acc = 1;
  for (let i = s.length - 1; i >= 0; i--) {
    st[i] = acc;
    acc *= s[i]!;
  }
  return st;
}

/** Resolves named dims (and expressions of them) with an environment. */
export function resolveShape(s: Shape, env: DimEnv | undefined): number[] {
  return s.map((d) => evalDim(d, env ?? new Map()));
}

/** Normalises a possibly negative axis for a given rank. */
export function normAxis(axis: number, rank: number, op: string): number {
  if (
    !Number.isInteger(axis) ||
    axis < -rank ||
    axis >= Math.max(rank, 1) ||
    (rank === 0 && axis !== 0 && axis !== -1)
  ) {
    throw new ShapeError(
      `${op}: axis ${axis} is out of range for a tensor of rank ${rank}; expected an integer in [${-rank}, ${rank - 1}]`,
    );
  }
  return axis < 0 ? axis + rank : axis;
}

export function normAxes(axes: number | readonly number[] | undefined, rank: number, op: string): number[] {
  if (axes === undefined) return Array.from({ length: rank }, (_, i) => i);
  const list = typeof axes === "number" ? [axes] : [...axes];
  const out = list.map((a) => normAxis(a, rank, op));
  if (new Set(out).size !== out.length) throw new ShapeError(`${op}: repeated axis in ${JSON.stringify(list)}`);
  return out.sort((a, b) => a - b);
}

/** numpy broadcasting of two shapes; throws naming both shapes when incompatible. */
export function broadcastShapes(a: Shape, b: Shape, op: string): Dim[] {
  const rank = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    const da = i < rank - a.length ? 1 : a[i - (rank - a.length)]!;
    const db = i < rank - b.length ? 1 : b[i - (rank - b.length)]!;
    if (dimEq(da, db)) out.push(da);
    else if (da === 1) out.push(db);
    else if (db === 1) out.push(da);
    else
      throw new ShapeError(
        `${op}: shapes ${shapeToString(a)} and ${shapeToString(b)} do not broadcast (dim ${i}: ${dimToString(da)} vs ` +
          `${dimToString(db)}); expected equal sizes or 1`,
      );
  }
  return out;
}

/** The shape with `axes` kept as size-1 dims (for broadcasting a reduced value back). */
export function keepDimsShape(shape: Shape, axes: readonly number[]): Dim[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}
