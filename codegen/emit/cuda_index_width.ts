/**
 * Which i32 values of a kernel the CUDA emitter computes in 64 bits, from the
 * target-independent range analysis (`codegen/analysis/ranges.ts`): index math
 * (positions, sizes, loop counters: not computed from loaded data) whose bound
 * is not provably below 2^31 is `long long`; the rest stays `int`, so hot loops
 * over shared tiles and small static problems use 32-bit math. Values computed
 * from loaded data (i32 tensor elements) keep 32-bit wrap-around semantics like
 * the interpreter's Int32Array, except inside the index of a load/store, where
 * the emitter widens them too (a gathered row times a size).
 */
import { analyzeRanges } from "../analysis/ranges";
import type { Expr, Kernel, Stmt } from "../kernel_ir";

/** The width decisions of one kernel. */
export interface IndexWidths {
  /** True when the i32 variable is index math that may pass 2^31: declared `long long`. */
  isWideVar(name: string): boolean;
  /** True when `e` is index math (not computed from loaded data). */
  isIndex(e: Expr): boolean;
  /** True when `e` is index math that may pass 2^31: computed in 64 bits. */
  isWide(e: Expr): boolean;
}

/** The width decisions for `kernel` (its `grid` bounds the thread builtins). */
export function indexWidths(kernel: Kernel): IndexWidths {
  const ranges = analyzeRanges(kernel);
  return {
    isWideVar: (n) => ranges.varMayExceedI32(n),
    isIndex: (e) => ranges.isIndex(e),
    isWide: (e) => ranges.mayExceedI32(e),
  };
}

/** Every variable name read somewhere in `body`. */
export function readVariables(body: readonly Stmt[]): ReadonlySet<string> {
  const read = new Set<string>();
  forEachExpr(body, (e) => walkExpr(e, (n) => n.kind === "var" && read.add(n.name)));
  return read;
}

/** Every builtin a body uses. */
export function usedBuiltins(body: readonly Stmt[]): ReadonlySet<string> {
  const used = new Set<string>();
  forEachExpr(body, (e) => walkExpr(e, (n) => n.kind === "builtin" && used.add(n.name)));
  return used;
}

/** Calls `f` on `e` and every sub-expression, parents first. */
export function walkExpr(e: Expr, f: (e: Expr) => void): void {
  f(e);
  forEachChild(e, (child) => walkExpr(child, f));
}

function forEachChild(e: Expr, f: (e: Expr) => void): void {
  switch (e.kind) {
    case "load":
    case "sharedLoad":
      f(e.index);
      break;
    case "unary":
    case "cast":
      f(e.arg);
      break;
    case "binary":
      f(e.lhs);
      f(e.rhs);
      break;
    case "select":
      f(e.cond);
      f(e.onTrue);
      f(e.onFalse);
      break;
    case "call":
      e.args.forEach(f);
      break;
    default:
      break;
  }
}

/** Calls `f` on every top-level expression of every statement (recursing into nested statements). */
export function forEachExpr(body: readonly Stmt[], f: (e: Expr) => void): void {
  for (const s of body) {
    switch (s.kind) {
      case "let":
        f(s.init);
        break;
      case "assign":
        f(s.value);
        break;
      case "store":
      case "sharedStore":
      case "atomicAdd":
        f(s.index);
        f(s.value);
        break;
      case "if":
        f(s.cond);
        forEachExpr(s.then, f);
        if (s.else) forEachExpr(s.else, f);
        break;
      case "for":
        f(s.start);
        f(s.end);
        if (s.step) f(s.step);
        forEachExpr(s.body, f);
        break;
      default:
        break;
    }
  }
}
