/**
 * WGSL's fix-ups as kernel-IR rewrites (tinygrad's `wgsl_matcher`), run before
 * the final verify and the renderer, so the renderer itself is a table:
 * - bool buffers are stored as u32 (bool is not host-shareable in WGSL): loads
 *   compare with 0, stores select 1 or 0;
 * - what WGSL computes badly or not at all in a type goes through f32: f16
 *   unary ops whose table row says so (sin/cos: the prelude's f32-accurate
 *   ones), integer pow;
 * - an operation on literals only would be a WGSL const-expression, whose
 *   overflow (1 << 31, 65536 * 65537, i32(1e10)) is a compile error: one literal
 *   goes through the `opaque` intrinsic, so it computes at run time like on
 *   every other target.
 * The kernel the bundle keeps is not rewritten; only the rendered one is.
 */
import { c, cast, mapBody, select, un, type Expr } from "../kernel_ir";
import { UNARY_OPS } from "../kernel_ops";
import { ne } from "../lower/ir_ops";
import type { KernelRewrite } from "./prepare";

/** bool params become u32 params holding 0 or 1. */
export const boolStorageAsU32: KernelRewrite = (kernel) => {
  const bools = new Set(kernel.params.filter((p) => p.type === "bool").map((p) => p.name));
  if (bools.size === 0) return kernel;
  const asU32 = (e: Expr): Expr =>
    e.kind === "load" && bools.has(e.buffer) ? ne({ ...e, type: "u32" }, c(0, "u32")) : e;
  const body = mapBody(kernel.body, asU32, (s) =>
    s.kind === "store" && bools.has(s.buffer)
      ? [{ ...s, value: select(s.value, c(1, "u32"), c(0, "u32"), "u32") }]
      : [s],
  );
  return { ...kernel, params: kernel.params.map((p) => (bools.has(p.name) ? { ...p, type: "u32" } : p)), body };
};

/** f16 ops marked `f16ViaF32` in the op table and integer pow compute in f32 and convert back. */
export const viaF32: KernelRewrite = (kernel) => {
  const widen = (e: Expr): Expr => {
    if (e.kind === "unary" && UNARY_OPS[e.op].wgsl.f16ViaF32 && e.type === "f16")
      return cast(un(e.op, cast(e.arg, "f32"), "f32"), "f16");
    if (e.kind === "binary" && e.op === "pow" && (e.type === "i32" || e.type === "u32"))
      return cast({ ...e, lhs: cast(e.lhs, "f32"), rhs: cast(e.rhs, "f32"), type: "f32" }, e.type);
    return e;
  };
  return { ...kernel, body: mapBody(kernel.body, widen) };
};

/** Operations whose operands are all literals compute at run time (their first operand made opaque). */
export const literalsAtRunTime: KernelRewrite = (kernel) => {
  const opaque = (x: Expr): Expr => ({ kind: "call", fn: "opaque", args: [x], type: x.type });
  const allLiteral = (...xs: Expr[]) => xs.every((x) => x.kind === "const");
  const runTime = (e: Expr): Expr => {
    switch (e.kind) {
      case "unary":
        return allLiteral(e.arg) ? { ...e, arg: opaque(e.arg) } : e;
      case "cast":
        return allLiteral(e.arg) && e.arg.type !== e.type ? { ...e, arg: opaque(e.arg) } : e;
      case "binary":
        return allLiteral(e.lhs, e.rhs) ? { ...e, lhs: opaque(e.lhs) } : e;
      case "select":
        return allLiteral(e.cond, e.onTrue, e.onFalse) ? { ...e, onFalse: opaque(e.onFalse) } : e;
      default:
        return e;
    }
  };
  return { ...kernel, body: mapBody(kernel.body, runTime) };
};

/** The WGSL renderer's rewrites, in order (the literal rule last: the others make new operations). */
export const WGSL_REWRITES: readonly KernelRewrite[] = [boolStorageAsU32, viaF32, literalsAtRunTime];
