/**
 * Shapes. A dimension is a concrete size or a name ("T") that stays symbolic
 * in traced programs and is bound to a size when the program runs.
 */
export type Dim = number | string;
export type Shape = readonly Dim[];
/** A shape with every dimension known (what runs on a backend). */
export type ConcreteShape = readonly number[];

/** Maps each named dim to its size at run time. */
export type DimEnv = ReadonlyMap<string, number>;

export class ShapeError extends Error {
  override name = "ShapeError";
}

export function shapeToString(s: Shape): string {
  return `[${s.join(",")}]`;
}

export function isConcrete(s: Shape): s is ConcreteShape {
  return s.every((d) => typeof d === "number");
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function checkDim(d: unknown, what: string): Dim {
  if (typeof d === "string" && /^[A-Za-z_][A-Za-z0-9_]*$/.test(d)) return d;
  if (typeof d === "number" && Number.isInteger(d) && d >= 0) return d;
  throw new ShapeError(
    `${what}: invalid dimension ${JSON.stringify(d)}; expected a non-negative integer or a dim name like "T"`,
  );
}

/** Product of dims as coefficient times a sorted list of symbols. */
export interface SymbolicSize {
  coef: number;
  syms: string[];
}

export function symbolicNumel(s: Shape): SymbolicSize {
  let coef = 1;
  const syms: string[] = [];
  for (const d of s) {
    if (typeof d === "number") coef *= d;
    else syms.push(d);
  }
  syms.sort();
  return { coef, syms };
}

export function sameSize(a: SymbolicSize, b: SymbolicSize): boolean {
  if (a.coef === 0 && b.coef === 0) return true;
  return a.coef === b.coef && a.syms.length === b.syms.length && a.syms.every((s, i) => s === b.syms[i]);
}

export function sizeToString(s: SymbolicSize): string {
  return [String(s.coef), ...s.syms].filter((x, i) => !(i === 0 && x === "1" && s.syms.length > 0)).join("*");
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

/** Resolves named dims with an environment. */
export function resolveShape(s: Shape, env: DimEnv | undefined): number[] {
  return s.map((d) => {
    if (typeof d === "number") return d;
    const v = env?.get(d);
    if (v === undefined)
      throw new ShapeError(`named dim "${d}" is not bound to a size; bind it through an input of that shape`);
    return v;
  });
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
    if (da === db) out.push(da);
    else if (da === 1) out.push(db);
    else if (db === 1) out.push(da);
    else
      throw new ShapeError(
        `${op}: shapes ${shapeToString(a)} and ${shapeToString(b)} do not broadcast (dim ${i}: ${da} vs ${db}); expected equal sizes or 1`,
      );
  }
  return out;
}

/** The shape with `axes` kept as size-1 dims (for broadcasting a reduced value back). */
export function keepDimsShape(shape: Shape, axes: readonly number[]): Dim[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}
