/**
 * Integer index arithmetic on kernel-IR expressions, folded as it is built so
 * generated kernels stay readable (`i*1 + 0` is `i`), plus shapes as sizes:
 * a dim is a literal or a named dim read from the kernel's size uniforms.
 *
 * Index values are i32. Linearisation keeps every partial result below the
 * buffer's element count, so index math never overflows as long as every
 * buffer holds fewer than 2^31 elements (checked by `compile`).
 */
import { dimCeilDiv, dimMul } from "../../dsl/dims";
import { sameShape, type Dim, type Shape } from "../../dsl/shape";
import { c, size, type BinaryOp, type Expr, type SizeExpr } from "../kernel_ir";

const isConst = (e: Expr, value?: number): e is Extract<Expr, { kind: "const" }> =>
  e.kind === "const" && (value === undefined || e.value === value);

function intBin(op: BinaryOp, a: Expr, b: Expr): Expr {
  return { kind: "binary", op, lhs: a, rhs: b, type: "i32" };
}

/** a + b (i32), folded. */
export function iadd(a: Expr, b: Expr): Expr {
  if (isConst(a) && isConst(b)) return c(a.value + b.value);
  if (isConst(a, 0)) return b;
  if (isConst(b, 0)) return a;
  return intBin("add", a, b);
}

/** a - b (i32), folded. */
export function isub(a: Expr, b: Expr): Expr {
  if (isConst(a) && isConst(b)) return c(a.value - b.value);
  if (isConst(b, 0)) return a;
  return intBin("sub", a, b);
}

/** a * b (i32), folded. */
export function imul(a: Expr, b: Expr): Expr {
  if (isConst(a) && isConst(b)) return c(a.value * b.value);
  if (isConst(a, 0) || isConst(b, 0)) return c(0);
  if (isConst(a, 1)) return b;
  if (isConst(b, 1)) return a;
  return intBin("mul", a, b);
}

/** floor(a / b) for non-negative a, positive b (i32), folded. */
export function idiv(a: Expr, b: Expr): Expr {
  if (isConst(a) && isConst(b)) return c(Math.floor(a.value / b.value));
  if (isConst(b, 1)) return a;
  if (isConst(a, 0)) return a;
  return intBin("div", a, b);
}

/** a mod b for non-negative a, positive b (i32), folded. */
export function irem(a: Expr, b: Expr): Expr {
  if (isConst(a) && isConst(b)) return c(a.value % b.value);
  if (isConst(b, 1) || isConst(a, 0)) return c(0);
  return intBin("rem", a, b);
}

/** min(a, b) (i32). */
export function imin(a: Expr, b: Expr): Expr {
  if (isConst(a) && isConst(b)) return c(Math.min(a.value, b.value));
  return intBin("min", a, b);
}

/** max(a, b) (i32). */
export function imax(a: Expr, b: Expr): Expr {
  if (isConst(a) && isConst(b)) return c(Math.max(a.value, b.value));
  return intBin("max", a, b);
}

/** ceil(a / b) for non-negative a, positive b. */
export function iceilDiv(a: Expr, b: Expr): Expr {
  return idiv(iadd(a, isub(b, c(1))), b);
}

/** Comparison a < b (bool). */
export function ilt(a: Expr, b: Expr): Expr {
  return { kind: "binary", op: "lt", lhs: a, rhs: b, type: "bool" };
}

/** Comparison a == b (bool). */
export function ieq(a: Expr, b: Expr): Expr {
  return { kind: "binary", op: "eq", lhs: a, rhs: b, type: "bool" };
}

/** Logical and of bools; `undefined` operands (no condition) are dropped. */
export function and(...xs: (Expr | undefined)[]): Expr | undefined {
  const ys = xs.filter((x): x is Expr => x !== undefined);
  if (ys.length === 0) return undefined;
  return ys.reduce((acc, x) => ({ kind: "binary", op: "and", lhs: acc, rhs: x, type: "bool" }));
}

/**
 * A dim as an i32 expression: a literal, the named dim's size uniform, or the
 * arithmetic of an expression over those. Dims are sizes, so the numerators of
 * divisions are non-negative and truncating division is floor division.
 */
export function dimExpr(d: Dim): Expr {
  if (typeof d === "number") return c(d);
  if (typeof d === "string") return size(d);
  const xs = d.args.map(dimExpr);
  switch (d.op) {
    case "add":
      return xs.reduce(iadd);
    case "mul":
      return xs.reduce(imul);
    case "floorDiv":
      return idiv(xs[0]!, xs[1]!);
    case "ceilDiv":
      return iceilDiv(xs[0]!, xs[1]!);
    case "mod":
      return irem(xs[0]!, xs[1]!);
    case "max":
      return xs.reduce(imax);
    case "min":
      return xs.reduce(imin);
  }
}

/** Product of sizes, normalised (literals folded, named dims kept). */
export function mulSizes(...xs: SizeExpr[]): SizeExpr {
  return dimMul(...xs);
}

/** ceil(a / b) as a size expression, normalised. */
export function ceilDivSize(a: SizeExpr, b: number): SizeExpr {
  return dimCeilDiv(a, b);
}

/** Number of elements of a shape, as a size expression. */
export function numelSize(shape: Shape): SizeExpr {
  return dimMul(...shape);
}

/** Number of elements of a shape, as an i32 expression. */
export function numelExpr(shape: Shape): Expr {
  return shape.reduce<Expr>((acc, d) => imul(acc, dimExpr(d)), c(1));
}

/** Index variables bound to the components of a delinearized flat offset (see `delinearizeBound`). */
const flatOrigin = new WeakMap<Expr, { readonly flat: Expr; readonly shape: Shape; readonly axis: number }>();

/**
 * `delinearize(flat, shape)` with each component bound by `bind` (a let), and
 * remembered: `linearize` of these variables over the same shape is `flat`
 * again, so a kernel reading its own domain's index does no div/mod round trip.
 */
export function delinearizeBound(flat: Expr, shape: Shape, bind: (e: Expr) => Expr): Expr[] {
  const idx = delinearize(flat, shape).map(bind);
  idx.forEach((e, axis) => {
    if (e.kind === "var") flatOrigin.set(e, { flat, shape, axis });
  });
  return idx;
}

/** `flat` when `idx` is exactly the bound multi-index of `flat` over `shape`. */
function boundFlat(idx: readonly Expr[], shape: Shape): Expr | undefined {
  let flat: Expr | undefined;
  for (let j = 0; j < shape.length; j++) {
    if (shape[j] === 1) continue;
    const o = flatOrigin.get(idx[j]!);
    if (!o || o.axis !== j || (flat !== undefined && o.flat !== flat) || !sameShape(o.shape, shape)) return undefined;
    flat = o.flat;
  }
  return flat;
}

/**
 * Row-major flat offset of a multi-index, as a sum of index * stride terms:
 * each term and every partial sum stays below the element count (no i32
 * overflow when buffers hold fewer than 2^31 elements), and loop-invariant
 * terms can be hoisted out of loops.
 */
export function linearize(idx: readonly Expr[], shape: Shape): Expr {
  if (idx.length !== shape.length)
    throw new Error(`internal: index of rank ${idx.length} for shape of rank ${shape.length}`);
  const known = boundFlat(idx, shape);
  if (known) return known;
  let acc: Expr = c(0);
  let stride: Expr = c(1);
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1) acc = iadd(imul(idx[i]!, stride), acc);
    stride = imul(stride, dimExpr(shape[i]!));
  }
  return acc;
}

/** Multi-index of a row-major flat offset (dims of size 1 give a literal 0). */
export function delinearize(flat: Expr, shape: Shape): Expr[] {
  const out = new Array<Expr>(shape.length);
  let rest = flat;
  for (let i = shape.length - 1; i >= 0; i--) {
    const d = shape[i]!;
    if (d === 1) {
      out[i] = c(0);
      continue;
    }
    if (i === 0 || shape.slice(0, i).every((x) => x === 1)) {
      out[i] = rest;
      for (let j = 0; j < i; j++) out[j] = c(0);
      return out;
    }
    out[i] = irem(rest, dimExpr(d));
    rest = idiv(rest, dimExpr(d));
  }
  return out;
}
