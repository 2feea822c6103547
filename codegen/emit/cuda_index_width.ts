/**
 * Which i32 values of a kernel are *indices* that the CUDA emitter computes in
 * 64 bits. Element offsets like `t * D * k + j` can pass 2^31 on large MoE
 * layers (T·D·k > 2^31) while each factor fits in 32 bits, so the emitter
 * widens index arithmetic to `long long`.
 *
 * An i32 expression is index-derived when it is built only from constants,
 * named sizes, thread builtins and other index-derived variables: such values
 * are exact positions, so 64-bit arithmetic only removes overflow. Values that
 * depend on loaded data (i32 tensor elements) keep 32-bit wrap-around
 * semantics, like the interpreter's Int32Array, except inside the index of a
 * load/store, where the emitter widens them too (a gathered row times a size).
 */
import type { Expr, Stmt } from "../kernel_ir";

/** Names of the i32 variables (lets and loop counters) whose every definition is index-derived. */
export function indexVariables(body: readonly Stmt[]): ReadonlySet<string> {
  const defs = new Map<string, Expr[]>();
  const addDef = (name: string, e: Expr): void => {
    const list = defs.get(name);
    if (list) list.push(e);
    else defs.set(name, [e]);
  };
  const nonIndex = new Set<string>();
  const visit = (stmts: readonly Stmt[]): void => {
    for (const s of stmts) {
      switch (s.kind) {
        case "let":
          if (s.type === "i32") addDef(s.name, s.init);
          else nonIndex.add(s.name);
          break;
        case "assign":
          addDef(s.name, s.value);
          break;
        case "for":
          // The counter takes the values start, start + step, ...: an index when those are.
          addDef(s.var, s.start);
          if (s.step) addDef(s.var, s.step);
          visit(s.body);
          break;
        case "if":
          visit(s.then);
          if (s.else) visit(s.else);
          break;
        default:
          break;
      }
    }
  };
  visit(body);

  // Greatest fixpoint: assume every i32 variable is an index, drop those with a
  // non-index definition until nothing changes (handles `i = i + 1` in loops).
  const wide = new Set([...defs.keys()].filter((n) => !nonIndex.has(n)));
  for (let changed = true; changed; ) {
    changed = false;
    for (const name of [...wide]) {
      if (!defs.get(name)!.every((e) => isIndexExpr(e, wide))) {
        wide.delete(name);
        changed = true;
      }
    }
  }
  return wide;
}

/** True when `e` is an i32 expression computed only from constants, sizes, builtins and index variables. */
export function isIndexExpr(e: Expr, indexVars: ReadonlySet<string>): boolean {
  switch (e.kind) {
    case "const":
      return e.type === "i32";
    case "size":
    case "builtin":
      return true;
    case "var":
      return indexVars.has(e.name);
    case "unary":
      return e.type === "i32" && isIndexExpr(e.arg, indexVars);
    case "binary":
      return e.type === "i32" && isIndexExpr(e.lhs, indexVars) && isIndexExpr(e.rhs, indexVars);
    case "select":
      return e.type === "i32" && isIndexExpr(e.onTrue, indexVars) && isIndexExpr(e.onFalse, indexVars);
    case "cast":
      return e.type === "i32" && isIndexExpr(e.arg, indexVars);
    case "load":
    case "sharedLoad":
    case "call":
      return false;
  }
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
