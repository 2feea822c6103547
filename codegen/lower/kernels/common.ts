/**
 * Small pieces shared by kernel lowerings: thread coordinates as i32 and the
 * "one thread per item" skeleton with its tail guard.
 */
import { builtin, cast, type Expr, type SizeExpr } from "../../kernel_ir";
import type { KernelBuilder } from "../builder";
import { ceilDivSize } from "../index_math";
import { ge } from "../ir_ops";

/** Thread coordinates as i32 lets (the IR's builtins are u32). */
export function globalId(kb: KernelBuilder): Expr {
  return kb.cached("builtin:gid", () => kb.let(cast(builtin("globalLinear"), "i32"), "gid"));
}
export function groupId(kb: KernelBuilder): Expr {
  return kb.cached("builtin:group", () => kb.let(cast(builtin("groupLinear"), "i32"), "group"));
}
export function localId(kb: KernelBuilder): Expr {
  return kb.cached("builtin:lid", () => kb.let(cast(builtin("localLinear"), "i32"), "lid"));
}

/**
 * One thread per item: returns the item index after a guard that ends threads
 * past `count`; the launch grid is `ceil(count / workgroupSize)`.
 */
export function perItem(kb: KernelBuilder, count: Expr): Expr {
  const i = globalId(kb);
  kb.if(ge(i, count), () => kb.ret());
  return i;
}

/** Workgroups needed for `count` items at `workgroupSize` per workgroup. */
export function gridFor(count: SizeExpr, workgroupSize: number): SizeExpr {
  return ceilDivSize(count, workgroupSize);
}
