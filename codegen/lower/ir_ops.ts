/**
 * Typed constructors for kernel-IR comparisons, logic and arithmetic, so
 * lowering code reads like the math (`lt(i, n)`, `add(acc, x, "f32")`).
 */
import { c, type BinaryOp, type Expr, type ScalarType } from "../kernel_ir";

const b = (op: BinaryOp, lhs: Expr, rhs: Expr, type: ScalarType): Expr => ({ kind: "binary", op, lhs, rhs, type });

export const lt = (x: Expr, y: Expr): Expr => b("lt", x, y, "bool");
export const le = (x: Expr, y: Expr): Expr => b("le", x, y, "bool");
export const gt = (x: Expr, y: Expr): Expr => b("gt", x, y, "bool");
export const ge = (x: Expr, y: Expr): Expr => b("ge", x, y, "bool");
export const eq = (x: Expr, y: Expr): Expr => b("eq", x, y, "bool");
export const ne = (x: Expr, y: Expr): Expr => b("ne", x, y, "bool");
export const and = (x: Expr, y: Expr): Expr => b("and", x, y, "bool");
export const or = (x: Expr, y: Expr): Expr => b("or", x, y, "bool");
export const add = (x: Expr, y: Expr, t: ScalarType): Expr => b("add", x, y, t);
export const mul = (x: Expr, y: Expr, t: ScalarType): Expr => b("mul", x, y, t);
/**
 * x is NaN: an intrinsic, not `x != x`, which shader compilers may fold to
 * false (WGSL lets implementations assume finite math; SwiftShader does).
 */
export const isNan = (x: Expr): Expr => {
  const t = x.type;
  return t === "f32" || t === "f16" || t === "f64"
    ? { kind: "call", fn: "isNan", args: [x], type: "bool" }
    : c(0, "bool"); // integers are never NaN
};
/** x is not NaN. */
export const notNan = (x: Expr): Expr => ({ kind: "unary", op: "not", arg: isNan(x), type: "bool" });
export const sharedLoad = (array: string, index: Expr, type: ScalarType): Expr => ({
  kind: "sharedLoad",
  array,
  index,
  type,
});
